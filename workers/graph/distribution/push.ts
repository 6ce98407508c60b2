/**
 * docker push (POST /images/{name}/push?tag=), as dockerd 20.10's distribution/push_v2:
 *
 *   "The push refers to repository [<name>]", then for one tag (or every tag of the repository)
 *   each layer, listed top first ("Preparing"), is settled at most 5 at a time:
 *     - a blob the v2 metadata knows for this registry is HEAD'ed in the target repository:
 *       there → "Layer already exists";
 *     - else one known in another repository of the same registry is mounted (POST
 *       ?mount=&from=) → "Mounted from <repo>";
 *     - else uploaded: rebuilt from its tar-split and gzip'ed by a pool task, hashed as it
 *       streams, sent as one PATCH (chunked) and closed by a PUT ?digest= → "Pushed";
 *   then the config blob (HEAD, else POST+PUT), the schema 2 manifest (PUT by tag), the line
 *   "<tag>: digest: sha256:… size: N" and the aux {Tag, Digest, Size}; the repo digest is
 *   recorded as dockerd's, and what went where is kept in the v2 metadata.
 */
import { MessageChannel } from 'node:worker_threads';
import { Readable } from 'node:stream';
import type { JobContext } from '../../../src/actor/runtime.js';
import { InvalidParameterError, NotFoundError, SystemError } from '../../../src/errdefs/errors.js';
import { PortReader } from '../../../src/protocol/stream.js';
import { familiarName, familiarString, isValidTag, parseNormalized, type Reference } from '../reference.js';
import type { ImageRecord } from '../store/images.js';
import { chainIDs, type Layer } from '../store/layers.js';
import type { ImageService } from '../images/service.js';
import type { Session } from './transport.js';
import type { PushArgs } from '../../../src/protocol/types/distribution.js';
import { MT, registryError, schema2Manifest, sha256, shortID } from './manifest.js';
import { Messages } from './messages.js';
import { isNetworkError, repoInfo, withEndpoints, type Distribution, type RepoInfo } from './registry.js';
import { maxConcurrentUploads } from './settings.js';


/** dockerd's default --max-concurrent-uploads (the daemon's setting is in settings.ts). */
export const MAX_CONCURRENT_UPLOADS = 5;
const MAX_MOUNT_ATTEMPTS = 3;
const MAX_UPLOAD_ATTEMPTS = 3;

const hostOf = (name: string) => name.slice(0, name.indexOf('/'));
const pathOf = (name: string) => name.slice(name.indexOf('/') + 1);

/**
 * A registry's upload Location, resolved against the request that gave it (as distribution's
 * sanitizeLocation) into an absolute URL. It may name another host (upload storage): the
 * session sends credentials only to the endpoint's own origin. Plain http for a secure
 * registry is refused.
 */
function uploadLocation(session: Session, loc: string | string[] | undefined, requestUrl: string, what: string): string {
  const l = Array.isArray(loc) ? loc[0] : loc;
  if (!l) throw new SystemError(`the registry gave no upload location for ${what}`);
  const base = /^https?:\/\//i.test(requestUrl) ? requestUrl : `${session.endpoint.url}${requestUrl}`;
  let u: URL;
  try {
    u = new URL(l, base);
  } catch {
    throw new SystemError(`the registry gave an invalid upload location for ${what}: ${JSON.stringify(l.slice(0, 256))}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SystemError(`the registry gave an upload location that is not http(s) for ${what}: ${JSON.stringify(l.slice(0, 256))}`);
  if (new URL(session.endpoint.url).protocol === 'https:' && u.protocol === 'http:' && !session.endpoint.insecure) {
    throw new SystemError(`refusing the upload location ${u.origin} for ${what}: plain http for a secure registry`);
  }
  u.hash = '';
  return u.toString();
}

function withQuery(path: string, key: string, value: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

async function statBlob(session: Session, repo: RepoInfo, digest: string, signal: AbortSignal): Promise<number | null> {
  const res = await session.request(`/v2/${repo.path}/blobs/${digest}`, { method: 'HEAD', signal, timeoutMs: 30_000 });
  res.body.resume();
  if (res.status === 200) return Number(res.headers['content-length'] ?? 0);
  if (res.status === 404) return null;
  throw await registryError(res);
}

async function startUpload(session: Session, repo: RepoInfo, signal: AbortSignal, query = ''): Promise<{ status: number; location: string }> {
  const path = `/v2/${repo.path}/blobs/uploads/${query}`;
  const res = await session.request(path, { method: 'POST', headers: { 'Content-Length': '0' }, body: Buffer.alloc(0), signal, timeoutMs: 30_000 });
  if (res.status !== 201 && res.status !== 202) throw await registryError(res);
  res.body.resume();
  return { status: res.status, location: res.status === 202 ? uploadLocation(session, res.headers.location, path, repo.name) : '' };
}

/** putBlob uploads small bytes (the config) in one request. */
async function putBlob(session: Session, repo: RepoInfo, data: Buffer, digest: string, signal: AbortSignal): Promise<void> {
  const { location } = await startUpload(session, repo, signal);
  const res = await session.request(withQuery(location, 'digest', digest), {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) },
    body: data,
    signal,
    timeoutMs: 60_000,
  });
  if (res.status !== 201) throw await registryError(res);
  res.body.resume();
}

interface Pushed {
  digest: string;
  size: number;
}

/** uploadLayer streams a layer from the pool (rebuilt, gzip'ed, hashed) as PATCH, then PUT ?digest=. */
async function uploadLayer(s: ImageService, session: Session, repo: RepoInfo, layer: Layer, out: Messages, signal: AbortSignal, location?: string): Promise<Pushed> {
  const id = shortID(layer.diffID);
  for (let attempt = 1; ; attempt++) {
    const loc = location ?? (await startUpload(session, repo, signal)).location;
    location = undefined;
    const data = new MessageChannel();
    const prog = new MessageChannel();
    prog.port1.on('message', (p: { read: number }) => void out.progress(id, 'Pushing', p.read, layer.size));
    const reader = new PortReader(data.port1);
    const task = s.pool.compressLayer({ out: data.port2, tarSplit: await s.layers.tarSplit(layer.chainID), root: s.layers.filesOf(layer), diffID: layer.diffID, progress: prog.port2 });
    task.catch(() => {});
    try {
      const res = await session.request(loc, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream' },
        body: Readable.from(reader),
        signal,
        timeoutMs: 120_000,
      });
      if (res.status !== 202 && res.status !== 204) throw await registryError(res);
      res.body.resume();
      const blob = await task;
      const put = await session.request(withQuery(res.headers.location ? uploadLocation(session, res.headers.location, loc, repo.name) : loc, 'digest', blob.digest), {
        method: 'PUT',
        headers: { 'Content-Length': '0' },
        body: Buffer.alloc(0),
        signal,
        timeoutMs: 60_000,
      });
      if (put.status !== 201) throw await registryError(put);
      put.body.resume();
      return blob;
    } catch (err) {
      reader.close();
      await task.catch(() => {});
      if (signal.aborted || attempt >= MAX_UPLOAD_ATTEMPTS || !isNetworkError(err)) throw err;
    } finally {
      prog.port1.close();
    }
  }
}

/** pushLayer settles one layer: already there, mounted, or uploaded. */
async function pushLayer(s: ImageService, dist: Distribution, session: Session, repo: RepoInfo, layer: Layer, out: Messages, signal: AbortSignal): Promise<Pushed> {
  const id = shortID(layer.diffID);
  const metas = (await dist.metadata.list(layer.diffID)).filter((m) => hostOf(m.SourceRepository) === repo.host).reverse();
  // Known blobs first: one the target repository already has needs nothing.
  const seen = new Set<string>();
  for (const m of metas) {
    if (seen.has(m.Digest)) continue;
    seen.add(m.Digest);
    const size = await statBlob(session, repo, m.Digest, signal);
    if (size !== null) {
      await out.update(id, 'Layer already exists');
      await dist.metadata.add(layer.diffID, m.Digest, repo.name);
      return { digest: m.Digest, size };
    }
    if (m.SourceRepository === repo.name) await dist.metadata.remove(layer.diffID, m.Digest, m.SourceRepository);
  }
  // Then a mount from another repository of the same registry.
  let pending: string | undefined;
  for (const m of metas.filter((x) => x.SourceRepository !== repo.name).slice(0, MAX_MOUNT_ATTEMPTS)) {
    const from = pathOf(m.SourceRepository);
    const r = await startUpload(session, repo, signal, `?from=${encodeURIComponent(from)}&mount=${encodeURIComponent(m.Digest)}`);
    if (r.status === 201) {
      const size = (await statBlob(session, repo, m.Digest, signal)) ?? 0;
      await out.update(id, `Mounted from ${from}`);
      await dist.metadata.add(layer.diffID, m.Digest, repo.name);
      return { digest: m.Digest, size };
    }
    // 202: the registry started an upload instead; use it for the upload below.
    pending ??= r.location;
  }
  const blob = await uploadLayer(s, session, repo, layer, out, signal, pending);
  await out.update(id, 'Pushed');
  await dist.metadata.add(layer.diffID, blob.digest, repo.name);
  return blob;
}

async function pushTag(s: ImageService, dist: Distribution, session: Session, repo: RepoInfo, ref: Reference, img: ImageRecord, out: Messages, signal: AbortSignal): Promise<void> {
  const chain = s.chain(img);
  if (chain.some((l) => !l)) throw new SystemError(`a layer of ${img.id} is missing`);
  const top = [...chain].reverse();
  for (const l of top) await out.update(shortID(l.diffID), 'Preparing');
  // At most --max-concurrent-uploads (5) layers at once; the manifest lists them bottom first.
  // The ones beyond the limit say "Waiting" at once, after the Preparing lines, as dockerd's.
  const limit = maxConcurrentUploads();
  for (let k = limit; k < top.length; k++) await out.update(shortID(top[k]!.diffID), 'Waiting');
  const results = new Array<Pushed>(chain.length);
  let next = 0;
  const abort = new AbortController();
  const onOuter = () => abort.abort(signal.reason);
  signal.addEventListener('abort', onOuter, { once: true });
  const order = top.map((l) => chain.indexOf(l));
  let failure: unknown = null;
  const worker = async () => {
    while (next < order.length && !failure) {
      const i = order[next++]!;
      try {
        results[i] = await pushLayer(s, dist, session, repo, chain[i]!, out, abort.signal);
      } catch (err) {
        failure ??= err;
        abort.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, order.length) }, worker));
  } finally {
    signal.removeEventListener('abort', onOuter);
  }
  if (failure) throw failure;
  // The config, then the manifest.
  if ((await statBlob(session, repo, img.id, signal)) === null) await putBlob(session, repo, img.raw, img.id, signal);
  const manifest = schema2Manifest({ size: img.raw.length, digest: img.id }, results.map((r) => ({ size: r.size, digest: r.digest, mediaType: MT.dockerLayer })));
  const res = await session.request(`/v2/${repo.path}/manifests/${ref.tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': MT.schema2, 'Content-Length': String(manifest.length) },
    body: manifest,
    signal,
    timeoutMs: 60_000,
  });
  if (res.status !== 201 && res.status !== 200) throw await registryError(res);
  res.body.resume();
  const digest = sha256(manifest);
  await out.message(`${ref.tag}: digest: ${digest} size: ${manifest.length}`);
  await out.aux({ Tag: ref.tag, Digest: digest, Size: manifest.length });
  const digestRef: Reference = { name: ref.name, digest };
  if (!s.refs.get(digestRef)) await s.refs.add(digestRef, img.id).catch(() => {});
}

export async function pushImage(s: ImageService, dist: Distribution, args: PushArgs, ctx: JobContext): Promise<void> {
  let ref = parseNormalized(args.name);
  if (args.tag) {
    if (!isValidTag(args.tag)) throw new InvalidParameterError('invalid tag format');
    ref = { name: ref.name, tag: args.tag };
  }
  const repo = repoInfo(ref);
  const out = new Messages(ctx.stdout);
  await out.message(`The push refers to repository [${repo.name}]`);
  const tagged = s.refs
    .all()
    .filter((r) => r.ref.name === ref.name && r.ref.tag && (!ref.tag || r.ref.tag === ref.tag))
    .sort((a, b) => (a.ref.tag! < b.ref.tag! ? -1 : 1));
  if (s.refs.all().every((r) => r.ref.name !== ref.name)) throw new NotFoundError(`An image does not exist locally with the tag: ${familiarName(ref.name)}`);
  if (tagged.length === 0) throw new NotFoundError(`tag does not exist: ${familiarString(ref)}`);
  // Cross-repository mounts need pull on the source repositories of the same registry.
  const sources = new Set<string>();
  for (const t of tagged) {
    const img = s.images.get(t.id);
    if (!img) continue;
    for (const l of s.chain(img)) {
      for (const m of await dist.metadata.list(l?.diffID ?? '')) {
        if (hostOf(m.SourceRepository) === repo.host && m.SourceRepository !== repo.name) sources.add(`repository:${pathOf(m.SourceRepository)}:pull`);
      }
    }
  }
  // The layers being pushed are held until the push ends: an rmi (or prune) meanwhile must not
  // remove the files a layer is being rebuilt from. An image removed meanwhile gives its
  // layers back when the hold goes.
  const tops = new Map<string, string>();
  const chains: string[] = [];
  for (const t of tagged) {
    const ids = chainIDs(s.images.get(t.id)?.config.rootfs?.diff_ids ?? []);
    chains.push(...ids);
    if (ids.length) tops.set(t.id, ids.at(-1)!);
  }
  const release = s.hold(chains);
  try {
    await withEndpoints(
      dist,
      repo,
      args.auth,
      'pull,push',
      async (session) => {
        for (const t of tagged) {
          const img = s.images.get(t.id);
          if (!img) throw new NotFoundError(`No such image: ${familiarString(t.ref)}`);
          await pushTag(s, dist, session, repo, t.ref, img, out, ctx.signal);
        }
      },
      [...sources].slice(0, 10),
    );
  } finally {
    release();
    for (const [id, top] of tops) if (!s.images.get(id) && s.layers.get(top)) await s.releaseChain(top).catch(() => {});
  }
  const shown = familiarString(ref);
  let labels: Record<string, string> = {};
  try {
    labels = { ...(s.images.get(tagged[0]!.id)?.config.config?.Labels ?? {}) };
  } catch {
    // none
  }
  await s.engine.job('log', { Type: 'image', Action: 'push', Actor: { ID: shown, Attributes: { ...labels, name: familiarName(ref.name) } } }).catch(() => {});
}
