/**
 * Supervisor starts the worker actors from their child specs, in order, and keeps them alive
 * (OTP's one_for_one): an actor whose thread ends unexpectedly — an uncaught error,
 * process.exit, an exhausted heap, or a missed health ping — has every job in flight answered
 * with `unavailable` at once (ActorHandle does that), then is restarted after a backoff
 * (50 ms doubling to 5 s, with jitter). A restarted actor gets its init jobs replayed (the
 * jobs declared `replay: true`, with the args they last ran with), so it rebuilds its state
 * from disk and from the kernel, not from memory it lost. Jobs that arrive while it restarts
 * wait for it. More than maxRestarts restarts within periodMs → give up: the daemon shuts
 * down cleanly and exits non-zero, so its service manager can decide.
 */
import { UnavailableError, CancelledError, toWire } from '../errdefs/errors.js';
import { JOBS, jobsOwnedBy, type WorkerActorName } from '../protocol/jobs.js';
import type { LogLevel } from '../protocol/messages.js';
import type { ActorReport } from '../protocol/types/system.js';
import { log } from '../log/log.js';
import { ActorHandle, type ChildSpec, type ExitInfo } from './actorHandle.js';
import type { Engine } from './engine.js';
import type { Job } from './job.js';

export interface SupervisorOptions {
  maxRestarts?: number;
  periodMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  logLevel?: LogLevel;
  /** Called once when an actor restarts too often. */
  onGiveUp?: (actor: WorkerActorName, reason: string) => void;
}

type ChildState = 'idle' | 'starting' | 'ready' | 'restarting' | 'stopping' | 'stopped' | 'failed';

interface Waiting {
  job: Job;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

interface Child {
  spec: ChildSpec;
  handle: ActorHandle;
  state: ChildState;
  restarts: number[];
  restartCount: number;
  /** Init jobs to replay on a restart: name → the args and env they last succeeded with. */
  replay: Map<string, { args: unknown; env: string[] }>;
  queue: Waiting[];
  pinging: boolean;
  restartTimer: NodeJS.Timeout | null;
}

const MAX_QUEUE = 10_000;
const REPLAY_TIMEOUT_MS = 60_000;

export class Supervisor {
  private readonly children = new Map<WorkerActorName, Child>();
  private readonly order: WorkerActorName[] = [];
  private health: NodeJS.Timeout | null = null;
  private gaveUp = false;
  private readonly opts: Required<Omit<SupervisorOptions, 'onGiveUp'>> & Pick<SupervisorOptions, 'onGiveUp'>;

  constructor(
    private readonly engine: Engine,
    specs: readonly ChildSpec[],
    opts: SupervisorOptions = {},
  ) {
    this.opts = {
      maxRestarts: opts.maxRestarts ?? 5,
      periodMs: opts.periodMs ?? 60_000,
      backoffMinMs: opts.backoffMinMs ?? 50,
      backoffMaxMs: opts.backoffMaxMs ?? 5_000,
      healthIntervalMs: opts.healthIntervalMs ?? 1_000,
      healthTimeoutMs: opts.healthTimeoutMs ?? 3_000,
      logLevel: opts.logLevel ?? 'info',
      onGiveUp: opts.onGiveUp,
    };
    for (const spec of specs) {
      const handle = new ActorHandle(spec, engine, this.opts.logLevel);
      const child: Child = { spec, handle, state: 'idle', restarts: [], restartCount: 0, replay: new Map(), queue: [], pinging: false, restartTimer: null };
      handle.on('exit', (info: ExitInfo) => this.onExit(child, info));
      this.children.set(spec.id, child);
      this.order.push(spec.id);
    }
  }

  /**
   * startAll starts every child in order and registers its jobs with the engine. An actor that
   * fails to start stops the ones already started, and the error is thrown.
   */
  async startAll(): Promise<void> {
    for (const id of this.order) {
      const child = this.children.get(id)!;
      child.state = 'starting';
      try {
        const jobs = await child.handle.spawn();
        this.registerJobs(child, jobs);
        child.state = 'ready';
        log('debug', 'actor started', { actor: id, threadId: child.handle.threadId });
      } catch (err) {
        child.state = 'failed';
        await this.stopAll();
        throw err;
      }
    }
    this.health = setInterval(() => this.pingAll(), this.opts.healthIntervalMs);
    this.health.unref();
  }

  /** The hello must list exactly the jobs the protocol gives this actor. */
  private registerJobs(child: Child, jobs: string[]): void {
    const owned = jobsOwnedBy(child.spec.id);
    const missing = owned.filter((j) => !jobs.includes(j));
    const extra = jobs.filter((j) => !(owned as string[]).includes(j));
    if (missing.length || extra.length) {
      throw new Error(`${child.spec.id} actor serves the wrong jobs (missing: ${missing.join(',') || '-'}; not its own: ${extra.join(',') || '-'})`);
    }
    for (const name of owned) {
      if (!this.engine.has(name)) this.engine.register(name, (job) => this.dispatch(child, job));
    }
  }

  private dispatch(child: Child, job: Job): Promise<unknown> {
    switch (child.state) {
      case 'ready':
        return this.forward(child, job);
      case 'starting':
      case 'restarting':
        if (child.queue.length >= MAX_QUEUE) {
          return Promise.reject(new UnavailableError(`the ${child.spec.id} actor is restarting and ${MAX_QUEUE} jobs already wait for it`));
        }
        return new Promise((resolve, reject) => {
          const w: Waiting = { job, resolve, reject };
          child.queue.push(w);
          job.signal.addEventListener(
            'abort',
            () => {
              const i = child.queue.indexOf(w);
              if (i >= 0) {
                child.queue.splice(i, 1);
                reject(new CancelledError(`${job.name}: cancelled while the ${child.spec.id} actor restarted`));
              }
            },
            { once: true },
          );
        });
      default:
        return Promise.reject(new UnavailableError(`the ${child.spec.id} actor is not running (${child.state})`));
    }
  }

  private async forward(child: Child, job: Job): Promise<unknown> {
    const fp = this.engine.failpoints?.take(job.name);
    const result = await child.handle.send(job, fp);
    if ((JOBS as Record<string, { replay?: boolean }>)[job.name]?.replay) {
      child.replay.delete(job.name); // keep the order in which they last ran
      child.replay.set(job.name, { args: job.args, env: job.env.toList() });
    }
    return result;
  }

  private onExit(child: Child, info: ExitInfo): void {
    if (info.expected || child.state === 'stopping' || child.state === 'stopped') {
      child.state = 'stopped';
      return;
    }
    // startAll reports a failed first start; restart() handles a death during its own attempt.
    if (child.state === 'starting' || child.state === 'restarting') return;
    log('error', `actor ${child.spec.id} crashed: ${info.reason}`, { actor: child.spec.id, exitCode: info.code });
    this.scheduleRestart(child, info.reason);
  }

  private scheduleRestart(child: Child, reason: string): void {
    const now = Date.now();
    child.restarts = child.restarts.filter((t) => now - t < this.opts.periodMs);
    child.restarts.push(now);
    if (child.restarts.length > this.opts.maxRestarts) {
      child.state = 'failed';
      const why = `the ${child.spec.id} actor restarted more than ${this.opts.maxRestarts} times in ${this.opts.periodMs / 1000} s (last: ${reason})`;
      this.failQueue(child, new UnavailableError(why));
      if (!this.gaveUp) {
        this.gaveUp = true;
        log('error', `giving up: ${why}`, { actor: child.spec.id });
        this.opts.onGiveUp?.(child.spec.id, why);
      }
      return;
    }
    child.state = 'restarting';
    const n = child.restarts.length;
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** (n - 1));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    child.restartTimer = setTimeout(() => {
      child.restartTimer = null;
      void this.restart(child);
    }, delay);
  }

  private async restart(child: Child): Promise<void> {
    if (child.state !== 'restarting') return;
    child.restartCount++;
    try {
      await child.handle.spawn();
      for (const [name, r] of child.replay) {
        const job = this.engine.job(name, r.args, { env: r.env, from: 'supervisor' });
        // A replay that never answers would keep the actor restarting forever: it counts as a failed restart.
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            child.handle.send(job),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`replaying ${name} took longer than ${REPLAY_TIMEOUT_MS / 1000} s`)), REPLAY_TIMEOUT_MS);
            }),
          ]);
        } finally {
          clearTimeout(timer);
        }
      }
    } catch (err) {
      const reason = toWire(err).message;
      log('error', `actor ${child.spec.id} failed to restart: ${reason}`, { actor: child.spec.id });
      if (child.handle.alive) await child.handle.kill(`failed to restart: ${reason}`); // onExit ignores it: we are restarting
      if (child.state === 'restarting') this.scheduleRestart(child, reason);
      return;
    }
    if (child.state !== 'restarting') return;
    child.state = 'ready';
    log('info', `actor ${child.spec.id} restarted`, { actor: child.spec.id, restarts: child.restartCount });
    const queued = child.queue.splice(0);
    for (const w of queued) this.forward(child, w.job).then(w.resolve, w.reject);
  }

  private failQueue(child: Child, err: Error): void {
    for (const w of child.queue.splice(0)) w.reject(err);
  }

  private pingAll(): void {
    for (const child of this.children.values()) {
      if (child.state !== 'ready' || child.pinging) continue;
      child.pinging = true;
      const incarnation = child.handle.incarnation;
      child.handle
        .callControl((c) => c.health(), this.opts.healthTimeoutMs)
        .catch((err) => {
          if (child.state === 'ready' && child.handle.incarnation === incarnation && child.handle.alive) {
            log('error', `actor ${child.spec.id} missed its health check; terminating it`, { actor: child.spec.id, error: toWire(err).message });
            void child.handle.kill(`missed its health check (${toWire(err).message})`);
          }
        })
        .finally(() => {
          child.pinging = false;
        });
    }
  }

  /** stopAll stops the actors in reverse start order, each gracefully then by force. */
  async stopAll(): Promise<void> {
    if (this.health) clearInterval(this.health);
    this.health = null;
    for (const id of [...this.order].reverse()) {
      const child = this.children.get(id)!;
      if (child.restartTimer) clearTimeout(child.restartTimer);
      const was = child.state;
      child.state = 'stopping';
      this.failQueue(child, new UnavailableError('the daemon is shutting down'));
      if (was !== 'idle') await child.handle.stop();
      child.state = 'stopped';
    }
  }

  /** stop stops one actor (used when shutdown must release the API sockets first). */
  async stop(id: WorkerActorName): Promise<void> {
    const child = this.children.get(id);
    if (!child) return;
    child.state = 'stopping';
    this.failQueue(child, new UnavailableError('the daemon is shutting down'));
    await child.handle.stop();
    child.state = 'stopped';
  }

  /** stats asks each running actor for its own figures. */
  async stats(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [id, child] of this.children) {
      out[id] = child.state === 'ready' ? await child.handle.callControl((c) => c.stats(), 2_000).catch((e) => ({ error: toWire(e).message })) : { state: child.state };
    }
    return out;
  }

  async setLogLevel(level: LogLevel): Promise<void> {
    await Promise.all([...this.children.values()].map((c) => c.handle.setLogLevel(level)));
  }

  state(id: WorkerActorName): ChildState | undefined {
    return this.children.get(id)?.state;
  }

  /** Every actor, its state, restarts and the jobs in flight to it (SIGQUIT dump, `actors` job). */
  dump(): ActorReport[] {
    return this.order.map((id) => {
      const c = this.children.get(id)!;
      return { actor: id, state: c.state, restarts: c.restartCount, queued: c.queue.map((w) => w.job.describe()), ...c.handle.describe() };
    });
  }
}
