/**
 * POST /commit, the graph's half (dockerd's ImageService.CommitImage and the config work of
 * daemon/commit.go): the container's writable layer becomes a layer of the layer store, made
 * exactly as an imported one (the driver's diff, applied by the pool, with its tar-split), on
 * the image's chain; the image config is the parent's with the container's config, the
 * `changes` and a history entry. Not here: finding the container and pausing it (the daemon's
 * src/daemon/containers/commit.ts).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SystemError } from '../../../src/errdefs/errors.js';
import { buildInfo, goArch } from '../../../src/build/info.js';
import type { CommitArgs } from '../../../src/protocol/types/images.js';
import { nowRfc3339Nano } from '../../../src/protocol/time.js';
import { familiarString, isValidTag, parseNormalized, withDefaultTag, type Reference } from '../reference.js';
import type { ContainerConfig, ImageConfig, ImageRecord } from '../store/images.js';
import type { Rootfs } from '../rootfs.js';
import { applyChanges, containerConfig, marshalConfig } from './config.js';
import type { ImageService } from './service.js';

/** The diffID of a layer with no files: a tarball of just its end (layer.DigestSHA256EmptyTar). */
const EMPTY_LAYER = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

const isEmpty = (v: unknown) => v === undefined || v === null || (Array.isArray(v) ? v.length === 0 : typeof v === 'object' && Object.keys(v as object).length === 0);

/**
 * merge fills what the user's config leaves unset from the container's, as dockerd's
 * daemon/commit.go merge (so a commit keeps the container's command, env and labels).
 */
export function merge(user: ContainerConfig, base: ContainerConfig): ContainerConfig {
  const c: ContainerConfig = { ...user };
  if (!c.User) c.User = base.User;
  if (isEmpty(c.ExposedPorts)) c.ExposedPorts = base.ExposedPorts;
  else c.ExposedPorts = { ...(base.ExposedPorts ?? {}), ...c.ExposedPorts };
  if (isEmpty(c.Env)) c.Env = base.Env;
  else {
    const keys = new Set(c.Env!.map((e) => e.split('=')[0]));
    c.Env = [...c.Env!, ...(base.Env ?? []).filter((e) => !keys.has(e.split('=')[0]))];
  }
  c.Labels = { ...(base.Labels ?? {}), ...(c.Labels ?? {}) };
  if (isEmpty(c.Entrypoint)) {
    if (isEmpty(c.Cmd)) c.Cmd = base.Cmd;
    if (c.Entrypoint === undefined || c.Entrypoint === null) c.Entrypoint = base.Entrypoint;
  }
  const bh = base.Healthcheck as Record<string, unknown> | undefined | null;
  if (bh) {
    if (!c.Healthcheck) c.Healthcheck = bh;
    else {
      const h = { ...(c.Healthcheck as Record<string, unknown>) };
      for (const k of ['Test', 'Interval', 'Timeout', 'StartPeriod', 'Retries']) if (isEmpty(h[k]) || h[k] === 0) h[k] = bh[k];
      c.Healthcheck = h;
    }
  }
  if (!c.WorkingDir) c.WorkingDir = base.WorkingDir;
  if (isEmpty(c.Volumes)) c.Volumes = base.Volumes;
  else c.Volumes = { ...c.Volumes, ...(base.Volumes ?? {}) };
  if (!c.StopSignal) c.StopSignal = base.StopSignal;
  return c;
}

/** The reference a commit tags, as dockerd's TagImage reads repo and tag (500s for bad names, as 20.10). */
function commitRef(repo: string, tag: string): Reference {
  let ref: Reference;
  try {
    ref = parseNormalized(repo);
  } catch (err) {
    throw new SystemError((err as Error).message);
  }
  if (tag) {
    if (!isValidTag(tag)) throw new SystemError('invalid tag format');
    ref = { name: ref.name, tag };
  }
  return ref;
}

/**
 * commitImage makes the image; it answers its ID and the reference it tagged ("" without a
 * repo). As in dockerd 20.10, a repo that does not parse fails after the image exists (it
 * stays, dangling).
 */
export async function commitImage(s: ImageService, rootfs: Rootfs, a: CommitArgs): Promise<{ id: string; imageRef: string }> {
  // The changes first: a bad one makes nothing (dockerd's BuildFromConfig runs before the layer).
  const config = merge(applyChanges((a.config ?? a.containerConfig) as ContainerConfig, a.changes), a.containerConfig as ContainerConfig);
  const parent: ImageRecord | null = a.parentImage ? s.resolve(a.parentImage) : null;
  const chain = parent ? s.chain(parent) : [];
  const top = chain[chain.length - 1] ?? null;

  // The diff goes through a file: the pool's apply then makes the layer (and its tar-split)
  // exactly as an import does.
  const file = join(s.tmpRoot, `commit-${randomBytes(8).toString('hex')}.tar`);
  let diffID: string;
  let made: { chainID: string; existed: boolean } | null = null;
  try {
    await pipeline(Readable.from(await rootfs.diff(a.id)), createWriteStream(file, { mode: 0o600 }));
    const maxBytes = await s.spaceLeft();
    const { layer, existed } = await s.layers.register(top?.chainID ?? null, (dir) => s.pool.apply({ source: { path: file }, root: dir, format: s.driver.format, maxBytes }));
    diffID = layer.diffID;
    made = { chainID: layer.chainID, existed };
  } catch (err) {
    throw new SystemError(`cannot commit the layer of ${a.id}: ${(err as Error).message}`);
  } finally {
    await rm(file, { force: true });
  }

  const empty = diffID === EMPTY_LAYER;
  const created = nowRfc3339Nano();
  const base = parent?.config;
  const history = [...(base?.history ?? [])];
  const entry: NonNullable<ImageConfig['history']>[number] = { created };
  if (a.author) entry.author = a.author;
  const createdBy = ((a.containerConfig as ContainerConfig).Cmd ?? []).join(' ');
  if (createdBy) entry.created_by = createdBy;
  if (a.comment) entry.comment = a.comment;
  if (empty) entry.empty_layer = true;
  history.push(entry);
  const cfg: ImageConfig = {
    architecture: base?.architecture || goArch(),
    author: a.author || undefined,
    config: containerConfig(config),
    container: a.id,
    container_config: containerConfig(a.containerConfig as ContainerConfig) as Record<string, unknown>,
    created,
    docker_version: buildInfo().version,
    history,
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [...(base?.rootfs.diff_ids ?? []), ...(empty ? [] : [diffID])] },
  };
  if (base?.variant) cfg.variant = base.variant;
  // An empty layer is not part of the image: like dockerd's released layer, it goes unless shared.
  if (empty && made && !made.existed && !s.layers.hasChildren(made.chainID)) await s.layers.remove(made.chainID);

  const { image } = await s.images.create(marshalConfig(cfg), true);
  try {
    if (parent) await s.images.setParent(image.id, parent.id);
    let imageRef = '';
    if (a.repo) {
      const ref = commitRef(a.repo, a.tag);
      if (ref.digest) throw new SystemError('refusing to create a tag with a digest reference');
      await s.refs.add(withDefaultTag(ref), image.id);
      await s.images.setLastUpdated(image.id, nowRfc3339Nano());
      // dockerd names the reference as given: "repo" stays without ":latest" here.
      imageRef = familiarString(ref);
      await s.event('tag', image, imageRef);
    }
    return { id: image.id, imageRef };
  } finally {
    await s.images.settle(image.id);
  }
}
