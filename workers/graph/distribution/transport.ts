/**
 * The registry transport (Registry HTTP API v2), as the pull, push and login code uses it.
 *
 * CONTRACT (issue #7): this file declares the interface; the implementation is in hosts.ts
 * (endpointsFor), http.ts (requests), auth.ts (challenges, tokens, errcode texts) and session.ts
 * (sessions, login), errors in errors.ts (RegistryError: `.fallback` says dockerd would try the
 * next endpoint; `.detail` is the inner text dockerd prints when it unwraps Go's url.Error).
 * Use `transport` (or createTransport()) exported at the end of this file.
 * Pull/push (pull.ts, push.ts) and login/search (login.ts, search.ts) build only on it:
 *
 *   endpointsFor(host, settings)  where to talk to a registry: mirrors first for Docker Hub,
 *                                 https with certs.d/<host>/ CAs and client certs, or plain
 *                                 http for insecure registries (127.0.0.0/8 by default, and
 *                                 --insecure-registry CIDRs and names), as dockerd decides
 *   Session                       one repository on one endpoint with one set of credentials:
 *                                 requests carry the auth the registry's challenge asks for
 *                                 (Bearer token from its realm, cached per scope; or Basic)
 *
 * SETTINGS: the graph actor holds the daemon's RegistrySettings (settings.ts): the daemon
 * sends them with the graph job `registry_settings` at start-up and on SIGHUP (replayed on a
 * restarted actor). Pull/push/login/search jobs do not carry them: a handler calls
 * `registrySettings()` from ./settings.js and passes them to endpointsFor.
 * X-Registry-Auth: workers/api/registryAuth.ts decodes it as dockerd (AuthConfig | null) for the
 * routes, which put it in the job args.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

/** What the daemon knows of registries (its flags), sent with every pull/push/login job. */
export interface RegistrySettings {
  /** --registry-mirror URLs, for Docker Hub images only. */
  mirrors: string[];
  /** --insecure-registry entries: CIDRs or host[:port]. 127.0.0.0/8 is always insecure. */
  insecure: string[];
  /** Where <host[:port]>/ca.crt, *.crt (CAs) and *.cert/*.key (client pairs) live: /etc/docker/certs.d. */
  certsDir: string;
  /** --max-concurrent-downloads: layers one pull downloads at once; 0 = no limit (3 when absent). */
  maxConcurrentDownloads?: number;
  /** --max-concurrent-uploads: layers one push uploads at once; 0 = no limit (5 when absent). */
  maxConcurrentUploads?: number;
  /** Caps every request's idle timeout (ms): BERTH_REGISTRY_TIMEOUT_MS, for tests of a hanging registry. */
  timeoutMs?: number;
}

/** X-Registry-Auth, decoded (dockerd's AuthConfig). */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export interface Endpoint {
  /** "https://127.0.0.1:5000" — no trailing slash. */
  url: string;
  /** The registry's name as references spell it ("docker.io", "127.0.0.1:5000"). */
  host: string;
  mirror: boolean;
  /** TLS is not verified, or plain http is allowed (insecure registry). */
  insecure: boolean;
  tls: { ca?: Buffer[]; cert?: Buffer; key?: Buffer };
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  /** Reads the whole body (bounded) as text. */
  text(limit?: number): Promise<string>;
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /** Follow redirects (blob downloads are redirected to storage); default true for GET/HEAD. */
  redirect?: boolean;
  signal?: AbortSignal;
  /** Idle timeout: no bytes for this long fails the request with a clear error. */
  timeoutMs?: number;
}

/** A repository on one endpoint, with the credentials of the request, and the scope it needs. */
export interface Session {
  readonly endpoint: Endpoint;
  readonly repository: string;
  /** A request to a path under /v2/ (e.g. `/v2/<repo>/manifests/<ref>`), authorised as the registry asks. */
  request(path: string, opts?: RequestOptions): Promise<Response>;
}

export interface Transport {
  endpointsFor(host: string, settings: RegistrySettings): Promise<Endpoint[]>;
  /** scope: "pull" or "pull,push" (repository:<repo>:<actions>); extra scopes for cross-repository mounts. */
  session(endpoint: Endpoint, repository: string, auth: AuthConfig | null, actions: string, extraScopes?: string[]): Session;
  /** The login check (POST /auth): GET /v2/ with the credentials; the identity token when the registry gives one. */
  login(endpoint: Endpoint, auth: AuthConfig): Promise<{ identityToken: string }>;
}

export { createTransport, transport, RegistrySession, ping, login, responseError } from './session.js';
export { RegistryError } from './errors.js';
export { registrySettings } from './settings.js';
