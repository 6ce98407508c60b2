/**
 * The generic actor loop that runs inside every worker thread (OTP's gen_server; each
 * workers/<actor>/main.ts is the callback module that hands it its handlers).
 *
 * It says hello (protocol version + the jobs it serves), decodes job envelopes, runs the typed
 * handler with a JobContext, and replies with a Status and a result or a typed error. It also
 * lets the actor submit jobs of its own to the engine (the api actor does, for every request),
 * carries cancellation both ways, turns log calls into log envelopes, obeys failpoint actions
 * the engine attached to a job, and serves the comlink control facade (health, stats,
 * shutdown) on its own channel.
 *
 * Not for: deciding anything about restarts (the engine's supervisor does), or importing
 * another actor's code.
 */
import { MessageChannel, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { expose } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Status, fromWire, toWire, CancelledError, DeadlineError, UnavailableError } from '../errdefs/errors.js';
import { decode, encode } from '../protocol/codec.js';
import { Env } from '../protocol/env.js';
import { DEFAULT_TIMEOUT_MS, JOBS, type ArgsOf, type JobName, type JobsOf, type ResultOf, type WorkerActorName } from '../protocol/jobs.js';
import {
  PROTOCOL_VERSION,
  type ActorWorkerData,
  type Envelope,
  type FailpointAction,
  type JobEnvelope,
  type JobPorts,
  type LogLevel,
  type Posted,
} from '../protocol/messages.js';
import { PortReader, PortWriter, pump } from '../protocol/stream.js';

/** What a handler gets besides its args. */
export interface JobContext {
  readonly id: number;
  readonly job: string;
  readonly env: Env;
  /** Fires when the caller cancels (client gone, deadline, shutdown). */
  readonly signal: AbortSignal;
  /** The job's output stream, for jobs declared `stream: true`. */
  readonly stdout: PortWriter | null;
  /** takeStdout hands the raw output port on (to a pool task that writes it, and ends it). */
  takeStdout(): MessagePort | null;
  /** The job's input stream, for jobs declared `stdin: true` (read it, or take its port). */
  readonly stdin: PortReader | null;
  /** takeStdin hands the raw input port on (to a pool task), instead of reading it here. */
  takeStdin(): MessagePort | null;
  readonly engine: EngineClient;
  readonly log: ActorLogger;
}

/** The handlers an actor must implement: exactly the jobs the protocol says it owns. */
export type Handlers<A extends WorkerActorName> = {
  [K in JobsOf<A>]: (args: ArgsOf<K>, ctx: JobContext) => Promise<ResultOf<K>>;
};

/** What the engine can ask of an actor outside the job protocol (comlink, not the hot path). */
export interface ControlApi {
  health(): { ok: true; jobsInFlight: number; heapUsed: number };
  stats(): Record<string, unknown>;
  shutdown(): Promise<void>;
  /** Follow the daemon's log level (SIGHUP can change it). */
  setLogLevel(level: LogLevel): void;
}

export interface ActorModule<A extends WorkerActorName> {
  handlers: Handlers<A>;
  /** Release what the actor holds (listeners, children) before the thread ends. */
  shutdown?(): Promise<void>;
  stats?(): Record<string, unknown>;
}

export interface JobOptions {
  env?: Env | string[];
  signal?: AbortSignal;
  timeoutMs?: number;
  /** The job's input, for jobs declared `stdin: true`. */
  stdin?: AsyncIterable<Uint8Array>;
}

export interface ActorLogger {
  /** Whether a level is logged at all (to skip building messages that would be dropped). */
  enabled(level: LogLevel): boolean;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  cleanup(): void;
}

/** EngineClient submits jobs from this actor to the engine (which routes them on). */
export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly post: (env: Envelope, ports?: JobPorts) => void) {}

  /** job runs a job that returns a result. */
  job<K extends JobName>(name: K, args: ArgsOf<K>, opts: JobOptions = {}): Promise<ResultOf<K>> {
    return this.start(name, args, opts, undefined) as Promise<ResultOf<K>>;
  }

  /** stream runs a job that writes a byte stream; iterate `output`, await `done`. */
  stream<K extends JobName>(name: K, args: ArgsOf<K>, opts: JobOptions = {}): { output: PortReader; done: Promise<ResultOf<K>> } {
    const { port1, port2 } = new MessageChannel();
    const output = new PortReader(port1);
    const done = this.start(name, args, opts, port2) as Promise<ResultOf<K>>;
    done.catch(() => output.closeSoon());
    return { output, done };
  }

  /** untyped is for callers that only know the name at run time (tests, the catchall). */
  untyped(name: string, args: unknown, opts: JobOptions = {}): Promise<unknown> {
    return this.start(name, args, opts, undefined);
  }

  private start(name: string, args: unknown, opts: JobOptions, stdout: MessagePort | undefined): Promise<unknown> {
    const id = this.nextId++;
    const spec = (JOBS as Record<string, { stream?: boolean; timeoutMs?: number }>)[name];
    const timeoutMs = opts.timeoutMs ?? spec?.timeoutMs ?? (spec?.stream ? 0 : DEFAULT_TIMEOUT_MS);
    const env = opts.env instanceof Env ? opts.env.toList() : opts.env;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        this.cancel(id);
        settle(() => reject(new CancelledError(`${name}: cancelled`)));
      };
      const settle = (f: () => void) => {
        if (!this.pending.has(id)) return;
        this.pending.get(id)!.cleanup();
        this.pending.delete(id);
        f();
      };
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(id, {
        resolve: (v) => settle(() => resolve(v)),
        reject: (e) => settle(() => reject(e)),
        cleanup,
      });
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.cancel(id);
          settle(() => reject(new DeadlineError(`${name}: no answer within ${timeoutMs} ms`)));
        }, timeoutMs);
      }
      let stdin: MessagePort | undefined;
      if (opts.stdin) {
        const ch = new MessageChannel();
        stdin = ch.port2;
        void pump(opts.stdin, new PortWriter(ch.port1));
      }
      this.post({ t: 'job', id, job: name, args, env, timeoutMs }, { stdout, stdin });
    });
  }

  private cancel(id: number): void {
    this.post({ t: 'cancel', id });
  }

  /** onReply is called by the runtime for every reply envelope. */
  onReply(id: number, status: number, result: unknown, error: Parameters<typeof fromWire>[0] | undefined): void {
    const p = this.pending.get(id);
    if (!p) return; // cancelled or timed out already
    if (status === Status.OK) p.resolve(result);
    else p.reject(fromWire(error ?? { kind: 'system', message: 'job failed without an error' }));
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Fail every job this actor is waiting on (the engine went away). */
  failAll(err: Error): void {
    for (const p of [...this.pending.values()]) p.reject(err);
  }
}

/** runActor starts the loop; call it once from workers/<actor>/main.ts. */
export function runActor<A extends WorkerActorName>(actor: A, mod: ActorModule<A>): { engine: EngineClient; log: ActorLogger } {
  if (!parentPort) throw new Error(`${actor}: runActor must run in a worker thread`);
  const port = parentPort;
  const data = workerData as ActorWorkerData;
  const running = new Map<number, AbortController>();

  const post = (env: Envelope, ports: JobPorts = {}) => {
    const b = encode(env);
    const msg: Posted = { b };
    const transfer: Array<ArrayBuffer | MessagePort> = [b.buffer as ArrayBuffer];
    if (ports.stdout) (msg.p = ports.stdout), transfer.push(ports.stdout);
    if (ports.stdin) (msg.i = ports.stdin), transfer.push(ports.stdin);
    port.postMessage(msg, transfer);
  };

  const log = makeLogger(post, data.logLevel ?? 'info', actor);
  const engine = new EngineClient(post);
  const handlers = mod.handlers as unknown as Record<string, (args: unknown, ctx: JobContext) => Promise<unknown>>;

  async function runJob(env: JobEnvelope, stdoutPort: MessagePort | undefined, stdinPort: MessagePort | undefined): Promise<void> {
    const ac = new AbortController();
    running.set(env.id, ac);
    let rawStdout: MessagePort | null = stdoutPort ?? null;
    let stdout: PortWriter | null = null;
    const stdoutWriter = () => {
      if (!stdout && rawStdout) {
        stdout = new PortWriter(rawStdout);
        rawStdout = null;
        stdout.closed.addEventListener('abort', () => ac.abort(), { once: true });
      }
      return stdout;
    };
    let rawStdin: MessagePort | null = stdinPort ?? null;
    let stdinReader: PortReader | null = null;
    try {
      if (env.fp) await obeyFailpoint(env.fp);
      const handler = handlers[env.job];
      if (!handler) throw new UnavailableError(`${actor}: no handler for ${env.job}`);
      const ctx: JobContext = {
        id: env.id,
        job: env.job,
        env: new Env(env.env ?? []),
        signal: ac.signal,
        get stdout() {
          return stdoutWriter();
        },
        takeStdout: () => {
          const p = rawStdout;
          rawStdout = null;
          return p;
        },
        get stdin() {
          if (!stdinReader && rawStdin) {
            stdinReader = new PortReader(rawStdin);
            rawStdin = null;
          }
          return stdinReader;
        },
        takeStdin: () => {
          const p = rawStdin;
          rawStdin = null;
          return p;
        },
        engine,
        log,
      };
      const result = await handler(env.args, ctx);
      stdoutWriter()?.end();
      post({ t: 'reply', id: env.id, status: Status.OK, result });
    } catch (err) {
      stdoutWriter()?.fail(err);
      const w = toWire(err);
      if (w.kind === 'system') log.error(`${env.job} failed`, { error: w.message });
      post({ t: 'reply', id: env.id, status: w.kind === 'jobNotFound' ? Status.NOT_FOUND : Status.ERR, error: w });
    } finally {
      running.delete(env.id);
      // Input nobody read: tell the sender to stop.
      if (rawStdin) new PortReader(rawStdin).close();
      (stdinReader as PortReader | null)?.close(); // assigned in the ctx getter
    }
  }

  port.on('message', (msg: Posted) => {
    const env = decode<Envelope>(msg.b);
    switch (env.t) {
      case 'job':
        void runJob(env, msg.p, msg.i);
        break;
      case 'reply':
        engine.onReply(env.id, env.status, env.result, env.error);
        break;
      case 'cancel':
        running.get(env.id)?.abort();
        break;
      default:
        log.warn('unexpected envelope from the engine', { t: (env as { t: string }).t });
    }
  });

  let stopping = false;
  const control: ControlApi = {
    health: () => ({ ok: true, jobsInFlight: running.size, heapUsed: process.memoryUsage().heapUsed }),
    stats: () => ({ actor, jobsInFlight: running.size, jobsWaiting: engine.inFlight, ...(mod.stats?.() ?? {}) }),
    setLogLevel: (level) => log.setLevel(level),
    shutdown: async () => {
      if (stopping) return;
      stopping = true;
      for (const ac of running.values()) ac.abort();
      await mod.shutdown?.();
      engine.failAll(new UnavailableError(`${actor}: shutting down`));
    },
  };
  expose(control, nodeEndpoint(data.control));

  post({ t: 'hello', v: PROTOCOL_VERSION, actor, jobs: Object.keys(mod.handlers) });
  return { engine, log };
}

function makeLogger(post: (env: Envelope) => void, initial: LogLevel, actor: string): ActorLogger & { setLevel(l: LogLevel): void } {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  let level = initial;
  const emit = (l: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (order[l] >= order[level]) post({ t: 'log', level: l, msg, fields: { actor, ...fields } });
  };
  return {
    enabled: (l) => order[l] >= order[level],
    setLevel: (l) => (level = l),
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
  };
}

/**
 * obeyFailpoint does what a failpoint asks, in this actor's own thread, so the fault is real:
 * an uncaught error, process.exit, a spinning event loop, a heap exhausted.
 */
async function obeyFailpoint(fp: FailpointAction): Promise<void> {
  switch (fp.action) {
    case 'crash':
      setImmediate(() => {
        throw new Error('failpoint: crash');
      });
      await new Promise(() => {}); // never answer: the crash answers for us
      return;
    case 'exit':
      process.exit(fp.code ?? 3);
      return;
    case 'hang':
      // eslint-disable-next-line no-constant-condition
      for (;;) {
        // Spin: the event loop is blocked, so health pings go unanswered.
      }
    case 'oom': {
      const hog: unknown[] = [];
      for (;;) hog.push(new Array(1 << 20).fill(hog.length));
    }
    case 'delay':
      await new Promise((r) => setTimeout(r, fp.ms));
      return;
    case 'error':
      throw fromWire({ kind: fp.kind, message: fp.message });
  }
}
