/**
 * GET /images/get (docker save), in dockerd 25+'s format, which both dockerd 20.10 and OCI tools
 * read: an OCI image layout (oci-layout, index.json, blobs/sha256/…) whose blobs are shared
 * with the docker-archive manifest.json (Config and Layers point into blobs/), plus
 * `repositories`. Layers are rebuilt byte for byte from their tar-split, each written once.
 * Names are checked before the stream begins (404s as dockerd's); the archive itself is
 * written by a pool task straight into the response's port.
 */
import { createHash } from 'node:crypto';
import type { JobContext } from '../../../src/actor/runtime.js';
import { NotFoundError, SystemError } from '../../../src/errdefs/errors.js';
import { familiarName, familiarString, parseAny, type Reference } from '../reference.js';
import type { ImageRecord } from '../store/images.js';
import { layerSize, type SaveEntry } from '../tasks.js';
import type { ImageService } from './service.js';

const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar';
const hex = (d: string) => d.replace(/^sha256:/, '');

/** pick resolves the names as dockerd's save does: IDs, tags, or every tag of a repository. */
function pick(s: ImageService, names: string[]): Map<string, { img: ImageRecord; tags: Reference[] }> {
  const out = new Map<string, { img: ImageRecord; tags: Reference[] }>();
  const add = (img: ImageRecord, tag?: Reference) => {
    const e = out.get(img.id) ?? { img, tags: [] };
    if (tag && !e.tags.some((t) => familiarString(t) === familiarString(tag))) e.tags.push(tag);
    out.set(img.id, e);
  };
  for (const name of names) {
    const r = parseAny(name);
    if (r.kind === 'id') {
      add(s.resolve(name));
      continue;
    }
    if (r.ref.tag || r.ref.digest) {
      const id = s.refs.get(r.ref);
      if (!id || !s.images.get(id)) throw new NotFoundError('reference does not exist');
      add(s.images.get(id)!, r.ref.tag ? r.ref : undefined);
      continue;
    }
    const tagged = s.refs.all().filter((x) => x.ref.name === r.ref.name && x.ref.tag && s.images.get(x.id));
    if (tagged.length) {
      for (const t of tagged) add(s.images.get(t.id)!, t.ref);
      continue;
    }
    try {
      add(s.resolve(name));
    } catch {
      throw new NotFoundError(`No such image: ${name}`);
    }
  }
  return out;
}

export async function saveImages(s: ImageService, names: string[], ctx: JobContext): Promise<void> {
  const chosen = pick(s, names);
  const blobs = new Map<string, SaveEntry>();
  const index: unknown[] = [];
  const manifest: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { img, tags } of chosen.values()) {
    const chain = s.chain(img);
    if (chain.length === 0) throw new SystemError('empty export - not implemented');
    const mtime = Math.floor(Date.parse(img.config.created ?? '') / 1000) || 0;
    blobs.set(hex(img.id), { name: `blobs/sha256/${hex(img.id)}`, data: img.raw, mtime });
    const layers: Array<{ mediaType: string; size: number; digest: string }> = [];
    for (const layer of chain) {
      const tarSplit = await s.layers.tarSplit(layer.chainID);
      const size = layerSize(tarSplit);
      layers.push({ mediaType: LAYER_TYPE, size, digest: layer.diffID });
      if (!blobs.has(hex(layer.diffID))) {
        blobs.set(hex(layer.diffID), { name: `blobs/sha256/${hex(layer.diffID)}`, mtime, layer: { tarSplit, root: s.layers.filesOf(layer), diffID: layer.diffID } });
      }
    }
    const ociManifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: img.id, size: img.raw.length },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      }),
    );
    const mdigest = `sha256:${createHash('sha256').update(ociManifest).digest('hex')}`;
    blobs.set(hex(mdigest), { name: `blobs/sha256/${hex(mdigest)}`, data: ociManifest, mtime: 0 });
    const desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: mdigest, size: ociManifest.length };
    if (tags.length === 0) index.push(desc);
    for (const t of tags) {
      index.push({ ...desc, annotations: { 'io.containerd.image.name': `${t.name}:${t.tag}`, 'org.opencontainers.image.ref.name': t.tag } });
      (repositories[familiarName(t.name)] ??= {})[t.tag!] = hex(chain[chain.length - 1]!.diffID);
    }
    manifest.push({
      Config: `blobs/sha256/${hex(img.id)}`,
      RepoTags: tags.length ? tags.map((t) => familiarString(t)) : null,
      Layers: layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
      LayerSources: Object.fromEntries(layers.map((l) => [l.digest, l])),
    });
  }
  const entries: SaveEntry[] = [
    { name: 'blobs', dir: true, mtime: 0 },
    { name: 'blobs/sha256', dir: true, mtime: 0 },
    ...[...blobs.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    { name: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: index })), mtime: 0 },
    { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest) + '\n'), mtime: 0 },
    { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion": "1.0.0"}'), mtime: 0 },
  ];
  if (Object.keys(repositories).length) entries.push({ name: 'repositories', data: Buffer.from(JSON.stringify(repositories) + '\n'), mtime: 0 });
  const out = ctx.takeStdout();
  if (!out) throw new SystemError('save needs an output stream');
  await s.pool.save({ out, entries, mtime: 0 });
  for (const { img } of chosen.values()) await s.event('save', img, img.id);
}
