/**
 * The registry's auth, as docker/distribution's client does it for dockerd:
 *
 *  - parseChallenges reads `WWW-Authenticate` (several challenges, quoted or bare params).
 *  - fetchToken gets a Bearer token from the challenge's realm: GET realm?service=&scope=…
 *    (with `account` and Basic credentials when there are some, `offline_token=true&client_id=`
 *    for a login), or, with an identity (refresh) token, POST realm with grant_type=refresh_token.
 *    A refresh token in the answer is the login's IdentityToken.
 *  - TokenCache keeps each token per realm, service, scopes and credentials until it expires
 *    (expires_in, at least 60 s, from issued_at).
 *  - describeError words a registry's 4xx/5xx as distribution's errcode does
 *    ("unauthorized: authentication required", "manifest unknown: manifest unknown").
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorKind } from '../../../src/errdefs/errors.js';
import { RegistryError } from './errors.js';
import { send, statusLine, type SendOptions } from './http.js';
import type { AuthConfig, Endpoint } from './transport.js';

export interface Challenge {
  /** Lower case: "bearer", "basic". */
  scheme: string;
  /** Lower-case keys: realm, service, scope, error, error_description. */
  params: Record<string, string>;
}

/** parseChallenges reads every challenge of a response's WWW-Authenticate header(s). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const out: Challenge[] = [];
  for (const h of Array.isArray(header) ? header : [header]) {
    let i = 0;
    const ws = () => {
      while (i < h.length && (h[i] === ' ' || h[i] === '\t')) i++;
    };
    const token = () => {
      const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(h.slice(i));
      if (!m) return '';
      i += m[0].length;
      return m[0];
    };
    const value = () => {
      if (h[i] !== '"') return token();
      let v = '';
      i++;
      while (i < h.length && h[i] !== '"') {
        if (h[i] === '\\' && i + 1 < h.length) i++;
        v += h[i++];
      }
      i++;
      return v;
    };
    for (;;) {
      while (i < h.length && (h[i] === ' ' || h[i] === '\t' || h[i] === ',')) i++;
      const scheme = token();
      if (!scheme) break;
      const params: Record<string, string> = {};
      for (;;) {
        ws();
        const save = i;
        const key = token();
        ws();
        if (!key || h[i] !== '=') {
          i = save;
          break;
        }
        i++;
        ws();
        params[key.toLowerCase()] = value();
        ws();
        if (h[i] === ',') i++;
        else break;
      }
      out.push({ scheme: scheme.toLowerCase(), params });
    }
  }
  return out;
}

/** errcode descriptors dockerd knows, with their default messages. */
const ERROR_CODES: Record<string, string> = {
  UNKNOWN: 'unknown error',
  UNSUPPORTED: 'The operation is unsupported.',
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  UNAVAILABLE: 'service unavailable',
  TOOMANYREQUESTS: 'too many requests',
  DIGEST_INVALID: 'provided digest did not match uploaded content',
  SIZE_INVALID: 'provided length did not match content length',
  NAME_INVALID: 'invalid repository name',
  TAG_INVALID: 'manifest tag did not match URI',
  NAME_UNKNOWN: 'repository name not known to registry',
  MANIFEST_UNKNOWN: 'manifest unknown',
  MANIFEST_INVALID: 'manifest invalid',
  MANIFEST_UNVERIFIED: 'manifest failed signature verification',
  MANIFEST_BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UNKNOWN: 'blob unknown to registry',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown to registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
  PAGINATION_NUMBER_INVALID: 'invalid number of results requested',
  RANGE_INVALID: 'invalid content range',
};

export interface RegistryErrorBody {
  /** The errcode ("UNAUTHORIZED", "MANIFEST_UNKNOWN"), or "" when the body had none. */
  code: string;
  /** distribution's Error() text. */
  message: string;
}

function codeText(code: string): string {
  return code.toLowerCase().replace(/_/g, ' ');
}

function goJsonError(body: string): string {
  const t = body.trimStart();
  if (t === '') return 'unexpected end of JSON input';
  return `invalid character '${t[0]}' looking for beginning of value`;
}

/** How much of a registry's text an error message quotes (a body may be up to 1 MiB). */
export const MAX_QUOTED = 4 << 10;

function clip(text: string): string {
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}… (${text.length - MAX_QUOTED} more characters)` : text;
}

/**
 * describeError: distribution's HandleErrorResponse, as text (and the first error's code). What
 * it quotes of the registry's answer is cut at MAX_QUOTED characters.
 */
export function describeError(status: number, headers: IncomingHttpHeaders, body: string): RegistryErrorBody {
  const e = describeErrorFull(status, headers, body);
  return { code: e.code, message: clip(e.message) };
}

function describeErrorFull(status: number, headers: IncomingHttpHeaders, body: string): RegistryErrorBody {
  if (status >= 400 && status < 500) {
    for (const c of parseChallenges(headers['www-authenticate'])) {
      if (c.scheme !== 'bearer') continue;
      const code = c.params.error === 'invalid_token' ? 'UNAUTHORIZED' : c.params.error === 'insufficient_scope' ? 'DENIED' : '';
      if (!code) continue;
      return { code, message: `${codeText(code)}: ${c.params.error_description || ERROR_CODES[code]}` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    const details = (parsed as { details?: unknown } | undefined)?.details;
    if (typeof details === 'string' && details !== '') {
      const code = status === 401 ? 'UNAUTHORIZED' : status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN';
      return { code, message: `${codeText(code)}: ${details}` };
    }
    const errors = (parsed as { errors?: unknown } | undefined)?.errors;
    if (Array.isArray(errors) && errors.length > 0) {
      const texts = errors.map((e: { code?: unknown; message?: unknown }) => {
        const raw = typeof e?.code === 'string' ? e.code : '';
        const code = Object.hasOwn(ERROR_CODES, raw) ? raw : 'UNKNOWN';
        const msg = typeof e?.message === 'string' && e.message ? e.message : ERROR_CODES[code]!;
        return { code, text: `${codeText(code)}: ${msg}` };
      });
      return { code: texts[0]!.code, message: texts.length === 1 ? texts[0]!.text : `errors:\n${texts.map((t) => `${t.text}\n`).join('')}` };
    }
    if (status === 401) return { code: 'UNAUTHORIZED', message: `unauthorized: ${ERROR_CODES.UNAUTHORIZED}` };
    const why = parsed === undefined ? goJsonError(body) : 'no error details found in HTTP response body';
    return { code: '', message: `error parsing HTTP ${status} response body: ${why}: ${JSON.stringify(clip(body))}` };
  }
  return { code: '', message: `received unexpected HTTP status: ${statusLine(status)}` };
}

/** The errdefs kind a registry error gets (dockerd maps an errcode's HTTP status; unauthorized is 401). */
export function kindOfCode(code: string): ErrorKind {
  return code === 'UNAUTHORIZED' ? 'unauthorized' : 'system';
}

export interface TokenOptions {
  /** A login: ask for a refresh token (offline_token=true, client_id=docker). */
  offline?: boolean;
  clientId?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface TokenResult {
  token: string;
  /** ms since the epoch. */
  expires: number;
  /** A refresh token the server gave (the login's IdentityToken). */
  refreshToken: string;
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export function basicAuthHeader(auth: AuthConfig | null): string | null {
  if (!auth?.username || !auth.password) return null;
  return basic(auth.username, auth.password);
}

/**
 * fetchToken asks the challenge's realm for a token for `scopes`. `url` is the request it is
 * for (errors read as Go's url.Error of that request: `Get "https://h/v2/": unauthorized: …`).
 */
export async function fetchToken(
  challenge: Challenge,
  scopes: string[],
  auth: AuthConfig | null,
  endpoint: Endpoint,
  forRequest: { op: string; url: string },
  opts: TokenOptions = {},
): Promise<TokenResult> {
  const fail = (kind: ErrorKind, reason: 'token' | 'no-token' | 'other', detail: string) => new RegistryError(kind, reason, forRequest.op, forRequest.url, detail);
  const realmText = challenge.params.realm;
  if (!realmText) throw fail('system', 'other', 'no realm specified for token auth challenge');
  let realm: URL;
  try {
    realm = new URL(realmText);
  } catch {
    throw fail('system', 'other', `parse "${realmText}": invalid URI for request`);
  }
  const service = challenge.params.service ?? '';
  const clientId = opts.clientId ?? 'docker';
  const refresh = auth?.identitytoken ?? '';
  const sendOpts: SendOptions = { tls: endpoint.tls, insecure: endpoint.insecure, signal: opts.signal, timeoutMs: opts.timeoutMs };
  let res;
  if (refresh) {
    const form = new URLSearchParams({ scope: scopes.join(' '), service, client_id: clientId, grant_type: 'refresh_token', refresh_token: refresh });
    res = await send(realm.toString(), { ...sendOpts, method: 'POST', redirect: true, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()) });
  } else {
    if (service) realm.searchParams.append('service', service);
    for (const s of scopes) realm.searchParams.append('scope', s);
    if (opts.offline) {
      realm.searchParams.append('offline_token', 'true');
      realm.searchParams.append('client_id', clientId);
    }
    const headers: Record<string, string> = {};
    if (auth?.username && auth.password) {
      realm.searchParams.append('account', auth.username);
      headers.Authorization = basic(auth.username, auth.password);
    }
    res = await send(realm.toString(), { ...sendOpts, headers });
  }
  const text = await res.text(1 << 20);
  if (res.status < 200 || res.status > 399) {
    const e = describeError(res.status, res.headers, text);
    throw fail(kindOfCode(e.code), 'token', e.message);
  }
  let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown; refresh_token?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw fail('system', 'other', `unable to decode token response: ${goJsonError(text)}`);
  }
  const token = typeof body.access_token === 'string' && body.access_token ? body.access_token : typeof body.token === 'string' ? body.token : '';
  if (!token) throw fail('system', 'no-token', 'authorization server did not include a token in the response');
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in >= 60 ? body.expires_in : 60;
  const issued = typeof body.issued_at === 'string' && !Number.isNaN(Date.parse(body.issued_at)) ? Date.parse(body.issued_at) : Date.now();
  const refreshToken = typeof body.refresh_token === 'string' ? body.refresh_token : '';
  return { token, expires: issued + expiresIn * 1000, refreshToken };
}

/** Tokens per realm, service, scopes and credentials, until they expire. */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; expires: number }>();

  static key(challenge: Challenge, scopes: string[], auth: AuthConfig | null): string {
    const who = createHash('sha256')
      .update(`${auth?.username ?? ''}\0${auth?.password ?? ''}\0${auth?.identitytoken ?? ''}`)
      .digest('hex');
    return `${challenge.params.realm ?? ''}|${challenge.params.service ?? ''}|${[...scopes].sort().join(' ')}|${who}`;
  }

  get(key: string): string | null {
    const t = this.tokens.get(key);
    if (!t) return null;
    if (Date.now() >= t.expires) {
      this.tokens.delete(key);
      return null;
    }
    return t.token;
  }

  set(key: string, token: string, expires: number): void {
    // A small map: drop expired ones when it grows.
    if (this.tokens.size > 256) for (const [k, v] of this.tokens) if (Date.now() >= v.expires) this.tokens.delete(k);
    this.tokens.set(key, { token, expires });
  }

  /** delete forgets a token the registry refused (invalid_token): the next request asks the realm again. */
  delete(key: string): void {
    this.tokens.delete(key);
  }

  clear(): void {
    this.tokens.clear();
  }
}
