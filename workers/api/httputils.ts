/**
 * Small helpers every route uses: the route context, JSON in and out, query parsing as
 * dockerd's httputils does it, and the one place an error becomes a response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BerthError,
  InvalidParameterError,
  RequestEntityTooLargeError,
  httpStatusOf,
  toWire,
} from '../../src/errdefs/errors.js';
import type { EngineClient, ActorLogger } from '../../src/actor/runtime.js';
import { parseJson } from '../../src/protocol/json.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** Path variables, e.g. {name} of /containers/{name}/json. */
  vars: Record<string, string>;
  query: URLSearchParams;
  /** The API version of this request (its /vX.Y prefix, or the current one). */
  version: string;
  engine: EngineClient;
  log: ActorLogger;
  /** Fires when the client goes away. */
  signal: AbortSignal;
}

export type RouteHandler = (ctx: RouteContext) => Promise<void>;

/**
 * Context is the RouteContext of one request. The query and the abort signal are made only
 * when a handler asks for them: most requests need neither, and /_ping is hot.
 */
export class Context implements RouteContext {
  private q: URLSearchParams | null = null;
  private ac: AbortController | null = null;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly vars: Record<string, string>,
    private readonly search: string,
    readonly version: string,
    readonly engine: EngineClient,
    readonly log: ActorLogger,
  ) {}

  get query(): URLSearchParams {
    return (this.q ??= new URLSearchParams(this.search));
  }

  get signal(): AbortSignal {
    if (!this.ac) {
      const ac = (this.ac = new AbortController());
      // The client went away before the response was finished.
      const onClose = () => {
        if (!this.res.writableFinished) ac.abort();
      };
      if (this.res.destroyed || this.req.socket?.destroyed) ac.abort();
      else this.res.once('close', onClose);
    }
    return this.ac.signal;
  }
}

/** writeJson writes a JSON document the way Go's encoder does (with a trailing newline). */
export function writeJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * writeError answers with the error's status and {"message"}, Content-Type exactly
 * application/json (the docker CLI compares the string). 304 carries no body.
 */
export function writeError(res: ServerResponse, err: unknown): number {
  const status = httpStatusOf(err);
  if (res.headersSent) {
    res.destroy();
    return status;
  }
  // Past the limit the rest of the body is not read. (A body refused part-way otherwise is read
  // and discarded by Node after the response, so the client, still sending, gets its answer.)
  if (status === 413) res.setHeader('Connection', 'close');
  if (status === 304) {
    res.writeHead(304);
    res.end();
    return status;
  }
  writeJson(res, status, { message: toWire(err).message });
  return status;
}

/** boolValue reads a query flag as dockerd does: absent, "", "0", "no", "false", "none" are false. */
export function boolValue(query: URLSearchParams, key: string): boolean {
  const v = (query.get(key) ?? '').trim().toLowerCase();
  return !(v === '' || v === '0' || v === 'no' || v === 'false' || v === 'none');
}

/** intValue reads an optional integer parameter; a malformed one is a 400. */
export function intValue(query: URLSearchParams, key: string, fallback: number): number {
  const v = query.get(key);
  if (v === null || v === '') return fallback;
  if (!/^-?\d+$/.test(v)) throw new InvalidParameterError(`invalid value for ${key}: ${JSON.stringify(v)}: not an integer`);
  return Number.parseInt(v, 10);
}

/** readBody reads a whole request body, refusing more than `limit` bytes (413). */
const upgradeBodies = new WeakMap<IncomingMessage, Buffer>();

/** setUpgradeBody records the body of an upgraded request (taken off its socket by the server). */
export function setUpgradeBody(req: IncomingMessage, body: Buffer): void {
  upgradeBodies.set(req, body);
}

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const upgraded = upgradeBodies.get(req);
  if (upgraded) return upgraded.length > limit ? Promise.reject(tooLarge(limit)) : Promise.resolve(upgraded);
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  // Event handlers, not `for await`: leaving an async iterator early destroys the request and
  // its socket, and the client would get a reset instead of the 413.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        req.socket?.once('drain', () => {});
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function tooLarge(limit: number): BerthError {
  return new RequestEntityTooLargeError(`request body is too large: the limit is ${limit} bytes`);
}

/**
 * readJson reads a JSON body as dockerd's CheckForJSON + decoder: an empty body is `undefined`;
 * a body with a Content-Type other than application/json is refused; malformed JSON is a 400
 * that says where (line and column).
 */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body.length === 0) return undefined;
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/json') {
    throw new InvalidParameterError(`unsupported Content-Type header (${req.headers['content-type'] ?? ''}): must be 'application/json'`);
  }
  try {
    return parseJson(body.toString('utf8'));
  } catch (err) {
    throw new InvalidParameterError(`invalid JSON: ${(err as Error).message}`);
  }
}

/** expectObject checks a decoded body is a JSON object (a wrong type is a 400 naming it). */
export function expectObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidParameterError(`${what} must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/** field checks one field's JSON type (a wrong type is a 400 naming the field). */
export function field<T extends 'string' | 'number' | 'boolean' | 'object'>(
  obj: Record<string, unknown>,
  key: string,
  type: T,
): (T extends 'string' ? string : T extends 'number' ? number : T extends 'boolean' ? boolean : Record<string, unknown>) | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  const actual = Array.isArray(v) ? 'array' : typeof v;
  if (actual !== type) throw new InvalidParameterError(`invalid type for field ${key}: expected ${type}, got ${actual}`);
  return v as never;
}
