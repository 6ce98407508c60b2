/**
 * docker pull (POST /images/create?fromImage=&tag=), as dockerd 20.10's distribution/pull_v2:
 *
 *   manifest      by tag or digest (a digest is checked against the bytes); a list or index gives
 *                 the entry for the platform (linux/<arch> unless asked), schema 1 is refused
 *   config        fetched and checked against its digest; its rootfs.diff_ids give every
 *                 layer's chainID, so layers already in the store are "Already exists"
 *   layers        the missing ones downloaded --max-concurrent-downloads (3) at a time into <data-root>/tmp/pull-*, each
 *                 resumed with a Range request when its connection drops (bounded retries), its
 *                 digest verified by a pool task; then extracted in order by the pool, through the
 *                 same layer-store path import and load use, the diffID checked before the layer
 *                 is published (one rename)
 *   image         the config stored (pending until tagged), the tag and the repo digest
 *
 * Nothing is written to the client before "Pulling from": an error before it is an HTTP error
 * (manifest unknown is a 404), after it an errorDetail line. A pull that fails or is cut
 * releases the layers it registered; a crash leaves them unused, and start-up removes them.
 */
import { randomBytes } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobContext } from '../../../src/actor/runtime.js';
import { InvalidParameterError, NotFoundError, SystemError } from '../../../src/errdefs/errors.js';
import { familiarName, familiarString, isValidTag, parseNormalized, type Reference } from '../reference.js';
import { nowRfc3339Nano } from '../../../src/protocol/time.js';
import { chainIDs } from '../store/layers.js';
import { imageID, type ImageConfig } from '../store/images.js';
import type { ImageService } from '../images/service.js';
import type { Session } from './transport.js';
import type { PullArgs } from '../../../src/protocol/types/distribution.js';
import { MANIFEST_ACCEPT, parseManifest, parsePlatform, pickPlatform, registryError, sha256, shortID, type Descriptor, type Platform } from './manifest.js';
import { Messages } from './messages.js';
import { isNetworkError, repoInfo, withEndpoints, type Distribution, type RepoInfo } from './registry.js';
import { maxConcurrentDownloads } from './settings.js';


/** dockerd's default --max-concurrent-downloads (the daemon's setting is in settings.ts). */
export const MAX_CONCURRENT_DOWNLOADS = 3;
const MAX_ATTEMPTS = 5;
const errRootFSMismatch = 'layers from manifest don\'t match image configuration';

/** parsePullRef is dockerd's PullImage: the name, then the tag parameter as a tag or a digest. */
export function parsePullRef(image: string, tag: string): Reference {
  const ref = parseNormalized(image.replace(/:$/, ''));
  if (!tag) return ref;
  // The tag parameter wins over a tag in the name; a digest there pulls by digest.
  if (/^sha256:[a-f0-9]{64}$/.test(tag)) return { name: ref.name, digest: tag };
  if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw new InvalidParameterError('invalid tag format');
  return { name: ref.name, tag };
}

async function readBody(session: Session, path: string, accept: string | null, signal: AbortSignal, notFound: string): Promise<{ raw: Buffer; contentType?: string; digest?: string }> {
  const res = await session.request(path, { headers: accept ? { Accept: accept } : {}, signal, timeoutMs: 60_000 });
  if (res.status === 404) throw await registryError(res, notFound);
  if (res.status !== 200) throw await registryError(res);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
    if (n > 8 << 20) throw new SystemError(`${path}: the document is larger than 8 MiB`);
  }
  const dg = res.headers['docker-content-digest'];
  return { raw: Buffer.concat(chunks), contentType: res.headers['content-type'] as string | undefined, digest: Array.isArray(dg) ? dg[0] : dg };
}

/** A small counting semaphore: at most `n` holders at once, the others wait in order. */
class Limit {
  private active = 0;
  private queue: Array<() => void> = [];
  constructor(private readonly n: number) {}
  /** take resolves when a slot is free; `waiting` runs if it has to wait first. */
  async take(waiting?: () => void): Promise<() => void> {
    if (this.active >= this.n) {
      waiting?.();
      await new Promise<void>((r) => this.queue.push(r));
    } else {
      this.active++;
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    };
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason ?? new Error('aborted'));
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason ?? new Error('aborted'));
    };
    // The listener goes when the timer fires: retries must not pile listeners on the pull's signal.
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

/** A blob longer than its descriptor's size (not retried: the registry sends what it wants). */
const tooLarge = (desc: Descriptor) => new SystemError(`filesystem layer verification failed for digest ${desc.digest}: the registry sent more than the ${desc.size} bytes of its manifest`);

/**
 * downloadBlob writes a blob to `file`, resuming with a Range request from what it has when the
 * connection drops (up to MAX_ATTEMPTS tries); a registry that ignores the Range starts over.
 */
async function downloadBlob(session: Session, repo: RepoInfo, desc: Descriptor, file: string, signal: AbortSignal, onBytes: (n: number) => Promise<void>): Promise<void> {
  const fh = await open(file, 'w', 0o600);
  let offset = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
        const res = await session.request(`/v2/${repo.path}/blobs/${desc.digest}`, { headers, signal, timeoutMs: 30_000 });
        if (res.status === 200 && offset > 0) {
          offset = 0;
          await fh.truncate(0);
        } else if (res.status === 206) {
          const start = /bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))?.[1];
          if (start !== undefined && Number(start) !== offset) {
            res.body.destroy();
            offset = 0;
            await fh.truncate(0);
            throw Object.assign(new Error('the registry resumed at another offset'), { code: 'ECONNRESET' });
          }
        } else if (res.status !== 200) {
          throw await registryError(res);
        }
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (res.status === 200 && Number.isFinite(declared) && declared > desc.size) {
          res.body.destroy();
          throw tooLarge(desc);
        }
        for await (const c of res.body) {
          const b = c as Buffer;
          // A registry may not send more than the manifest says: stop at once, write none of it.
          if (offset + b.length > desc.size) {
            res.body.destroy();
            throw tooLarge(desc);
          }
          await fh.write(b, 0, b.length, offset).catch((err: NodeJS.ErrnoException) => {
            res.body.destroy();
            // Go's *PathError, as dockerd words a full disk: "write <file>: no space left on device".
            if (err.code === 'ENOSPC') throw new SystemError(`write ${file}: no space left on device`);
            throw err;
          });
          offset += b.length;
          await onBytes(offset);
        }
        if (desc.size > 0 && offset < desc.size) throw Object.assign(new Error(`unexpected EOF: ${offset} of ${desc.size} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
        return;
      } catch (err) {
        if (signal.aborted || attempt >= MAX_ATTEMPTS || !isNetworkError(err)) throw err;
        await sleep(250 * attempt, signal);
      }
    }
  } finally {
    await fh.close();
  }
}

interface TagResult {
  updated: boolean;
}

/** pullTag pulls one reference (a tag or a digest) from a session. */
async function pullRef(s: ImageService, dist: Distribution, session: Session, repo: RepoInfo, ref: Reference, platform: Platform | null, out: Messages, signal: AbortSignal): Promise<TagResult> {
  const tagOrDigest = ref.digest ?? ref.tag ?? 'latest';
  const shown = familiarString(ref);
  const m1 = await readBody(session, `/v2/${repo.path}/manifests/${tagOrDigest}`, MANIFEST_ACCEPT, signal, `manifest for ${shown} not found: `);
  const manifestDigest = sha256(m1.raw);
  if (ref.digest && manifestDigest !== ref.digest) throw new SystemError(`manifest verification failed for digest ${ref.digest}`);
  let manifest = parseManifest(m1.raw, m1.contentType, ref.name);
  // The line's id is the tag, or for a digest the whole reference (dockerd's tagOrDigest).
  await out.message(`Pulling from ${repo.path}`, ref.digest ? shown : tagOrDigest);
  const want = platform ?? parsePlatform('');
  if (manifest.kind === 'index') {
    const pick = pickPlatform(manifest.manifests, want);
    const m2 = await readBody(session, `/v2/${repo.path}/manifests/${pick.digest}`, MANIFEST_ACCEPT, signal, `manifest for ${shown} not found: `);
    if (sha256(m2.raw) !== pick.digest) throw new SystemError(`manifest verification failed for digest ${pick.digest}`);
    manifest = parseManifest(m2.raw, m2.contentType, ref.name);
    if (manifest.kind !== 'image') throw new SystemError(`invalid manifest for ${shown}: a list inside a list`);
  }
  // The config: its digest is the image ID.
  const cfgBody = await readBody(session, `/v2/${repo.path}/blobs/${manifest.config.digest}`, null, signal, '');
  const id = imageID(cfgBody.raw);
  if (id !== manifest.config.digest) throw new SystemError(`image config verification failed for digest ${manifest.config.digest}`);
  let cfg: ImageConfig;
  try {
    cfg = JSON.parse(cfgBody.raw.toString('utf8')) as ImageConfig;
  } catch (err) {
    throw new SystemError(`invalid image config ${id}: ${(err as Error).message}`);
  }
  if (platform && cfg.os && cfg.os !== platform.os) {
    throw new SystemError(`cannot download image with operating system "${cfg.os}" when requesting "${platform.os}"`);
  }
  const diffIDs = cfg.rootfs?.diff_ids ?? [];
  const layers = manifest.layers;
  if (diffIDs.length !== layers.length) throw new SystemError(errRootFSMismatch);

  // The whole chain is held until the image exists and its references name it: a layer this
  // pull found or another pull made must not be released under it (another pull failing, an
  // rmi) before a tag or digest keeps its image.
  const release = s.hold(chainIDs(diffIDs));
  try {
    if (!s.images.get(id) || chainIDs(diffIDs).some((c) => !s.layers.get(c))) {
      await fetchLayers(s, dist, session, repo, layers, diffIDs, out, signal, release);
    }
    const { image } = await s.images.create(cfgBody.raw, true);
    await out.message(`Digest: ${manifestDigest}`);
    // References as dockerd's pullV2Tag: an unchanged tag only gains the repo digest.
    const digestRef: Reference = { name: ref.name, digest: manifestDigest };
    const addDigest = async () => {
      if (!s.refs.get(digestRef)) await s.refs.add(digestRef, image.id);
    };
    let updated = true;
    const old = s.refs.get(ref);
    if (old === image.id) {
      await addDigest();
      updated = false;
    } else if (ref.digest) {
      await s.refs.add(ref, image.id);
    } else {
      await addDigest();
      await s.refs.add(ref, image.id);
    }
    if (updated) await s.images.setLastUpdated(image.id, nowRfc3339Nano());
    await s.images.settle(image.id);
    return { updated };
  } finally {
    release();
  }
}

/**
 * fetchLayers downloads what is missing (--max-concurrent-downloads at a time) and registers the layers bottom up as
 * their downloads finish. On any failure the downloads stop, `letGo` drops this pull's hold on
 * its chain, and the layers this pull made go — but not those another pull in flight holds.
 */
async function fetchLayers(s: ImageService, dist: Distribution, session: Session, repo: RepoInfo, layers: Descriptor[], diffIDs: string[], out: Messages, signal: AbortSignal, letGo: () => void): Promise<void> {
  const chains = chainIDs(diffIDs);
  let present = 0;
  while (present < chains.length && s.layers.get(chains[present]!)) present++;
  for (let i = 0; i < present; i++) {
    await out.update(shortID(layers[i]!.digest), 'Already exists');
    await dist.metadata.add(diffIDs[i]!, layers[i]!.digest, repo.name).catch(() => {});
  }
  if (present === chains.length) return;
  // Refused before anything is made (no temp dir, no listener to leave behind).
  for (const d of layers.slice(present)) {
    if (d.urls?.length && /foreign/.test(d.mediaType)) throw new SystemError(`berth does not download foreign layers (${d.digest})`);
  }
  for (const d of layers.slice(present)) await out.update(shortID(d.digest), 'Pulling fs layer');
  const stage = join(s.tmpRoot, `pull-${randomBytes(8).toString('hex')}`);
  await mkdir(stage, { recursive: true, mode: 0o700 });
  const abort = new AbortController();
  const onOuter = () => abort.abort(signal.reason);
  signal.addEventListener('abort', onOuter, { once: true });
  const made: string[] = [];
  const limit = new Limit(maxConcurrentDownloads());
  const todo = layers.slice(present).map((d, k) => ({ desc: d, index: present + k, file: join(stage, `${k}`) }));
  // Every download starts now, bounded by the limit; each promise settles once its blob is verified.
  const downloads = todo.map((t) =>
    (async () => {
      const id = shortID(t.desc.digest);
      const release = await limit.take(() => void out.update(id, 'Waiting'));
      try {
        if (abort.signal.aborted) throw abort.signal.reason ?? new Error('aborted');
        await downloadBlob(session, repo, t.desc, t.file, abort.signal, (n) => out.progress(id, 'Downloading', n, t.desc.size));
        await out.progress(id, 'Downloading', t.desc.size, t.desc.size, true);
        await out.update(id, 'Verifying Checksum');
        const got = await s.pool.digest({ path: t.file });
        if (got !== t.desc.digest) throw new SystemError(`filesystem layer verification failed for digest ${t.desc.digest}`);
        await out.update(id, 'Download complete');
      } finally {
        release();
      }
    })(),
  );
  // A failing download stops the others at once; its error is the one reported, not theirs.
  let first: unknown = null;
  downloads.forEach((p) =>
    p.catch((err) => {
      if (!abort.signal.aborted) first ??= err;
      abort.abort(err);
    }),
  );
  try {
    let parent = present > 0 ? chains[present - 1]! : null;
    for (let k = 0; k < todo.length; k++) {
      const t = todo[k]!;
      await downloads[k];
      const id = shortID(t.desc.digest);
      const expected = diffIDs[t.index]!;
      const ch = new MessageChannel();
      ch.port1.on('message', (p: { read: number }) => void out.progress(id, 'Extracting', Math.min(p.read, t.desc.size), t.desc.size));
      let r;
      try {
        r = await s.layers.register(
          parent,
          async (dir) => {
            const res = await s.pool.apply({ source: { path: t.file }, root: dir, format: s.driver.format, progress: ch.port2, maxBytes: await s.spaceLeft() });
            if (res.sourceDigest !== t.desc.digest) throw new SystemError(`filesystem layer verification failed for digest ${t.desc.digest}`);
            if (res.diffID !== expected) throw new SystemError(errRootFSMismatch);
            return res;
          },
          expected,
        );
      } finally {
        ch.port1.close();
      }
      if (!r.existed) made.push(r.layer.chainID);
      parent = r.layer.chainID;
      await rm(t.file, { force: true });
      await out.progress(id, 'Extracting', t.desc.size, t.desc.size, true);
      await out.update(id, 'Pull complete');
      await dist.metadata.add(expected, t.desc.digest, repo.name).catch(() => {});
      if (abort.signal.aborted) throw abort.signal.reason ?? new Error('aborted');
    }
  } catch (err) {
    if (!abort.signal.aborted) first ??= err;
    abort.abort(err);
    await Promise.allSettled(downloads);
    // This pull's hold goes first: what it made is released unless another job holds it or built on it.
    letGo();
    if (made.length) await s.releaseChain(made.at(-1)!).catch(() => {});
    throw signal.aborted ? err : (first ?? err);
  } finally {
    signal.removeEventListener('abort', onOuter);
    await rm(stage, { recursive: true, force: true });
  }
}

async function listTags(session: Session, repo: RepoInfo, signal: AbortSignal): Promise<string[]> {
  const body = await readBody(session, `/v2/${repo.path}/tags/list`, 'application/json', signal, `repository ${repo.name} not found: `);
  let doc: { tags?: unknown };
  try {
    doc = JSON.parse(body.raw.toString('utf8')) as { tags?: unknown };
  } catch (err) {
    throw new SystemError(`invalid tag list for ${repo.name}: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new SystemError(`invalid tag list for ${repo.name}: not a JSON object`);
  if (doc.tags === undefined || doc.tags === null) return [];
  // Go decodes into []string: anything else is its unmarshal error.
  if (!Array.isArray(doc.tags) || !doc.tags.every((x) => typeof x === 'string')) {
    throw new SystemError(`json: cannot unmarshal ${JSON.stringify(doc.tags).slice(0, 64)} into Go struct field .tags of type []string`);
  }
  return doc.tags as string[];
}

export async function pullImage(s: ImageService, dist: Distribution, args: PullArgs, ctx: JobContext): Promise<void> {
  const ref = parsePullRef(args.image, args.tag);
  const platform = args.platform ? parsePlatform(args.platform) : null;
  if (platform && platform.os !== 'linux') throw new InvalidParameterError(`operating system is not supported`);
  const repo = repoInfo(ref);
  const out = new Messages(ctx.stdout);
  const signal = ctx.signal;
  const allTags = !ref.tag && !ref.digest;
  const updated = await withEndpoints(dist, repo, args.auth, 'pull', async (session) => {
    if (!allTags) return (await pullRef(s, dist, session, repo, ref, platform, out, signal)).updated;
    const tags = await listTags(session, repo, signal);
    if (tags.length === 0) throw new NotFoundError(`no tags available for ${familiarString(ref)}`);
    let any = false;
    for (const tag of tags) {
      // dockerd's reference.WithTag: a registry's tag that is no tag ends the pull (never stored).
      if (!isValidTag(tag)) throw new SystemError('invalid tag format');
      any = (await pullRef(s, dist, session, repo, { name: ref.name, tag }, platform, out, signal)).updated || any;
    }
    return any;
  });
  const shown = familiarString(ref);
  await out.message(updated ? `Status: Downloaded newer image for ${shown}` : `Status: Image is up to date for ${shown}`);
  // dockerd's LogImageEvent(ref, ref, "pull"): the actor is the reference, with the image's labels.
  let labels: Record<string, string> = {};
  try {
    labels = { ...(s.resolve(allTags ? `${shown}:latest` : shown).config.config?.Labels ?? {}) };
  } catch {
    // all tags pulled and no latest: no labels
  }
  await s.engine.job('log', { Type: 'image', Action: 'pull', Actor: { ID: shown, Attributes: { ...labels, name: familiarName(ref.name) } } }).catch(() => {});
}

