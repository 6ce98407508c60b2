/**
 * Failpoints: fault injection for chaos tests, a product feature that exists only when berthd
 * runs with --debug-failpoints (and /info then says so in its Warnings).
 *
 * A failpoint is named after the job it intercepts, "job/<job name>". When that job is
 * dispatched, the engine takes one hit from the table and, for a job owned by a worker actor,
 * attaches the action to the job envelope; the actor obeys it in its own thread (a real
 * uncaught error, process.exit, a spinning loop, an exhausted heap). Main-thread jobs can only
 * be delayed or failed: crashing the main thread is `kill -9`, not a failpoint.
 * The table and its counts live here, so a crash never replays from a stale copy.
 */
import { InvalidParameterError, type ErrorKind, ERROR_TABLE, fromWire } from '../errdefs/errors.js';
import { JOBS, isJobName, ownerOf } from '../protocol/jobs.js';
import type { FailpointAction } from '../protocol/messages.js';
import type { FailpointSpec, FailpointActionName } from '../protocol/types/failpoints.js';
import type { Engine, MainHandlers } from './engine.js';

const ACTIONS: readonly FailpointActionName[] = ['crash', 'exit', 'hang', 'oom', 'delay', 'error'];
const MAIN_THREAD_ACTIONS: readonly FailpointActionName[] = ['delay', 'error'];

export class Failpoints {
  private readonly table = new Map<string, Required<Pick<FailpointSpec, 'name' | 'action' | 'count' | 'hits'>> & FailpointSpec>();

  list(): FailpointSpec[] {
    return [...this.table.values()].map((f) => ({ ...f }));
  }

  /** set validates a spec and adds or replaces the failpoint of that name. */
  set(spec: FailpointSpec): FailpointSpec[] {
    if (typeof spec?.name !== 'string' || !spec.name.startsWith('job/') || !isJobName(spec.name.slice(4))) {
      throw new InvalidParameterError(`unknown failpoint ${JSON.stringify(spec?.name)}: failpoints are named job/<job name>, one of ${Object.keys(JOBS).map((j) => 'job/' + j).join(', ')}`);
    }
    const job = spec.name.slice(4);
    if (!ACTIONS.includes(spec.action)) {
      throw new InvalidParameterError(`invalid failpoint action ${JSON.stringify(spec.action)}: use one of ${ACTIONS.join(', ')}`);
    }
    const owner = ownerOf(job);
    if ((owner === 'engine' || owner === 'daemon') && !MAIN_THREAD_ACTIONS.includes(spec.action)) {
      throw new InvalidParameterError(`failpoint action ${spec.action} is not available for ${job}, which runs on the main thread: use delay or error`);
    }
    const count = spec.count ?? 0;
    if (!Number.isInteger(count) || count < 0) throw new InvalidParameterError('failpoint count must be a whole number ≥ 0 (0 = until cleared)');
    if (spec.action === 'delay') {
      if (typeof spec.arg !== 'number' || !Number.isInteger(spec.arg) || spec.arg < 0 || spec.arg > 600_000) {
        throw new InvalidParameterError('failpoint delay needs arg: milliseconds, 0 to 600000');
      }
    }
    if (spec.action === 'error' && spec.arg !== undefined && !(typeof spec.arg === 'string' && Object.hasOwn(ERROR_TABLE, spec.arg))) {
      throw new InvalidParameterError(`failpoint error needs arg: an error kind, one of ${Object.keys(ERROR_TABLE).join(', ')}`);
    }
    if (spec.action === 'exit' && spec.arg !== undefined && (typeof spec.arg !== 'number' || !Number.isInteger(spec.arg))) {
      throw new InvalidParameterError('failpoint exit takes arg: an exit code');
    }
    this.table.set(spec.name, { name: spec.name, action: spec.action, arg: spec.arg, message: spec.message, count, hits: 0 });
    return this.list();
  }

  clear(name?: string): FailpointSpec[] {
    if (name === undefined) this.table.clear();
    else if (!this.table.delete(name)) throw new InvalidParameterError(`no failpoint named ${JSON.stringify(name)}`);
    return this.list();
  }

  /** take consumes one hit of the failpoint for this job, if any, as an envelope action. */
  take(job: string): FailpointAction | undefined {
    const f = this.table.get(`job/${job}`);
    if (!f) return undefined;
    f.hits++;
    if (f.count > 0 && f.hits >= f.count) this.table.delete(f.name);
    switch (f.action) {
      case 'crash':
      case 'hang':
      case 'oom':
        return { action: f.action };
      case 'exit':
        return { action: 'exit', code: typeof f.arg === 'number' ? f.arg : 3 };
      case 'delay':
        return { action: 'delay', ms: Number(f.arg) };
      case 'error':
        return { action: 'error', kind: ((f.arg as ErrorKind) ?? 'system'), message: f.message ?? `failpoint ${f.name}` };
    }
  }

  /** fireInline obeys a main-thread job's failpoint: wait, or throw. */
  async fireInline(job: string): Promise<void> {
    const a = this.take(job);
    if (!a) return;
    if (a.action === 'delay') await new Promise((r) => setTimeout(r, a.ms));
    else if (a.action === 'error') throw fromWire({ kind: a.kind, message: a.message });
  }

  /**
   * preset loads failpoints from BERTH_FAILPOINTS, a JSON list of specs, e.g.
   * [{"name":"job/init_graphdriver","action":"delay","arg":1500,"count":1}].
   */
  preset(json: string | undefined): void {
    if (!json) return;
    let list: unknown;
    try {
      list = JSON.parse(json);
    } catch (err) {
      throw new InvalidParameterError(`BERTH_FAILPOINTS is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(list)) throw new InvalidParameterError('BERTH_FAILPOINTS must be a JSON list of failpoint specs');
    for (const spec of list) this.set(spec as FailpointSpec);
  }

  /** install registers the failpoint jobs; without --debug-failpoints they do not exist (127). */
  install(engine: Engine): void {
    engine.failpoints = this;
    const handlers: Pick<MainHandlers<'engine'>, 'failpoints_list' | 'failpoints_set' | 'failpoints_clear'> = {
      failpoints_list: async () => this.list(),
      failpoints_set: async (spec) => this.set(spec),
      failpoints_clear: async ({ name }) => this.clear(name),
    };
    for (const [name, h] of Object.entries(handlers)) {
      engine.register(name, (job) => (h as (a: unknown) => Promise<unknown>)(job.args));
    }
  }
}
