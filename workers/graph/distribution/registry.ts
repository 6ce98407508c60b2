/**
 * What pull, push and the distribution inspect share: the transport, the v2 metadata store,
 * how a reference splits into registry host and repository path, and trying a registry's
 * endpoints in order (mirrors first for Docker Hub) as dockerd's fallback does.
 */
import { join } from 'node:path';
import { BerthError, CancelledError, SystemError } from '../../../src/errdefs/errors.js';
import type { AuthConfig, Endpoint, Session, Transport } from './transport.js';
import { V2MetadataStore } from './metadata.js';
import { RegistryError } from './errors.js';
import { registrySettings } from './settings.js';
import type { Reference } from '../reference.js';

export interface RepoInfo {
  /** "127.0.0.1:5000", "docker.io". */
  host: string;
  /** The path on the registry: "x", "library/busybox". */
  path: string;
  /** The normalized name: "127.0.0.1:5000/x". */
  name: string;
}

export function repoInfo(ref: Reference): RepoInfo {
  const i = ref.name.indexOf('/');
  return { host: ref.name.slice(0, i), path: ref.name.slice(i + 1), name: ref.name };
}

export class Distribution {
  readonly metadata: V2MetadataStore;

  constructor(
    readonly transport: Transport,
    dataRoot: string,
    driverName: string,
  ) {
    this.metadata = new V2MetadataStore(join(dataRoot, 'image', driverName, 'distribution'));
  }
}

/** isNetworkError says whether an error may be tried again (a dropped connection, a timeout), not an answer. */
export function isNetworkError(err: unknown): boolean {
  if (err instanceof RegistryError) return err.reason === 'network' || err.reason === 'timeout';
  if (err instanceof CancelledError) return false;
  if (err instanceof BerthError) return false;
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  return /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ERR_STREAM_PREMATURE_CLOSE|UND_ERR_.*)$/.test(code) || /socket hang up|aborted|premature|timed? ?out/i.test((err as Error)?.message ?? '');
}

/**
 * A registry's refusal of the credentials (401 unauthorized, 403 denied) is a system error on
 * pull, push and /distribution: dockerd answers 500 `unauthorized: authentication required`
 * (test/fixtures/dockerd-20.10/registry/http/pull-api-wrong-creds-*.txt). Login keeps its own.
 */
export function authFailureAsSystem(err: unknown): unknown {
  if (!(err instanceof BerthError) || (err.kind !== 'unauthorized' && err.kind !== 'forbidden')) return err;
  const out = err instanceof RegistryError ? new RegistryError('system', err.reason, err.op, err.url, err.detail, err.fallback) : new SystemError(err.message);
  if (err.stack) out.stack = err.stack;
  return out;
}

/**
 * withEndpoints runs `fn` on each endpoint in turn until one succeeds: a mirror that fails
 * (any error) or an endpoint that cannot be reached falls back to the next; the last error
 * stands (a registry's auth refusal as a system error, as dockerd's).
 */
export async function withEndpoints<T>(
  dist: Distribution,
  repo: RepoInfo,
  auth: AuthConfig | null,
  actions: string,
  fn: (session: Session, endpoint: Endpoint) => Promise<T>,
  extraScopes?: string[],
): Promise<T> {
  const endpoints = await dist.transport.endpointsFor(repo.host, registrySettings());
  let last: unknown = new Error(`no endpoint for ${repo.host}`);
  for (let i = 0; i < endpoints.length; i++) {
    const ep = endpoints[i]!;
    const session = dist.transport.session(ep, repo.path, auth, actions, extraScopes);
    try {
      return await fn(session, ep);
    } catch (err) {
      last = err;
      const more = i < endpoints.length - 1;
      const fallback = err instanceof RegistryError ? err.fallback : isNetworkError(err);
      if (!more || (!ep.mirror && !fallback)) throw authFailureAsSystem(err);
    }
  }
  throw authFailureAsSystem(last);
}
