/**
 * ActorHandle owns one worker thread of one actor: it spawns it, checks its hello (protocol
 * version, jobs), forwards jobs to it, runs the jobs it submits, relays its log records, and
 * the moment the thread ends answers every job in flight to it with `unavailable` — never
 * leaves one hanging. Restart decisions are the supervisor's.
 *
 * The control facade (health, stats, shutdown) is comlink on a channel of its own; every call
 * races the thread's exit and a deadline, because comlink leaves calls to a dead worker pending
 * forever (comlink #601).
 */
import { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort, type ResourceLimits } from 'node:worker_threads';
import { wrap, releaseProxy, type Remote } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Status, SystemError, UnavailableError, fromWire, toWire } from '../errdefs/errors.js';
import { decode, encode } from '../protocol/codec.js';
import type { WorkerActorName } from '../protocol/jobs.js';
import type { ActorReport } from '../protocol/types/system.js';
import {
  PROTOCOL_VERSION,
  type ActorWorkerData,
  type Envelope,
  type FailpointAction,
  type HelloEnvelope,
  type JobPorts,
  type LogLevel,
  type Posted,
} from '../protocol/messages.js';
import type { ControlApi } from '../actor/runtime.js';
import { log } from '../log/log.js';
import type { Engine } from './engine.js';
import type { Job } from './job.js';

/** A child spec, as OTP's: data, not code. */
export interface ChildSpec {
  id: WorkerActorName;
  /** The compiled entry file of the actor (dist/workers/<id>/main.js). */
  entry: URL;
  restart: 'permanent';
  /** How long a graceful stop may take before the thread is terminated. */
  shutdownMs: number;
  /** How long the start handshake may take. */
  startMs: number;
  resourceLimits?: ResourceLimits;
}

export interface ExitInfo {
  code: number;
  reason: string;
  expected: boolean;
}

interface Pending {
  job: Job;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class ActorHandle extends EventEmitter {
  private worker: Worker | null = null;
  private control: Remote<ControlApi> | null = null;
  private controlPort: MessagePort | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly incoming = new Map<number, Job>();
  private lastError: Error | null = null;
  private killReason: string | null = null;
  private exitPromise: Promise<void> = Promise.resolve();
  /** Control calls waiting: rejected when the thread ends (a per-call hook, removed after). */
  private readonly controlWaiters = new Set<(err: Error) => void>();
  private stopping = false;
  /** Incremented at every spawn, so a late message from an old thread is recognised. */
  incarnation = 0;
  threadId = -1;

  constructor(
    readonly spec: ChildSpec,
    private readonly engine: Engine,
    private logLevel: LogLevel,
  ) {
    super();
  }

  get alive(): boolean {
    return this.worker !== null;
  }

  /** spawn starts the thread and waits for its hello; it resolves to the jobs it serves. */
  spawn(): Promise<string[]> {
    if (this.worker) throw new Error(`${this.spec.id}: already running`);
    this.stopping = false;
    this.lastError = null;
    this.killReason = null;
    const incarnation = ++this.incarnation;
    const { port1, port2 } = new MessageChannel();
    const data: ActorWorkerData = { actor: this.spec.id, protocolVersion: PROTOCOL_VERSION, control: port2, logLevel: this.logLevel };
    const worker = new Worker(this.spec.entry, {
      workerData: data,
      transferList: [port2],
      resourceLimits: this.spec.resourceLimits,
      name: `berth-${this.spec.id}`,
    });
    this.worker = worker;
    this.threadId = worker.threadId;
    this.controlPort = port1;
    this.control = wrap<ControlApi>(nodeEndpoint(port1));
    let resolveExit!: () => void;
    this.exitPromise = new Promise((r) => (resolveExit = r));

    return new Promise<string[]>((resolve, reject) => {
      let helloSeen = false;
      const timer = setTimeout(() => {
        reject(new Error(`${this.spec.id} actor did not say hello within ${this.spec.startMs} ms`));
        void worker.terminate();
      }, this.spec.startMs);

      worker.on('message', (msg: Posted) => {
        if (incarnation !== this.incarnation) return;
        let env: Envelope;
        try {
          env = decode<Envelope>(msg.b);
        } catch (err) {
          log('error', 'undecodable envelope from actor', { actor: this.spec.id, error: toWire(err).message });
          return;
        }
        if (env.t === 'hello') {
          clearTimeout(timer);
          helloSeen = true;
          const problem = this.checkHello(env);
          if (problem) {
            reject(new Error(problem));
            void worker.terminate();
            return;
          }
          resolve(env.jobs);
          return;
        }
        this.onEnvelope(env, msg);
      });
      worker.on('error', (err) => {
        this.lastError = err;
      });
      worker.on('exit', (code) => {
        clearTimeout(timer);
        if (incarnation !== this.incarnation) return;
        const info = this.onExit(code);
        resolveExit();
        if (!helloSeen) reject(new Error(`${this.spec.id} actor ended before its hello: ${info.reason}`));
        this.emit('exit', info);
      });
    });
  }

  private checkHello(h: HelloEnvelope): string | null {
    if (h.v !== PROTOCOL_VERSION) return `${this.spec.id} actor speaks protocol ${h.v}, the engine ${PROTOCOL_VERSION}`;
    if (h.actor !== this.spec.id) return `the ${this.spec.id} entry started a ${h.actor} actor`;
    return null;
  }

  /** send forwards a job to the worker; the promise settles with its reply or its death. */
  send(job: Job, fp?: FailpointAction): Promise<unknown> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new UnavailableError(`the ${this.spec.id} actor is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { job, resolve, reject });
      const onAbort = () => {
        if (this.pending.has(id)) this.post({ t: 'cancel', id });
      };
      job.signal.addEventListener('abort', onAbort, { once: true });
      const stdout = job.stdout.takePort() ?? undefined;
      const stdin = job.stdin.takePort() ?? undefined;
      try {
        this.post({ t: 'job', id, job: job.name, args: job.args, env: job.env.toList(), fp }, { stdout, stdin });
      } catch (err) {
        this.pending.delete(id);
        reject(new SystemError(`cannot encode the job ${job.name}: ${(err as Error).message}`));
      }
    });
  }

  private post(env: Envelope, ports: JobPorts = {}): void {
    if (!this.worker) return;
    let b: Uint8Array;
    try {
      b = encode(env);
    } catch (err) {
      // A value msgpack cannot carry: answer with an error rather than crash the main thread.
      if (env.t !== 'reply' && env.t !== 'job') throw err;
      b = encode(env.t === 'reply' ? { t: 'reply', id: env.id, status: Status.ERR, error: { kind: 'system', message: `cannot encode the reply: ${(err as Error).message}` } } : env);
    }
    const msg: Posted = { b };
    const transfer: Array<ArrayBuffer | MessagePort> = [b.buffer as ArrayBuffer];
    if (ports.stdout) (msg.p = ports.stdout), transfer.push(ports.stdout);
    if (ports.stdin) (msg.i = ports.stdin), transfer.push(ports.stdin);
    this.worker.postMessage(msg, transfer);
  }

  private onEnvelope(env: Envelope, msg: Posted): void {
    switch (env.t) {
      case 'reply': {
        const p = this.pending.get(env.id);
        if (!p) return;
        this.pending.delete(env.id);
        if (env.status === Status.OK) p.resolve(env.result);
        else p.reject(fromWire(env.error ?? { kind: 'system', message: 'job failed' }));
        return;
      }
      case 'job': {
        // A job this actor submits (the api actor does for every request): run it here.
        const job = this.engine.job(env.job, env.args, { env: env.env, stdoutPort: msg.p ?? null, stdinPort: msg.i ?? null, from: this.spec.id });
        this.incoming.set(env.id, job);
        const incarnation = this.incarnation;
        this.engine.run(job).then(
          (result) => {
            if (this.incoming.get(env.id) === job) this.incoming.delete(env.id);
            if (incarnation === this.incarnation) this.post({ t: 'reply', id: env.id, status: Status.OK, result });
          },
          (err) => {
            if (this.incoming.get(env.id) === job) this.incoming.delete(env.id);
            const w = toWire(err);
            if (incarnation === this.incarnation) {
              this.post({ t: 'reply', id: env.id, status: job.status ?? Status.ERR, error: w });
            }
          },
        );
        return;
      }
      case 'cancel':
        this.incoming.get(env.id)?.cancel();
        return;
      case 'log':
        log(env.level, env.msg, env.fields);
        return;
      default:
        log('warn', 'unexpected envelope from actor', { actor: this.spec.id, t: env.t });
    }
  }

  private onExit(code: number): ExitInfo {
    const expected = this.stopping;
    const err = this.lastError as (Error & { code?: string }) | null;
    const reason =
      this.killReason ? this.killReason
      : err?.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out of memory'
      : err ? `uncaught error: ${err.message}`
      : `exited with code ${code}`;
    this.worker = null;
    this.control?.[releaseProxy]?.();
    this.control = null;
    this.controlPort?.close();
    this.controlPort = null;
    const unavailable = expected
      ? new UnavailableError(`the ${this.spec.id} actor stopped`)
      : new UnavailableError(`the ${this.spec.id} actor crashed (${reason}) and is being restarted`);
    for (const p of this.pending.values()) p.reject(unavailable);
    this.pending.clear();
    for (const reject of this.controlWaiters) reject(new UnavailableError(`the ${this.spec.id} actor ended`));
    this.controlWaiters.clear();
    // Whoever asked these is gone: their answers have nowhere to go.
    for (const job of this.incoming.values()) job.cancel();
    this.incoming.clear();
    return { code, reason, expected };
  }

  /** callControl runs one control call, failing fast if the thread dies or the deadline passes. */
  async callControl<T>(f: (c: Remote<ControlApi>) => Promise<T>, timeoutMs: number): Promise<T> {
    const c = this.control;
    if (!c) throw new UnavailableError(`the ${this.spec.id} actor is not running`);
    let timer: NodeJS.Timeout | undefined;
    let onExit: ((err: Error) => void) | undefined;
    try {
      return await Promise.race([
        f(c),
        new Promise<never>((_, reject) => {
          onExit = reject;
          this.controlWaiters.add(reject);
          timer = setTimeout(() => reject(new UnavailableError(`the ${this.spec.id} actor did not answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onExit) this.controlWaiters.delete(onExit);
    }
  }

  /** setLogLevel applies to the running thread and to every later incarnation. */
  async setLogLevel(level: LogLevel): Promise<void> {
    this.logLevel = level;
    if (this.alive) await this.callControl((c) => c.setLogLevel(level), 2_000).catch(() => {});
  }

  /** kill ends the thread now (a hung actor); the exit handler does the rest. */
  kill(reason: string): Promise<void> {
    if (this.worker) this.killReason = reason;
    void this.worker?.terminate();
    return this.exitPromise;
  }

  /** stop asks the actor to release what it holds, then ends the thread. */
  async stop(): Promise<void> {
    if (!this.worker) return;
    this.stopping = true;
    try {
      await this.callControl((c) => c.shutdown(), this.spec.shutdownMs);
    } catch (err) {
      log('warn', 'actor did not stop cleanly; terminating it', { actor: this.spec.id, error: toWire(err).message });
    }
    await this.worker?.terminate();
    await this.exitPromise;
  }

  /** For the SIGQUIT dump. */
  describe(): Pick<ActorReport, 'threadId' | 'alive' | 'incarnation' | 'jobsInFlight' | 'jobsSubmitted'> {
    const now = Date.now();
    return {
      threadId: this.threadId,
      alive: this.alive,
      incarnation: this.incarnation,
      jobsInFlight: [...this.pending.values()].map((p) => ({ job: p.job.describe(), from: p.job.from, ageMs: now - p.job.startedAt })),
      jobsSubmitted: [...this.incoming.values()].map((j) => ({ job: j.describe(), ageMs: now - j.startedAt })),
    };
  }
}
