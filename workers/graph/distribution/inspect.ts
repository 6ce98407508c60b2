/**
 * GET /distribution/{name}/json (docker manifest inspect's daemon side, `docker buildx`,
 * swarm): the manifest's descriptor and its platforms, as dockerd 20.10's distribution router
 * answers — a tag is resolved by HEAD, the manifest read by digest; a list gives its entries'
 * platforms, a schema 2 manifest its config's; other kinds none (null).
 */
import { InvalidParameterError, SystemError } from '../../../src/errdefs/errors.js';
import { parseAny, withDefaultTag } from '../reference.js';
import type { AuthConfig, Response } from './transport.js';
import type { DistributionInspect } from '../../../src/protocol/types/distribution.js';
import { digestError, isDigest, MANIFEST_ACCEPT, MT, registryError, sha256 } from './manifest.js';
import { repoInfo, withEndpoints, type Distribution } from './registry.js';

/** The most of a manifest or config read (as pull's). */
const MAX_DOCUMENT = 8 << 20;

/** A response's body as bytes (never decoded and re-encoded: its digest is of the bytes), at most `limit`. */
async function readRaw(res: Response, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > limit) {
      res.body.destroy();
      throw new SystemError(`${what}: the document is larger than ${limit >> 20} MiB`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function distributionInspect(dist: Distribution, name: string, auth: AuthConfig | null, signal: AbortSignal): Promise<DistributionInspect> {
  const any = parseAny(name);
  if (any.kind === 'id') throw new SystemError('no manifest found for full image ID');
  const ref = any.ref.digest ? any.ref : withDefaultTag(any.ref);
  const repo = repoInfo(ref);
  return withEndpoints(dist, repo, auth, 'pull', async (session) => {
    const desc = { mediaType: '', digest: ref.digest ?? '', size: 0 };
    if (!ref.digest) {
      const head = await session.request(`/v2/${repo.path}/manifests/${ref.tag}`, { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT }, signal, timeoutMs: 30_000 });
      head.body.resume();
      if (head.status !== 200) {
        // A HEAD has no error body: as distribution's client, ask again with GET for the registry's words.
        const res = await session.request(`/v2/${repo.path}/manifests/${ref.tag}`, { headers: { Accept: MANIFEST_ACCEPT }, signal, timeoutMs: 30_000 });
        throw await registryError(res);
      }
      const dg = head.headers['docker-content-digest'];
      const headDigest = (Array.isArray(dg) ? dg[0] : dg) ?? '';
      // The registry's digest names the next URL and is what the bytes are checked against: only sha256:<hex>.
      desc.digest = isDigest(headDigest) ? headDigest : '';
      desc.mediaType = String(head.headers['content-type'] ?? '').split(';')[0]!;
      desc.size = Number(head.headers['content-length'] ?? 0);
    }
    const get = async (path: string, accept?: string) => {
      const res = await session.request(path, { headers: accept ? { Accept: accept } : {}, signal, timeoutMs: 30_000 });
      if (res.status !== 200) throw await registryError(res);
      const raw = await readRaw(res, MAX_DOCUMENT, path);
      return { raw, type: String(res.headers['content-type'] ?? '').split(';')[0]! };
    };
    if (desc.digest) {
      const bad = digestError(desc.digest);
      if (bad) throw new SystemError(bad);
    }
    const target = desc.digest || ref.tag!;
    const m = await get(`/v2/${repo.path}/manifests/${target}`, MANIFEST_ACCEPT);
    // Fetched by digest: the bytes must be that digest's (as pull's "manifest verification failed").
    if (desc.digest && sha256(m.raw) !== desc.digest) throw new SystemError(`manifest verification failed for digest ${desc.digest}`);
    if (!desc.digest) desc.digest = sha256(m.raw);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(m.raw.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new InvalidParameterError('unsupported manifest format');
    }
    desc.mediaType = (typeof doc.mediaType === 'string' && doc.mediaType) || m.type;
    if (!desc.size) desc.size = m.raw.length;
    let platforms: Array<Record<string, unknown>> | null = null;
    if (desc.mediaType === MT.list) {
      platforms = ((doc.manifests as Array<{ platform?: Record<string, unknown> }>) ?? []).map((e) => {
        const p = e.platform ?? {};
        const out: Record<string, unknown> = { architecture: p.architecture ?? '', os: p.os ?? '' };
        if (p['os.version']) out['os.version'] = p['os.version'];
        if (p['os.features']) out['os.features'] = p['os.features'];
        if (p.variant) out.variant = p.variant;
        return out;
      });
    } else if (desc.mediaType === MT.schema2) {
      const cfgDigest = (doc.config as { digest?: string } | undefined)?.digest;
      if (isDigest(cfgDigest)) {
        try {
          const cfg = (await get(`/v2/${repo.path}/blobs/${cfgDigest}`)).raw;
          if (sha256(cfg) !== cfgDigest) throw new SystemError(`image config verification failed for digest ${cfgDigest}`);
          const c = JSON.parse(cfg.toString('utf8')) as Record<string, unknown>;
          if (c.os || c.architecture) {
            const p: Record<string, unknown> = { architecture: c.architecture ?? '', os: c.os ?? '' };
            if (c['os.version']) p['os.version'] = c['os.version'];
            if (c.variant) p.variant = c.variant;
            platforms = [p];
          }
        } catch {
          // as dockerd: a config it cannot read gives no platform
        }
      }
    }
    return { Descriptor: desc, Platforms: platforms };
  });
}
