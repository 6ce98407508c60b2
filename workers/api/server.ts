/**
 * ApiServer serves the Engine API on every -H host (the seed's ServeApi, §5.7).
 *
 * A request goes: wait for the activation gate (requests that arrive before
 * acceptconnections wait rather than fail: the seed's activationLock) → OPTIONS/CORS → strip
 * and check the /vX.Y prefix → route → handler → on a thrown error, the one error writer.
 * Handlers never write error responses themselves.
 */
import { createServer as createHttpServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { readFile } from 'node:fs/promises';
import { InvalidParameterError, NotFoundError, SystemError, toWire } from '../../src/errdefs/errors.js';
import type { ActorLogger, EngineClient } from '../../src/actor/runtime.js';
import type { ServeApiArgs } from '../../src/protocol/types/config.js';
import type { ApiStatus, VersionInfo } from '../../src/protocol/types/system.js';
import { Context, setUpgradeBody, writeError } from './httputils.js';
import { listenTcp, listenUnix, socketGid, type UnixListener } from './listeners.js';
import { Router } from './router.js';
import { API_VERSION, MIN_API_VERSION, compareVersions } from '../../src/protocol/api.js';
import { systemRoutes } from './routes/system/system.js';
import { imageRoutes } from './routes/image/image.js';
import { containerRoutes } from './routes/container/container.js';
import { networkRoutes } from './routes/network/network.js';
import { volumeRoutes } from './routes/volume/volume.js';
import { debugRoutes } from './routes/debug/debug.js';
import { pendingRoutes } from './routes/pending.js';
import { registryRoutes } from './routes/registry/registryRoutes.js';

const CORS_HEADERS = 'Origin, X-Requested-With, Content-Type, Accept, X-Registry-Auth';
const CORS_METHODS = 'HEAD, GET, POST, DELETE, PUT, OPTIONS';

export class ApiServer {
  private readonly servers: Server[] = [];
  private readonly unixListeners: UnixListener[] = [];
  private router = new Router();
  private args: ServeApiArgs | null = null;
  private openGate!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.openGate = resolve));
  private gateOpen = false;
  private listening: Promise<void> = new Promise(() => {});
  private versionCache: Promise<Buffer> | null = null;
  private cors = '';
  private serverHeader = 'berth (linux)';
  private inFlight = 0;

  constructor(
    private readonly engine: EngineClient,
    private readonly log: ActorLogger,
  ) {}

  /** serve listens on every host; it resolves once all listen (or rejects on the first failure). */
  async serve(args: ServeApiArgs, version: string): Promise<string[]> {
    if (this.args) throw new SystemError('serveapi is already running');
    this.args = args;
    this.cors = args.corsHeader;
    this.serverHeader = `berth/${version} (linux)`;
    this.router = this.buildRouter(args);
    let resolveListening!: () => void;
    this.listening = new Promise((r) => (resolveListening = r));

    const { gid, group } = await socketGid(args.socketGroup, args.socketGroupExplicit);
    const tlsOptions = args.tls ? await this.loadTls(args) : null;
    const done: string[] = [];
    try {
      for (const host of args.hosts) {
        // TLS is for tcp listeners only, as in dockerd: a unix socket is guarded by its permissions.
        const server = tlsOptions && host.proto === 'tcp' ? createHttpsServer(tlsOptions, (q, s) => this.handle(q, s)) : createHttpServer((q, s) => this.handle(q, s));
        // Long uploads (image load) and streams (events, logs) must not be cut by Node's default.
        server.requestTimeout = 0;
        // Attach asks for `Upgrade: tcp`: the same routes answer it, on a response made here.
        server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
        server.headersTimeout = 60_000;
        if (host.proto === 'unix') {
          this.unixListeners.push(await listenUnix(server, host.addr, gid));
          this.log.info(`API listen on ${host.addr}`, { group });
        } else {
          const [h, p] = splitHostPort(host.addr);
          const a = await listenTcp(server, h, p);
          this.log.info(`API listen on ${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`, { tls: Boolean(tlsOptions) });
        }
        this.servers.push(server);
        done.push(host.spec);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    resolveListening();
    return done;
  }

  /** Debug logging can be switched on at run time (SIGHUP), so ask each time. */
  private get debug(): boolean {
    return this.log.enabled('debug');
  }

  /** accept opens the gate: requests waiting since start-up are served now. */
  async accept(): Promise<void> {
    await this.listening;
    this.gateOpen = true;
    this.openGate();
  }

  get accepting(): boolean {
    return this.gateOpen;
  }

  private async loadTls(args: ServeApiArgs) {
    const read = async (what: string, path: string) => {
      try {
        return await readFile(path);
      } catch (err) {
        throw new SystemError(`failed to create API server: could not load TLS ${what} ${JSON.stringify(path)}: ${(err as Error).message}`);
      }
    };
    const cert = await read('certificate', args.tlsCert);
    const key = await read('key', args.tlsKey);
    const ca = args.tlsVerify ? await read('CA certificate', args.tlsCa) : undefined;
    // --tlsverify: a client must present a certificate signed by the CA (mutual TLS).
    return { cert, key, ca, requestCert: args.tlsVerify, rejectUnauthorized: args.tlsVerify, minVersion: 'TLSv1.2' as const };
  }

  private buildRouter(args: ServeApiArgs): Router {
    const r = new Router();
    systemRoutes(r, { version: () => this.version() });
    imageRoutes(r);
    containerRoutes(r, { maxJsonBody: args.maxJsonBody });
    networkRoutes(r, { maxJsonBody: args.maxJsonBody });
    volumeRoutes(r, { maxJsonBody: args.maxJsonBody });
    registryRoutes(r);
    if (args.failpoints) debugRoutes(r, { maxJsonBody: args.maxJsonBody });
    pendingRoutes(r);
    return r;
  }

  /** version answers from a cache filled once from the engine's `version` job: the JSON bytes. */
  private version(): Promise<Buffer> {
    if (!this.versionCache) {
      this.versionCache = this.engine.job('version', {}).then((v: VersionInfo) => Buffer.from(JSON.stringify(v) + '\n'));
      this.versionCache.catch(() => (this.versionCache = null));
    }
    return this.versionCache;
  }

  /**
   * upgrade serves a request that asks to take over its connection (Node hands those over
   * without a response object): one is made on the socket, so routing, errors and the
   * route's own hijack work as for any request.
   */
  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => socket.end());
    // The request's own body (exec start's JSON) comes before the stream: Node leaves it on the
    // socket once the connection is upgraded, so it is taken off here, Content-Length bytes.
    const length = Math.min(Number(req.headers['content-length'] ?? 0) || 0, 1 << 20);
    let body = head;
    const ready = () => {
      socket.off('data', more);
      if (body.length > length) socket.unshift(body.subarray(length));
      setUpgradeBody(req, body.subarray(0, length));
      void this.handle(req, res);
    };
    const more = (d: Buffer) => {
      body = Buffer.concat([body, d]);
      if (body.length >= length) {
        socket.pause();
        ready();
      }
    };
    if (body.length >= length) return ready();
    socket.on('data', more);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight++;
    try {
      if (!this.gateOpen) await this.gate;
      await this.dispatch(req, res);
    } catch (err) {
      const status = writeError(res, err);
      if (status >= 500 && status !== 501 && status !== 503) {
        this.log.error(`Handler for ${req.method} ${req.url} returned error: ${toWire(err).message}`);
      } else if (this.debug) {
        this.log.debug(`Handler for ${req.method} ${req.url} returned error: ${toWire(err).message}`, { status });
      }
    } finally {
      this.inFlight--;
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    // Split by hand: new URL() costs more than the whole /_ping answer.
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    let path = q < 0 ? raw : raw.slice(0, q);
    const search = q < 0 ? '' : raw.slice(q + 1);
    if (this.debug) this.log.debug(`Calling ${method} ${path}`);
    if (this.cors) {
      res.setHeader('Access-Control-Allow-Origin', this.cors);
      res.setHeader('Access-Control-Allow-Headers', CORS_HEADERS);
      res.setHeader('Access-Control-Allow-Methods', CORS_METHODS);
    }

    let version = API_VERSION;
    const m = path.charCodeAt(1) === 118 /* v */ ? /^\/v([0-9.]+)(\/.*)$/.exec(path) : null;
    if (m) {
      version = m[1]!;
      path = m[2]!;
    }
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', this.serverHeader);
    if (m && compareVersions(version, API_VERSION) > 0) {
      throw new InvalidParameterError(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
    }
    if (m && compareVersions(version, MIN_API_VERSION) < 0) {
      throw new InvalidParameterError(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
    }
    res.setHeader('Docker-Experimental', 'false');

    if (method === 'OPTIONS') {
      // CORS preflight (and dockerd answers OPTIONS on any path with 200).
      res.writeHead(200, { 'Content-Length': 0 });
      res.end();
      return;
    }
    const match = this.router.match(method, path);
    if (!match) {
      for (const h of ['Api-Version', 'Ostype', 'Server', 'Docker-Experimental']) res.removeHeader(h);
      throw new NotFoundError('page not found');
    }
    await match.route.handler(new Context(req, res, match.vars, search, version, this.engine, this.log));
  }

  /**
   * close stops listening and removes the unix sockets at once, ends idle keep-alive
   * connections, and gives requests in flight `graceMs` before cutting them.
   */
  async close(graceMs = 2_000): Promise<void> {
    const servers = this.servers.splice(0);
    const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const l of this.unixListeners.splice(0)) await l.cleanup();
    for (const s of servers) s.closeIdleConnections();
    const timer = setTimeout(() => servers.forEach((s) => s.closeAllConnections()), graceMs);
    await Promise.all(closed);
    clearTimeout(timer);
  }

  status(): ApiStatus {
    return { listeners: this.servers.length, requestsInFlight: this.inFlight, accepting: this.gateOpen };
  }
}

/** splitHostPort splits "host:port" and "[v6]:port". */
export function splitHostPort(addr: string): [string, number] {
  const m = /^\[(.*)\]:(\d+)$/.exec(addr) ?? /^([^:]*):(\d+)$/.exec(addr);
  if (!m) throw new SystemError(`bad tcp address ${addr}`);
  return [m[1]!, Number(m[2])];
}
