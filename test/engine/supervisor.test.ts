/**
 * Supervision with the real worker actors, in-process: a crash answers the job in flight with
 * `unavailable` at once, the actor is restarted with its init jobs replayed, the next job
 * succeeds; a hung actor is caught by its health ping; too many restarts give up.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { Engine } from '../../src/engine/engine.js';
import { Failpoints } from '../../src/engine/failpoints.js';
import { Supervisor, type SupervisorOptions } from '../../src/engine/supervisor.js';
import { childSpecs } from '../../src/engine/childSpecs.js';
import type { ChildSpec } from '../../src/engine/actorHandle.js';
import { UnavailableError } from '../../src/errdefs/errors.js';
import { setLogLevel } from '../../src/log/log.js';

setLogLevel('error');

async function withActors(opts: SupervisorOptions, f: (engine: Engine, failpoints: Failpoints, sup: Supervisor) => Promise<void>): Promise<void> {
  const engine = new Engine({ logging: false });
  const failpoints = new Failpoints();
  failpoints.install(engine);
  const sup = new Supervisor(engine, childSpecs(), { logLevel: 'error', backoffMinMs: 10, ...opts });
  await sup.startAll();
  try {
    await f(engine, failpoints, sup);
  } finally {
    await sup.stopAll();
  }
}

test('the actors start in order and register exactly the jobs the protocol gives them', async (t) => {
  await withActors({}, async (engine) => {
    for (const job of ['serveapi', 'acceptconnections', 'init_networkdriver', 'network_status', 'init_graphdriver', 'graph_status', 'init_execdriver', 'exec_status']) {
      t.true(engine.has(job), job);
    }
    const status = await engine.call('network_status', {});
    t.is(status.driver, 'bridge');
  });
});

test('a crash answers the job in flight with unavailable at once; the next job succeeds', async (t) => {
  await withActors({}, async (engine, failpoints, sup) => {
    failpoints.set({ name: 'job/network_status', action: 'crash', count: 1 });
    const started = Date.now();
    const err = await t.throwsAsync(engine.call('network_status', {}));
    t.true(err instanceof UnavailableError);
    t.regex(err?.message ?? '', /^the network actor crashed \(uncaught error: failpoint: crash\) and is being restarted$/);
    t.true(Date.now() - started < 2_000, 'answered at once, not at a deadline');
    const again = await engine.call('network_status', {});
    t.is(again.driver, 'bridge');
    t.is(sup.state('network'), 'ready');
  });
});

test('process.exit in an actor is a crash too, and every job in flight is answered', async (t) => {
  await withActors({}, async (engine, failpoints) => {
    failpoints.set({ name: 'job/exec_status', action: 'delay', arg: 300, count: 3 });
    const slow = [engine.call('exec_status', {}), engine.call('exec_status', {}), engine.call('exec_status', {})].map((p) => p.catch((e: Error) => e));
    await new Promise((r) => setTimeout(r, 50));
    failpoints.set({ name: 'job/exec_status', action: 'exit', arg: 9, count: 1 });
    await t.throwsAsync(engine.call('exec_status', {}), { instanceOf: UnavailableError, message: /exited with code 9/ });
    for (const r of await Promise.all(slow)) t.true(r instanceof UnavailableError, String(r));
  });
});

test('a restarted actor gets its init job replayed, so it rebuilds its state', async (t) => {
  const dir = mkdtempSync('/tmp/bts-');
  try {
    await withActors({}, async (engine, failpoints) => {
      const first = await engine.call('init_graphdriver', { dataRoot: dir, driver: 'vfs', options: [] });
      t.is(first.driver, 'vfs');
      failpoints.set({ name: 'job/graph_status', action: 'crash', count: 1 });
      await t.throwsAsync(engine.call('graph_status', {}), { instanceOf: UnavailableError });
      // Without the replay, graph_status would say "not initialised yet".
      const after = await engine.call('graph_status', {});
      t.is(after.driver, 'vfs');
      t.is(after.home, `${dir}/vfs`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hung actor misses its health ping, is terminated and restarted', async (t) => {
  await withActors({ healthIntervalMs: 100, healthTimeoutMs: 400 }, async (engine, failpoints) => {
    failpoints.set({ name: 'job/network_status', action: 'hang', count: 1 });
    const err = await t.throwsAsync(engine.call('network_status', {}), { instanceOf: UnavailableError });
    t.regex(err?.message ?? '', /missed its health check/);
    t.is((await engine.call('network_status', {})).driver, 'bridge');
  });
});

test('an actor that runs out of heap is restarted', async (t) => {
  await withActors({}, async (engine, failpoints) => {
    failpoints.set({ name: 'job/network_status', action: 'oom', count: 1 });
    await t.throwsAsync(engine.call('network_status', {}), { instanceOf: UnavailableError, message: /out of memory/ });
    t.is((await engine.call('network_status', {})).driver, 'bridge');
  });
});

test('more restarts than the intensity allows → give up, once', async (t) => {
  const gaveUp: string[] = [];
  await withActors({ maxRestarts: 2, periodMs: 60_000, onGiveUp: (actor, why) => gaveUp.push(`${actor}: ${why}`) }, async (engine, failpoints, sup) => {
    failpoints.set({ name: 'job/network_status', action: 'crash' });
    for (let i = 0; i < 3; i++) await t.throwsAsync(engine.call('network_status', {}), { instanceOf: UnavailableError });
    t.deepEqual(gaveUp, ['network: the network actor restarted more than 2 times in 60 s (last: uncaught error: failpoint: crash)']);
    t.is(sup.state('network'), 'failed');
    await t.throwsAsync(engine.call('network_status', {}), { instanceOf: UnavailableError, message: /not running \(failed\)/ });
  });
});

const bad = (startMs: number): ChildSpec[] => [
  { id: 'network', entry: new URL('../helpers/badActors.js', import.meta.url), restart: 'permanent', shutdownMs: 500, startMs },
];

test('an actor that never says hello fails the start-up after its deadline', async (t) => {
  const sup = new Supervisor(new Engine({ logging: false }), bad(300), { logLevel: 'error' });
  process.env.BAD_MODE = 'silent';
  await t.throwsAsync(sup.startAll(), { message: 'network actor did not say hello within 300 ms' });
});

test('an actor speaking another protocol version is refused', async (t) => {
  process.env.BAD_MODE = 'version';
  const sup = new Supervisor(new Engine({ logging: false }), bad(5_000), { logLevel: 'error' });
  await t.throwsAsync(sup.startAll(), { message: 'network actor speaks protocol 999, the engine 1' });
});
