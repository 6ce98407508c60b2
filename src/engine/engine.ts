/**
 * Engine is the seed's engine (§5.2): a table of handlers by job name, a catchall, the
 * `commands` job, and the shutdown contract (§5.3). Jobs owned by worker actors are
 * registered here as forwarders by the supervisor, so every job, wherever it runs, starts
 * with engine.job(name) and ends with a Status.
 *
 * Shutdown, as the 2014 engine:
 *   1. refuse new jobs, permanently ("engine is shutting down");
 *   2. wait for running jobs, up to 5 s (streaming jobs such as a followed GET /events only
 *      end when their client leaves, so they are cancelled first);
 *   3. call every shutdown handler concurrently, up to 10 s;
 *   4. return, at most 15 s after it started.
 */
import { randomBytes } from 'node:crypto';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import {
  DeadlineError,
  JobNotFoundError,
  UnavailableError,
  toWire,
} from '../errdefs/errors.js';
import { Env } from '../protocol/env.js';
import { DEFAULT_TIMEOUT_MS, JOBS, ownerOf, type ArgsOf, type JobName, type JobsOf, type ResultOf } from '../protocol/jobs.js';
import { PortWriter, pump, type PortReader } from '../protocol/stream.js';
import { enabled, logger } from '../log/log.js';
import { Job, type Handler } from './job.js';
import type { Failpoints } from './failpoints.js';

/** The handlers a main-thread owner ('engine' or 'daemon') must install: all of its jobs. */
export type MainHandlers<A extends 'engine' | 'daemon'> = {
  [K in JobsOf<A>]: (args: ArgsOf<K>, job: Job) => Promise<ResultOf<K>>;
};

export interface EngineOptions {
  /** How long shutdown waits for running jobs (seed: 5 s). */
  jobWaitMs?: number;
  /** How long shutdown waits for its handlers (seed: 10 s). */
  handlerWaitMs?: number;
  /** Log +job/-job lines at debug level (the seed's Logging). */
  logging?: boolean;
}

export interface JobOptions {
  env?: Env | readonly string[];
  stdoutPort?: MessagePort | null;
  stdinPort?: MessagePort | null;
  signal?: AbortSignal;
  from?: string;
}

export interface CallOptions {
  env?: Env | readonly string[];
  signal?: AbortSignal;
  timeoutMs?: number;
  /** The job's input, for jobs declared `stdin: true`. */
  stdin?: AsyncIterable<Uint8Array>;
}

export class Engine {
  /** A random id, as the seed's engine had (for logs). */
  readonly id = randomBytes(6).toString('hex');
  catchall: Handler | null = null;
  failpoints: Failpoints | null = null;
  private readonly handlers = new Map<string, Handler>();
  private readonly shutdownHandlers: Array<() => unknown> = [];
  private readonly running = new Map<number, Job>();
  private idleWaiters: Array<() => void> = [];
  private nextId = 1;
  private stopping = false;
  private stopped: Promise<void> | null = null;
  private readonly jobWaitMs: number;
  private readonly handlerWaitMs: number;
  private readonly logging: boolean;

  constructor(opts: EngineOptions = {}) {
    this.jobWaitMs = opts.jobWaitMs ?? 5_000;
    this.handlerWaitMs = opts.handlerWaitMs ?? 10_000;
    this.logging = opts.logging ?? true;
    this.register('commands', async (job) => {
      const names = this.commands();
      for (const name of names) await job.stdout.printf(`${name}\n`);
      return names;
    });
  }

  /** register adds a handler; a name can be registered once (the 2014 engine's rule). */
  register(name: string, handler: Handler): void {
    if (this.handlers.has(name)) throw new Error(`Can't overwrite handler for command ${name}`);
    this.handlers.set(name, handler);
  }

  /** install registers a main-thread owner's typed handlers, all of them. */
  install<A extends 'engine' | 'daemon'>(handlers: MainHandlers<A>): void {
    for (const [name, h] of Object.entries(handlers) as [string, (args: unknown, job: Job) => Promise<unknown>][]) {
      this.register(name, (job) => h(job.args, job));
    }
  }

  /** commands lists every registered job name, sorted (the `commands` job prints them). */
  commands(): string[] {
    return [...this.handlers.keys()].sort();
  }

  has(name: string): boolean {
    return this.handlers.has(name);
  }

  get isShuttingDown(): boolean {
    return this.stopping;
  }

  /** job creates a Job; run it with engine.run(job). */
  job(name: string, args: unknown = {}, opts: JobOptions = {}): Job {
    return new Job({
      id: this.nextId++,
      name,
      args,
      env: opts.env,
      stdoutPort: opts.stdoutPort ?? null,
      stdinPort: opts.stdinPort ?? null,
      signal: opts.signal,
      from: opts.from ?? 'main',
      onStderr: (text) => logger.debug(text.trimEnd(), { job: name }),
    });
  }

  /** run runs a job to its end and returns its result; job.status says how it ended. */
  async run(job: Job): Promise<unknown> {
    if (this.stopping) {
      const err = new UnavailableError('engine is shutting down');
      job.finish(err);
      throw err;
    }
    const handler = this.handlers.get(job.name) ?? (job.name !== '' ? this.catchall : null);
    if (!handler) {
      const err = new JobNotFoundError(job.name);
      job.finish(err);
      throw err;
    }
    job.handler = handler;
    this.running.set(job.id, job);
    const debug = this.logging && enabled('debug');
    if (debug) logger.debug(`+job ${job.describe()}`, { from: job.from });
    try {
      // Main-thread jobs obey their failpoints here; an actor's jobs obey them in the actor.
      const owner = ownerOf(job.name);
      if (this.failpoints && (owner === 'engine' || owner === 'daemon')) await this.failpoints.fireInline(job.name);
      const result = await handler(job);
      job.stdout.end();
      job.finish();
      return result;
    } catch (err) {
      job.stdout.fail(err);
      job.finish(err);
      throw err;
    } finally {
      job.stdin.close();
      this.running.delete(job.id);
      if (debug) logger.debug(`-job ${job.describe()} = ${job.status === 0 ? 'OK' : 'ERR'} (${job.status})`);
      if (this.running.size === 0) {
        const w = this.idleWaiters;
        this.idleWaiters = [];
        for (const f of w) f();
      }
    }
  }

  /** call runs a declared job from main-thread code, typed, with a deadline. */
  async call<K extends JobName>(name: K, args: ArgsOf<K>, opts: CallOptions = {}): Promise<ResultOf<K>> {
    const spec = JOBS[name] as { stream?: boolean; timeoutMs?: number };
    const timeoutMs = opts.timeoutMs ?? spec.timeoutMs ?? (spec.stream ? 0 : DEFAULT_TIMEOUT_MS);
    const job = this.job(name, args, { env: opts.env, signal: opts.signal });
    const running = this.run(job) as Promise<ResultOf<K>>;
    if (timeoutMs <= 0) return running;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        job.cancel();
        reject(new DeadlineError(`${name}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([running, deadline]);
    } finally {
      clearTimeout(timer);
      running.catch(() => {}); // its rejection after a deadline is already reported
    }
  }

  /** stream runs a streaming job from main-thread code; iterate `output`. */
  stream<K extends JobName>(name: K, args: ArgsOf<K>, opts: CallOptions = {}): { output: PortReader; done: Promise<ResultOf<K>> } {
    const { port, reader } = Job.outputChannel();
    let stdinPort: MessagePort | null = null;
    if (opts.stdin) {
      const ch = new MessageChannel();
      stdinPort = ch.port2;
      void pump(opts.stdin, new PortWriter(ch.port1));
    }
    const job = this.job(name, args, { env: opts.env, signal: opts.signal, stdoutPort: port, stdinPort });
    const done = this.run(job) as Promise<ResultOf<K>>;
    done.catch(() => reader.closeSoon());
    return { output: reader, done };
  }

  onShutdown(handler: () => unknown): void {
    this.shutdownHandlers.push(handler);
  }

  /** shutdown follows the seed's contract (see the file comment); calling it again returns the same promise. */
  shutdown(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopping = true;
    this.stopped = (async () => {
      for (const job of this.running.values()) {
        if ((JOBS as Record<string, { stream?: boolean }>)[job.name]?.stream) job.cancel();
      }
      if (this.running.size > 0) {
        const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
        const waited = await within(idle, this.jobWaitMs);
        if (!waited) logger.warn('shutdown: jobs still running after the wait', { jobs: this.inFlight().map((j) => j.name).join(',') });
      }
      const handlers = this.shutdownHandlers.map((h) =>
        Promise.resolve()
          .then(h)
          .catch((err) => logger.error('shutdown handler failed', { error: toWire(err).message })),
      );
      const done = await within(Promise.all(handlers), this.handlerWaitMs);
      if (!done) logger.warn('shutdown: handlers did not finish in time');
    })();
    return this.stopped;
  }

  /** The jobs running now, oldest first (for the SIGQUIT dump). */
  inFlight(): Job[] {
    return [...this.running.values()];
  }
}

/** within resolves true if p settles within ms, false otherwise; its timer never holds the process. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
