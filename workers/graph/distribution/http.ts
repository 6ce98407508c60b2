/**
 * One HTTP exchange with a registry (node:http / node:https): the endpoint's TLS settings
 * (extra CAs beside the system's, a client pair, verification off for insecure registries),
 * redirects followed for GET/HEAD (blob downloads go to storage) without carrying the
 * Authorization header to another host, an idle timeout that fails with a clear error, and
 * the caller's abort signal. Errors are RegistryErrors worded as dockerd's.
 *
 * Keep-alive agents are shared per TLS setting, so a pull's many requests reuse connections.
 */
import { createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { CancelledError } from '../../../src/errdefs/errors.js';
import { goNetError, opOf, RegistryError } from './errors.js';
import type { Endpoint, RequestOptions, Response } from './transport.js';
import { idleTimeout } from './settings.js';

export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** Go's http.Client follows at most 10 redirects. */
const MAX_REDIRECTS = 10;
const DEFAULT_TEXT_LIMIT = 4 << 20;

export const USER_AGENT = `berth/0.1.0 node/${process.versions.node} os/${process.platform} arch/${process.arch === 'x64' ? 'amd64' : process.arch}`;

export interface SendOptions extends RequestOptions {
  tls?: Endpoint['tls'];
  /** Do not verify the server's certificate (an insecure registry). */
  insecure?: boolean;
}

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 32, timeout: 30_000 });
const httpsAgents = new Map<string, HttpsAgent>();

function httpsAgentFor(tls: Endpoint['tls'] = {}, insecure = false): HttpsAgent {
  const h = createHash('sha256');
  h.update(insecure ? 'i' : 's');
  for (const ca of tls.ca ?? []) h.update(ca);
  if (tls.cert) h.update('\0cert').update(tls.cert);
  if (tls.key) h.update('\0key').update(tls.key);
  const key = h.digest('hex');
  let agent = httpsAgents.get(key);
  if (!agent) {
    agent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 32,
      timeout: 30_000,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: !insecure,
      // Node replaces its CA list when `ca` is given: keep the system's, as Go's SystemCertPool + AppendCertsFromPEM.
      ...(tls.ca?.length ? { ca: [...rootCertificates, ...tls.ca.map((b) => b.toString())] } : {}),
      ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
    });
    httpsAgents.set(key, agent);
  }
  return agent;
}

/** The origin (scheme://host:port) a request goes to; Authorization stays within one. */
export function originOf(url: string): string {
  return new URL(url).origin;
}

function makeResponse(res: IncomingMessage, op: string, url: string): Response {
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    body: res,
    text: (limit = DEFAULT_TEXT_LIMIT) =>
      new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > limit) {
            res.destroy();
            reject(new RegistryError('system', 'other', op, url, `response body larger than ${limit} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      }),
  };
}

/** Reads and drops a body (a redirect's, a retried 401's), so the connection is reused. */
export function drain(res: Response): void {
  res.body.on('error', () => {});
  res.body.resume();
}

/** One request, no redirects. */
function once(url: string, method: string, headers: OutgoingHttpHeaders, opts: SendOptions): Promise<Response> {
  const op = opOf(method);
  const u = new URL(url);
  const timeoutMs = idleTimeout(opts.timeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
  return new Promise<Response>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new RegistryError('cancelled', 'aborted', op, url, 'context canceled'));
      return;
    }
    const isHttps = u.protocol === 'https:';
    const req = (isHttps ? httpsRequest : httpRequest)(u, {
      method,
      headers,
      agent: isHttps ? httpsAgentFor(opts.tls, opts.insecure) : httpAgent,
    });
    let response: IncomingMessage | null = null;
    let settled = false;
    const fail = (err: RegistryError) => {
      if (response) {
        response.destroy(err);
      } else {
        req.destroy(err);
      }
    };
    const onAbort = () => fail(new RegistryError('cancelled', 'aborted', op, url, 'context canceled'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => opts.signal?.removeEventListener('abort', onAbort);
    if (timeoutMs > 0) {
      req.setTimeout(timeoutMs, () => {
        const secs = Math.round(timeoutMs / 100) / 10;
        fail(new RegistryError('deadline', 'timeout', op, url, response ? `timeout: the registry sent nothing for ${secs}s` : `timeout: no answer from the registry in ${secs}s`));
      });
    }
    req.on('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      if (settled) return;
      settled = true;
      if (err instanceof RegistryError || err instanceof CancelledError) {
        reject(err);
        return;
      }
      const s = req.socket;
      const local = s?.localAddress ? `${s.localAddress}:${s.localPort}` : undefined;
      const remote = s?.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : undefined;
      const { reason, detail } = goNetError(err, u.host, local, remote);
      reject(new RegistryError('system', reason, op, url, detail));
    });
    req.on('response', (res) => {
      response = res;
      settled = true;
      res.on('end', cleanup);
      res.on('close', cleanup);
      resolve(makeResponse(res, op, url));
    });
    const body = opts.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    }
  });
}

/**
 * send makes a request to an absolute URL. Redirects are followed for GET and HEAD unless
 * `redirect: false` (and for other methods only when asked): 301/302/303 turn into a GET
 * without a body; 307/308 keep the method and a Buffer body. Authorization is dropped when a
 * redirect goes to another origin (scheme, host or port: dockerd's authorizer only signs
 * requests to the registry), and https → http is refused unless the endpoint is insecure.
 */
export async function send(url: string, opts: SendOptions = {}): Promise<Response> {
  let method: string = opts.method ?? 'GET';
  const follow = opts.redirect ?? (method === 'GET' || method === 'HEAD');
  const headers: Record<string, string | number> = { 'User-Agent': USER_AGENT, ...opts.headers };
  let body = opts.body;
  if (Buffer.isBuffer(body) && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) headers['Content-Length'] = body.length;
  let current = url;
  for (let hops = 0; ; hops++) {
    const res = await once(current, method, headers, { ...opts, body });
    if (!follow || ![301, 302, 303, 307, 308].includes(res.status) || !res.headers.location) return res;
    if (hops + 1 >= MAX_REDIRECTS) {
      drain(res);
      throw new RegistryError('system', 'other', opOf(method), current, `stopped after ${MAX_REDIRECTS} redirects`);
    }
    const next = new URL(res.headers.location, current).toString();
    if ([307, 308].includes(res.status) && body instanceof Readable) return res; // the body cannot be sent twice
    drain(res);
    if ([301, 302, 303].includes(res.status) && method !== 'GET' && method !== 'HEAD') {
      method = 'GET';
      body = undefined;
      for (const k of Object.keys(headers)) if (/^content-(length|type)$/i.test(k)) delete headers[k];
    }
    const from = new URL(current);
    const to = new URL(next);
    if (to.protocol !== 'https:' && to.protocol !== 'http:') {
      throw new RegistryError('system', 'other', opOf(method), current, `refusing a redirect to ${JSON.stringify(next)}: not http or https`);
    }
    // A secure registry's answer must not be downgraded to plain http by a redirect.
    if (from.protocol === 'https:' && to.protocol === 'http:' && !opts.insecure) {
      throw new RegistryError('system', 'other', opOf(method), current, `refusing a redirect from https to plain http (${to.origin}) for a secure registry`);
    }
    // Credentials stay within one origin: scheme, host and port.
    if (to.origin !== from.origin) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
    }
    current = next;
  }
}

/** "401 Unauthorized", as Go's resp.Status. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
}
