/** GET /images/{name}/json and GET /images/{name}/history, as dockerd 20.10 answers them. */
import { InvalidParameterError, NotFoundError } from '../../../src/errdefs/errors.js';
import type { HistoryItem } from '../../../src/protocol/types/images.js';
import { ZERO_TIME } from '../../../src/protocol/time.js';
import { containerConfig } from './config.js';
import type { ImageService } from './service.js';

/** inspect's errors carry dockerd's "no such image: <name>: " prefix; other commands' do not. */
function resolveForInspect(s: ImageService, name: string) {
  try {
    return s.resolve(name);
  } catch (err) {
    if (err instanceof NotFoundError) throw new NotFoundError(`no such image: ${name}: ${err.message}`);
    if (err instanceof InvalidParameterError) throw new InvalidParameterError(`no such image: ${name}: ${err.message}`);
    throw err;
  }
}

export function inspectImage(s: ImageService, name: string): Record<string, unknown> {
  const img = resolveForInspect(s, name);
  const c = img.config;
  const chain = s.chain(img);
  const top = chain[chain.length - 1];
  let graphData: Record<string, string> | null = null;
  if (top && s.driver.name === 'overlay2') {
    const dir = (l: { cacheID: string }) => s.driver.applyDir(l.cacheID).replace(/\/diff$/, '');
    graphData = {};
    if (chain.length > 1) graphData.LowerDir = chain.slice(0, -1).reverse().map((l) => `${dir(l)}/diff`).join(':');
    graphData.MergedDir = `${dir(top)}/merged`;
    graphData.UpperDir = `${dir(top)}/diff`;
    graphData.WorkDir = `${dir(top)}/work`;
  }
  const size = s.size(img);
  const doc: Record<string, unknown> = {
    Id: img.id,
    RepoTags: s.repoTags(img.id),
    RepoDigests: s.repoDigests(img.id),
    Parent: img.parent ?? '',
    // dockerd: the config's comment, else the last history entry's (a commit writes only that).
    Comment: c.comment || c.history?.at(-1)?.comment || '',
    Created: c.created ?? ZERO_TIME,
    Container: c.container ?? '',
    ContainerConfig: containerConfig(c.container_config as never),
    DockerVersion: c.docker_version ?? '',
    Author: c.author ?? '',
    Config: containerConfig(c.config),
    Architecture: c.architecture ?? '',
  };
  if (c.variant) doc.Variant = c.variant;
  doc.Os = c.os ?? '';
  if ((c as { 'os.version'?: string })['os.version']) doc.OsVersion = (c as { 'os.version'?: string })['os.version'];
  doc.Size = size;
  doc.VirtualSize = size;
  doc.GraphDriver = { Data: graphData, Name: s.driver.name };
  doc.RootFS = chain.length ? { Type: 'layers', Layers: c.rootfs.diff_ids } : { Type: 'layers' };
  doc.Metadata = { LastTagTime: img.lastUpdated ?? ZERO_TIME };
  return doc;
}

export function imageHistory(s: ImageService, name: string): HistoryItem[] {
  const img = s.resolve(name);
  const chain = s.chain(img);
  const out: HistoryItem[] = [];
  let layer = 0;
  for (const h of img.config.history ?? []) {
    let size = 0;
    if (!h.empty_layer) size = chain[layer++]?.size ?? 0;
    out.push({
      Comment: h.comment ?? '',
      Created: Math.floor(Date.parse(h.created ?? '') / 1000) || 0,
      CreatedBy: h.created_by ?? '',
      Id: '<missing>',
      Size: size,
      Tags: null,
    });
  }
  out.reverse();
  // dockerd names the entries from the top down by the image's parent chain (a commit's or a
  // build's parents); the rest, beyond the chain, stay <missing>.
  let id: string | null = img.id;
  for (const item of out) {
    if (!id) break;
    item.Id = id;
    const tags = s.repoTags(id);
    item.Tags = tags.length ? tags : null;
    id = s.images.get(id)?.parent ?? null;
  }
  return out;
}

