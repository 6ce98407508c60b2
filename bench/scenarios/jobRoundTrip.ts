/**
 * Job round trip: engine → worker actor → engine, against the same engine running a job on
 * its own thread. In-process: a real Engine and Supervisor spawn the real actors from
 * dist/workers/*; nothing listens anywhere (serveapi is never called).
 *
 * Closed loop: K callers, each issues its next job as soon as its previous one is answered,
 * so exactly K jobs are in flight. Per (job, K): a warm-up (JIT, worker wake-up), then a
 * measured window; jobs/s counts every job answered in the window (the stragglers still in
 * flight at its end are waited for and counted, and the elapsed time includes them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.js';
import { Supervisor } from '../../src/engine/supervisor.js';
import { childSpecs } from '../../src/engine/childSpecs.js';
import { fmtInt, fmtRatio, fmtUs, now, percentile, table, type Row, type Scenario } from '../lib.js';

const IN_FLIGHT = [1, 16, 256] as const;
const WARMUP_MS = 300;
const MEASURE_MS = 1_500;

interface Figures {
  job: string;
  path: 'in-thread' | 'actor';
  inFlight: number;
  jobs: number;
  errors: number;
  seconds: number;
  jobsPerSec: number;
  p50Us: number;
  p99Us: number;
}

/** yieldToLoop lets timers and worker messages run: an in-thread job never leaves the microtask queue. */
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * drive runs k closed-loop callers of fn for ms milliseconds. Latencies (µs) go into `lat`
 * when given; errors are counted, not thrown, so one bad job does not hide the figures.
 */
async function drive(fn: () => Promise<unknown>, k: number, ms: number, lat: number[] | null): Promise<number> {
  const end = now() + BigInt(ms) * 1_000_000n;
  let errors = 0;
  const caller = async () => {
    while (now() < end) {
      const t0 = now();
      try {
        await fn();
      } catch {
        errors++;
        continue;
      }
      if (lat) lat.push(Number(now() - t0) / 1_000);
    }
  };
  await Promise.all(Array.from({ length: k }, caller));
  return errors;
}

async function measure(job: string, path: Figures['path'], fn: () => Promise<unknown>, k: number): Promise<Figures> {
  await drive(fn, k, WARMUP_MS, null);
  await yieldToLoop();
  const lat: number[] = [];
  const t0 = now();
  const errors = await drive(fn, k, MEASURE_MS, lat);
  const seconds = Number(now() - t0) / 1e9;
  await yieldToLoop();
  const sorted = Float64Array.from(lat).sort();
  return {
    job,
    path,
    inFlight: k,
    jobs: lat.length,
    errors,
    seconds,
    jobsPerSec: lat.length / seconds,
    p50Us: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
  };
}

export const jobRoundTrip: Scenario = {
  name: 'jobs',
  description: 'job round trip engine → actor → engine vs an in-thread job, 1/16/256 in flight',
  async run() {
    const engine = new Engine({ logging: false });
    const supervisor = new Supervisor(engine, childSpecs(), { logLevel: 'error' });
    // init_execdriver only reads the host (PATH, cgroups, `runc --version`); its roots are never made.
    const scratch = await mkdtemp(join(tmpdir(), 'berth-bench-jobs-'));
    const results: Figures[] = [];
    const notes: string[] = [];
    try {
      const t0 = now();
      await supervisor.startAll();
      const startMs = Number(now() - t0) / 1e6;

      // The baseline: a job handled on the engine's own thread. engine.call only takes declared
      // jobs, so this one goes through engine.run directly; the actor rows' engine.call adds a
      // deadline timer and a Promise.race on top of the same engine.run (≈1 µs, measured below).
      engine.register('bench_local', async () => ({ ok: true }));
      const local = () => engine.run(engine.job('bench_local', {}));

      // network_status: the brief's real small job; its handler reads three /proc/sys files,
      // so its figures include that file I/O in the actor, not just messaging.
      const network = () => engine.call('network_status', {});

      // exec_status after init: the actor answers from memory, so this row is the messaging
      // cost alone (msgpack envelopes both ways, one postMessage each way).
      let exec: (() => Promise<unknown>) | null = () => engine.call('exec_status', {});
      try {
        await engine.call('init_execdriver', { dataRoot: join(scratch, 'root'), execRoot: join(scratch, 'exec'), defaultRuntime: 'runc', selinuxEnabled: false });
      } catch (err) {
        exec = null;
        notes.push(`exec_status skipped: init_execdriver failed: ${(err as Error).message}`);
      }

      for (const k of IN_FLIGHT) {
        results.push(await measure('bench_local', 'in-thread', local, k));
        results.push(await measure('network_status', 'actor', network, k));
        if (exec) results.push(await measure('exec_status', 'actor', exec, k));
      }

      const rows: Row[] = results.map((r) => {
        const base = results.find((b) => b.path === 'in-thread' && b.inFlight === r.inFlight)!;
        return {
          'in flight': String(r.inFlight),
          job: r.job,
          path: r.path,
          'jobs/s': fmtInt(r.jobsPerSec),
          p50: fmtUs(r.p50Us),
          p99: fmtUs(r.p99Us),
          // Both as "how many times worse than in-thread", so bigger always means costlier.
          'in-thread jobs/s ÷ this': fmtRatio(base.jobsPerSec / r.jobsPerSec),
          'this p50 ÷ in-thread p50': fmtRatio(r.p50Us / base.p50Us),
          errors: String(r.errors),
        };
      });
      process.stdout.write(
        table(
          `Job round trip (closed loop, ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms measured per row; actors started in ${startMs.toFixed(0)} ms)`,
          ['in flight', 'job', 'path', 'jobs/s', 'p50', 'p99', 'in-thread jobs/s ÷ this', 'this p50 ÷ in-thread p50', 'errors'],
          rows,
        ),
      );
      for (const n of notes) process.stdout.write(`note: ${n}\n`);
      const ratios = results
        .filter((r) => r.path === 'actor')
        .map((r) => {
          const base = results.find((b) => b.path === 'in-thread' && b.inFlight === r.inFlight)!;
          return { job: r.job, inFlight: r.inFlight, inThreadThroughputRatio: base.jobsPerSec / r.jobsPerSec, p50Ratio: r.p50Us / base.p50Us };
        });
      return { warmupMs: WARMUP_MS, measureMs: MEASURE_MS, actorsStartMs: startMs, rows: results, ratios, notes };
    } finally {
      await supervisor.stopAll();
      await rm(scratch, { recursive: true, force: true });
    }
  },
};
