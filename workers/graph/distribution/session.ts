/**
 * The Transport of transport.ts: sessions that authorise their requests as the registry's
 * challenge asks, and the login check.
 *
 * A session pings its endpoint once (GET /v2/ without credentials, 15 s, as dockerd's
 * PingV2Registry) to learn the challenges and whether it speaks registry/2.0 (`foundV2`).
 * Each request to the endpoint's origin then carries:
 *   - Bearer: a token for `repository:<repo>:<actions>` (+ extra scopes) from the realm, cached
 *     per scope until it expires; the AuthConfig's registrytoken as is when there is one;
 *   - Basic: the username and password, or the error "no basic auth credentials".
 * A 401 whose challenge differs from the ping's (a new realm or scope) is retried once with it.
 */
import { RegistryError } from './errors.js';
import { basicAuthHeader, describeError, fetchToken, kindOfCode, parseChallenges, TokenCache, type Challenge } from './auth.js';
import { drain, send, statusLine } from './http.js';
import { endpointsFor } from './hosts.js';
import type { AuthConfig, Endpoint, RequestOptions, Response, Session, Transport } from './transport.js';

/** dockerd's ping and login client timeout. */
export const PING_TIMEOUT_MS = 15_000;

export interface PingResult {
  status: number;
  /** The registry said Docker-Distribution-API-Version: registry/2.0. */
  foundV2: boolean;
  challenges: Challenge[];
}

function v2Header(res: Response): boolean {
  const h = res.headers['docker-distribution-api-version'];
  const values = (Array.isArray(h) ? h : h ? [h] : []).flatMap((v) => v.split(/[\s,]+/));
  return values.includes('registry/2.0');
}

/** ping: GET <endpoint>/v2/ without credentials. Network failures are fallback errors. */
export async function ping(endpoint: Endpoint, signal?: AbortSignal): Promise<PingResult> {
  const res = await send(`${endpoint.url}/v2/`, { tls: endpoint.tls, insecure: endpoint.insecure, signal, timeoutMs: PING_TIMEOUT_MS });
  drain(res);
  return { status: res.status, foundV2: v2Header(res), challenges: res.status === 401 ? parseChallenges(res.headers['www-authenticate']) : [] };
}

const tokens = new TokenCache();

export class RegistrySession implements Session {
  private pinged: Promise<PingResult> | null = null;
  private challenges: Challenge[] = [];

  constructor(
    readonly endpoint: Endpoint,
    readonly repository: string,
    private readonly auth: AuthConfig | null,
    readonly actions: string,
    private readonly extraScopes: string[] = [],
  ) {}

  /** The scopes a token is asked for: this repository's, then the extra ones (cross-repository mounts). */
  get scopes(): string[] {
    const own = this.repository ? [`repository:${this.repository}:${this.actions}`] : [];
    return [...own, ...this.extraScopes.filter((s) => !own.includes(s))];
  }

  /** The first request pings (once); its result says whether to fall back (foundV2 false). */
  ping(signal?: AbortSignal): Promise<PingResult> {
    if (!this.pinged) {
      const p = ping(this.endpoint, signal).then((r) => {
        this.challenges = r.challenges;
        return r;
      });
      p.catch(() => {
        if (this.pinged === p) this.pinged = null;
      });
      this.pinged = p;
    }
    return this.pinged;
  }

  /** The cache key of the Bearer token the last authorization() gave (dropped if the registry refuses it). */
  private tokenKey: string | null = null;

  private async authorization(op: string, url: string, signal?: AbortSignal, timeoutMs?: number): Promise<string | null> {
    this.tokenKey = null;
    const bearer = this.challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      if (this.auth?.registrytoken) return `Bearer ${this.auth.registrytoken}`;
      const scopes = this.scopes;
      const key = TokenCache.key(bearer, scopes, this.auth);
      const cached = tokens.get(key);
      if (cached) {
        this.tokenKey = key;
        return `Bearer ${cached}`;
      }
      const t = await fetchToken(bearer, scopes, this.auth, this.endpoint, { op, url }, { signal, timeoutMs });
      tokens.set(key, t.token, t.expires);
      this.tokenKey = key;
      return `Bearer ${t.token}`;
    }
    if (this.challenges.some((c) => c.scheme === 'basic')) {
      const h = basicAuthHeader(this.auth);
      if (!h) throw new RegistryError('system', 'no-credentials', op, url, 'no basic auth credentials');
      return h;
    }
    return null;
  }

  /**
   * request: `path` is under /v2/ on the endpoint ("/v2/<repo>/manifests/<ref>"), or an
   * absolute URL (an upload's Location); only the endpoint's own origin gets the credentials.
   */
  async request(path: string, opts: RequestOptions = {}): Promise<Response> {
    await this.ping(opts.signal);
    const url = /^https?:\/\//.test(path) ? path : `${this.endpoint.url}${path.startsWith('/') ? '' : '/'}${path}`;
    const ours = new URL(url).origin === new URL(this.endpoint.url).origin;
    const method = opts.method ?? 'GET';
    const op = method.slice(0, 1) + method.slice(1).toLowerCase();
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...opts.headers };
      let tokenKey: string | null = null;
      if (ours) {
        const a = await this.authorization(op, url, opts.signal, opts.timeoutMs);
        tokenKey = this.tokenKey;
        if (a) headers.Authorization = a;
      }
      const res = await send(url, { ...opts, headers, tls: this.endpoint.tls, insecure: this.endpoint.insecure });
      if (res.status !== 401 || !ours) return res;
      const fresh = parseChallenges(res.headers['www-authenticate']);
      // A token the registry refused (expired, revoked: invalid_token) is never offered again.
      if (tokenKey && fresh.some((c) => c.scheme === 'bearer' && c.params.error === 'invalid_token')) tokens.delete(tokenKey);
      if (attempt > 0 || (opts.body !== undefined && !Buffer.isBuffer(opts.body))) return res;
      if (fresh.length === 0 || JSON.stringify(fresh) === JSON.stringify(this.challenges)) return res;
      drain(res);
      this.challenges = fresh.filter((c) => c.params.error === undefined || c.scheme !== 'bearer' || c.params.realm);
    }
  }
}

/**
 * login: dockerd's loginV2 on one endpoint. The ping decides fallback: an error before the
 * registry said registry/2.0 is a fallback error (the caller tries the next endpoint).
 */
export async function login(endpoint: Endpoint, auth: AuthConfig, signal?: AbortSignal): Promise<{ identityToken: string }> {
  const url = `${endpoint.url}/v2/`;
  let pinged: PingResult;
  try {
    pinged = await ping(endpoint, signal);
  } catch (err) {
    if (err instanceof RegistryError) throw new RegistryError(err.kind, err.reason, err.op, err.url, err.detail, true);
    throw err;
  }
  const wrap = (err: unknown): never => {
    if (err instanceof RegistryError) throw new RegistryError(err.kind, err.reason, err.op, err.url, err.detail, !pinged.foundV2);
    throw err;
  };
  const headers: Record<string, string> = {};
  let identityToken = '';
  const bearer = pinged.challenges.find((c) => c.scheme === 'bearer');
  if (bearer) {
    if (auth.registrytoken) headers.Authorization = `Bearer ${auth.registrytoken}`;
    else {
      try {
        const t = await fetchToken(bearer, [], auth, endpoint, { op: 'Get', url }, { offline: true, clientId: 'docker', signal, timeoutMs: PING_TIMEOUT_MS });
        headers.Authorization = `Bearer ${t.token}`;
        identityToken = t.refreshToken;
      } catch (err) {
        wrap(err);
      }
    }
  } else if (pinged.challenges.some((c) => c.scheme === 'basic')) {
    const h = basicAuthHeader(auth);
    if (!h) wrap(new RegistryError('system', 'no-credentials', 'Get', url, 'no basic auth credentials'));
    headers.Authorization = h!;
  }
  let res: Response;
  try {
    res = await send(url, { headers, tls: endpoint.tls, insecure: endpoint.insecure, signal, timeoutMs: PING_TIMEOUT_MS });
  } catch (err) {
    return wrap(err);
  }
  drain(res);
  if (res.status === 200) return { identityToken: identityToken || auth.identitytoken || '' };
  throw new RegistryError('system', 'other', '', url, `login attempt to ${url} failed with status: ${statusLine(res.status)}`, !pinged.foundV2);
}

/** A registry answer that is an error, as a RegistryError for the request that got it. */
export async function responseError(res: Response, method: string, url: string): Promise<RegistryError> {
  const text = await res.text(1 << 20).catch(() => '');
  const e = describeError(res.status, res.headers, text);
  return new RegistryError(kindOfCode(e.code), 'other', '', url, e.message, false);
}

export function createTransport(): Transport {
  return {
    endpointsFor,
    session: (endpoint, repository, auth, actions, extraScopes) => new RegistrySession(endpoint, repository, auth, actions, extraScopes),
    login: (endpoint, auth) => login(endpoint, auth),
  };
}

/** The one transport of the graph actor (its token cache is shared by every job). */
export const transport: Transport = createTransport();
