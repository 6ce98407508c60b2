/**
 * Containers across restarts of berthd. Each container runs under its own conmon, so a berthd
 * killed with -9 leaves them running and logging; the next berthd adopts them, records the
 * real exit codes of those that ended meanwhile, and keeps their logs whole. A clean shutdown
 * stops them, as dockerd does, unless --live-restore.
 */
import test from 'ava';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';

const ok = async (b: Berthd, args: string[]) => {
  const r = await b.docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const state = async (b: Berthd, name: string) => JSON.parse(await ok(b, ['inspect', name]))[0].State;

async function cleanup(b: Berthd | null, work: string): Promise<void> {
  if (b) {
    const ids = (await b.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await b.docker(['rm', '-f', ...ids]);
    await b.stop();
    removeDir(b.dir); // started on a kept dir: stop() leaves it
  }
  removeDir(work);
}

test.serial('berthd killed with -9: containers keep running and logging, and the next berthd adopts them', async (t) => {
  const work = tempDir('btr-');
  let b: Berthd | null = await startBerthd();
  try {
    await importBusybox(b, work);
    await ok(b, ['run', '-d', '--name', 'keeps', 'busybox', 'sh', '-c', 'trap "exit 7" TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done']);
    await ok(b, ['run', '-d', '--name', 'ends', 'busybox', 'sh', '-c', 'sleep 1; echo bye; exit 5']);
    await ok(b, ['run', '-d', '--rm', '--name', 'goes', 'busybox', 'sh', '-c', 'sleep 1; exit 0']);
    const pidBefore = (await state(b, 'keeps')).Pid;
    t.true(await waitFor(async () => (await b!.docker(['logs', 'keeps'])).stdout.includes('tick 1')));

    const dir = b.dir;
    process.kill(b.pid, 'SIGKILL');
    await b.exited;
    b = null;
    // While no berthd runs: "ends" and "goes" exit, "keeps" goes on writing.
    await new Promise((r) => setTimeout(r, 2_000));

    b = await startBerthd({ dir });
    const keeps = await state(b, 'keeps');
    t.is(keeps.Status, 'running');
    t.is(keeps.Pid, pidBefore);
    const ends = await state(b, 'ends');
    t.is(ends.Status, 'exited');
    t.is(ends.ExitCode, 5, 'the real exit code, from conmon\'s exit file');
    t.is(await ok(b, ['logs', 'ends']), 'bye\n');
    t.true(await waitFor(async () => (await b!.docker(['inspect', 'goes'])).code !== 0, 5_000), '--rm containers that ended meanwhile are removed');

    // The lines written while no berthd ran are in the log, in order, none lost.
    const ticks = (await ok(b, ['logs', 'keeps'])).trim().split('\n');
    t.true(ticks.length >= 12, `${ticks.length} lines`);
    t.deepEqual(ticks, ticks.map((_, i) => `tick ${i}`));
    t.regex(await ok(b, ['ps', '--format', '{{.Names}} {{.Status}}']), /^keeps Up /m);

    t.is(await ok(b, ['stop', 'keeps']), 'keeps\n');
    t.is((await state(b, 'keeps')).ExitCode, 7);
    await ok(b, ['rm', 'keeps', 'ends']);
    t.true(await waitFor(() => {
      const l = leftovers(b!);
      return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
    }, 5_000), JSON.stringify(leftovers(b)));
  } finally {
    await cleanup(b, work);
  }
});

test.serial('a clean shutdown stops running containers; with --live-restore they keep running', async (t) => {
  const work = tempDir('btr-');
  let b: Berthd | null = await startBerthd({ args: ['--shutdown-timeout', '2'] });
  try {
    await importBusybox(b, work);
    await ok(b, ['run', '-d', '--name', 'term', 'busybox', 'sh', '-c', 'trap "exit 3" TERM; while true; do sleep 0.1; done']);
    await ok(b, ['run', '-d', '--name', 'always', '--restart', 'always', 'busybox', 'sleep', '300']);
    const dir = b.dir;
    process.kill(b.pid, 'SIGTERM');
    t.is((await b.exited).code, 0);
    t.deepEqual(leftovers(b).processes, [], 'no conmon or container outlives a clean shutdown');
    t.deepEqual(leftovers(b).mounts, [], 'nor a namespace or a root filesystem mount');

    b = await startBerthd({ dir, args: ['--live-restore'] });
    t.is((await state(b, 'term')).ExitCode, 3, 'stopped with its stop signal');
    t.is((await state(b, 'term')).Status, 'exited');
    t.true(await waitFor(async () => (await state(b!, 'always')).Status === 'running', 5_000), '--restart always starts again with the daemon');

    await ok(b, ['start', 'term']);
    const pid = (await state(b, 'term')).Pid;
    process.kill(b.pid, 'SIGTERM');
    await b.exited;
    b = await startBerthd({ dir });
    const s = await state(b, 'term');
    t.is(s.Status, 'running', '--live-restore left it running');
    t.is(s.Pid, pid);
  } finally {
    await cleanup(b, work);
  }
});

test.serial('--restart on-failure:3: the restarting state, RestartCount 3, then exited; start and die events only', async (t) => {
  const work = tempDir('btr-');
  let b: Berthd | null = await startBerthd();
  try {
    await importBusybox(b, work);
    const since = Date.now() / 1000;
    await ok(b, ['run', '-d', '--name', 'of3', '--restart', 'on-failure:3', 'busybox', 'sh', '-c', 'sleep 0.3; exit 1']);
    const id = (await ok(b, ['inspect', '-f', '{{.Id}}', 'of3'])).trim();
    let sawRestarting: Record<string, unknown> | null = null;
    t.true(await waitFor(async () => {
      const c = JSON.parse(await ok(b!, ['inspect', 'of3']))[0];
      if (c.State.Restarting && !sawRestarting) sawRestarting = { ...c.State, RestartCount: c.RestartCount };
      return c.State.Status === 'exited' && c.RestartCount === 3;
    }, 20_000, 20));
    t.like(sawRestarting ?? {}, { Status: 'restarting', Running: true, Restarting: true, ExitCode: 1, Pid: 0 }, 'between runs: restarting');
    t.true(((sawRestarting ?? {}) as { RestartCount?: number }).RestartCount! >= 1, 'the count goes up as the restarting state begins');
    const st = await state(b, 'of3');
    t.like(st, { Status: 'exited', Running: false, Restarting: false, ExitCode: 1 });
    const r = await b.request('GET', `/events?since=${since}&until=${Date.now() / 1000}&filters=${encodeURIComponent(JSON.stringify({ container: [id] }))}`);
    const actions = r.body.split('\n').filter(Boolean).map((l) => JSON.parse(l).Action as string).filter((a) => a !== 'create' && a !== 'attach');
    t.deepEqual(actions, ['start', 'die', 'start', 'die', 'start', 'die', 'start', 'die'], 'four runs; no restart event');

    // docker start begins the count again.
    await ok(b, ['start', 'of3']);
    t.true(await waitFor(async () => (await state(b!, 'of3')).Status !== 'exited' || JSON.parse(await ok(b!, ['inspect', 'of3']))[0].RestartCount < 3, 5_000));
    t.true(await waitFor(async () => JSON.parse(await ok(b!, ['inspect', 'of3']))[0].RestartCount === 3 && (await state(b!, 'of3')).Status === 'exited', 20_000));
  } finally {
    await cleanup(b, work);
  }
});

test.serial('restart policies across a berthd restart, as dockerd decides them', async (t) => {
  const work = tempDir('btr-');
  let b: Berthd | null = await startBerthd({ args: ['--shutdown-timeout', '1'] });
  try {
    await importBusybox(b, work);
    for (const [name, policy] of [['alw', 'always'], ['alwstop', 'always'], ['us', 'unless-stopped'], ['usstop', 'unless-stopped'], ['nopol', 'no'], ['onf', 'on-failure:5']]) {
      await ok(b, ['run', '-d', '--name', name!, '--restart', policy!, 'busybox', 'sleep', '300']);
    }
    await ok(b, ['stop', '-t', '0', 'alwstop', 'usstop']);
    const dir = b.dir;
    process.kill(b.pid, 'SIGTERM');
    t.is((await b.exited).code, 0);
    b = await startBerthd({ dir });
    const expected: Record<string, string> = { alw: 'running', alwstop: 'running', us: 'running', usstop: 'exited', nopol: 'exited', onf: 'running' };
    t.true(await waitFor(async () => {
      for (const [name, status] of Object.entries(expected)) if ((await state(b!, name)).Status !== status) return false;
      return true;
    }, 15_000), JSON.stringify(Object.fromEntries(await Promise.all(Object.keys(expected).map(async (n) => [n, (await state(b!, n)).Status])))));
    t.is((await state(b, 'nopol')).ExitCode, 137, 'sleep ignores SIGTERM: killed at shutdown');
    t.is(JSON.parse(await ok(b, ['inspect', 'alw']))[0].RestartCount, 0);
  } finally {
    await cleanup(b, work);
  }
});
