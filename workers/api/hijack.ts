/**
 * Hijacking a connection, as dockerd does for attach: the response becomes a raw byte stream
 * both ways. With `Upgrade: tcp` the answer is 101 UPGRADED and the client's later bytes are
 * the container's stdin; without it, a 200 whose body is the stream (output only here: Node's
 * HTTP parser keeps reading the request side of a connection it has not upgraded).
 */
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { httpStatusOf, toWire } from '../../src/errdefs/errors.js';
import type { RouteContext } from './httputils.js';

export const RAW_STREAM = 'application/vnd.docker.raw-stream';

export function isUpgrade(ctx: RouteContext): boolean {
  return /\bupgrade\b/i.test(String(ctx.req.headers.connection ?? '')) && Boolean(ctx.req.headers.upgrade);
}

/** hijack writes the status line and headers on the socket itself and hands the socket over. */
export function hijack(ctx: RouteContext, withApiHeaders = false): Socket {
  const socket = ctx.req.socket;
  // dockerd's exec start (not its attach) also sends the API headers after the upgrade ones.
  const api = withApiHeaders ? ['Api-Version', 'Docker-Experimental', 'Ostype', 'Server'].map((h) => `${h}: ${String(ctx.res.getHeader(h) ?? '')}\r\n`).join('') : '';
  if (isUpgrade(ctx)) socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${RAW_STREAM}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${api}\r\n`);
  else socket.write(`HTTP/1.1 200 OK\r\nContent-Type: ${RAW_STREAM}\r\n\r\n`);
  return socket;
}

/** writeHijackError answers a failed attach as dockerd does: the status, then the message as text. */
export function writeHijackError(ctx: RouteContext, err: unknown): void {
  const status = httpStatusOf(err);
  const reason = STATUS_TEXT[status] ?? 'Error';
  ctx.req.socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${RAW_STREAM}\r\n\r\n${toWire(err).message}\r\n`);
}

/** writeSocket writes one chunk, waiting for 'drain' when the client reads slowly. */
export async function writeSocket(socket: Socket, chunk: Uint8Array, signal: AbortSignal): Promise<void> {
  if (!socket.write(chunk)) await once(socket, 'drain', { signal });
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable',
};
