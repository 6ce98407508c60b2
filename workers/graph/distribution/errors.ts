/**
 * Errors of the registry transport, worded as dockerd's (Go's net/http and docker/distribution)
 * so a user sees the same text from berth: `Get "https://h/v2/": dial tcp h: connect:
 * connection refused`, `unauthorized: authentication required`, `no basic auth credentials`.
 *
 * A RegistryError keeps the parts apart: `op` and `url` (Go's url.Error), `detail` (the inner
 * error, which dockerd sometimes shows alone: "no basic auth credentials"), and `reason`, what
 * went wrong, so pull/push/login decide about falling back to the next endpoint without reading
 * messages. Its kind (HTTP status on the API) defaults to `system` (500), as dockerd's.
 */
import { BerthError, type ErrorKind } from '../../../src/errdefs/errors.js';

export type RegistryErrorReason =
  /** No connection, refused, reset, DNS: nothing came back from the registry. */
  | 'network'
  /** The TLS handshake failed (unknown authority, plain http on the port, bad name). */
  | 'tls'
  /** No bytes for the idle timeout. */
  | 'timeout'
  /** The caller's signal fired. */
  | 'aborted'
  /** The registry's challenge asks for Basic and there are no credentials. */
  | 'no-credentials'
  /** The token server refused the credentials or the scope (errcode unauthorized / denied). */
  | 'token'
  /** The token server answered without a token. */
  | 'no-token'
  /** Anything else (bad redirect, bad URL, too many redirects). */
  | 'other';

export class RegistryError extends BerthError {
  constructor(
    kind: ErrorKind,
    readonly reason: RegistryErrorReason,
    /** Go's url.Error Op: "Get", "Head", "Put", "Post", "Patch", "Delete". */
    readonly op: string,
    readonly url: string,
    /** The inner error's text (what dockerd prints when it unwraps url.Error). */
    readonly detail: string,
    /**
     * dockerd would try the next endpoint (https → http, mirror → registry). By default: nothing
     * reached the registry's HTTP layer; login and ping set it from "did /v2/ say registry/2.0".
     */
    readonly fallback: boolean = reason === 'network' || reason === 'tls' || reason === 'timeout',
  ) {
    super(kind, op ? `${op} "${url}": ${detail}` : detail);
  }
}

/** Go's urlErrorOp: "GET" → "Get". */
export function opOf(method: string): string {
  return method.slice(0, 1) + method.slice(1).toLowerCase();
}

/** A node socket or TLS error, in Go's words, and what kind of failure it was. */
export function goNetError(err: NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string }, host: string, local?: string, remote?: string): { reason: RegistryErrorReason; detail: string } {
  const code = err.code ?? '';
  const addr = err.address !== undefined && err.port !== undefined ? `${err.address.includes(':') ? `[${err.address}]` : err.address}:${err.port}` : host;
  switch (code) {
    case 'ECONNREFUSED':
      return { reason: 'network', detail: `dial tcp ${addr}: connect: connection refused` };
    case 'ECONNRESET':
      return { reason: 'network', detail: local && remote ? `read tcp ${local}->${remote}: read: connection reset by peer` : 'read: connection reset by peer' };
    case 'EPIPE':
      return { reason: 'network', detail: local && remote ? `write tcp ${local}->${remote}: write: broken pipe` : 'write: broken pipe' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { reason: 'network', detail: `dial tcp: lookup ${err.hostname ?? host.replace(/:\d+$/, '')}: no such host` };
    case 'ETIMEDOUT':
      return { reason: 'network', detail: `dial tcp ${addr}: i/o timeout` };
    case 'EHOSTUNREACH':
      return { reason: 'network', detail: `dial tcp ${addr}: connect: no route to host` };
    case 'ENETUNREACH':
      return { reason: 'network', detail: `dial tcp ${addr}: connect: network is unreachable` };
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return { reason: 'tls', detail: 'x509: certificate signed by unknown authority' };
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return { reason: 'tls', detail: 'x509: certificate has expired or is not yet valid' };
    case 'ERR_TLS_CERT_ALTNAME_INVALID': {
      const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      return { reason: 'tls', detail: `x509: certificate is not valid for ${name}` };
    }
  }
  const msg = err.message ?? String(err);
  // An https request answered by a plain http server: OpenSSL reads the HTTP reply as a record.
  if (/wrong version number|packet length too long|http request|unknown protocol/i.test(msg)) {
    return { reason: 'tls', detail: 'http: server gave HTTP response to HTTPS client' };
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code === 'EPROTO' || /ssl|tls|certificate/i.test(msg)) {
    return { reason: 'tls', detail: `remote error: tls: ${msg.replace(/^.*?:\s*/, '')}` };
  }
  return { reason: 'network', detail: msg };
}
