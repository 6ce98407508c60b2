/**
 * Health checks with the real docker CLI against a real berthd, as dockerd 20.10 runs them
 * (test/fixtures/dockerd-20.10/extras, section 9): from the image's HEALTHCHECK or the
 * --health-* flags, the status in inspect and `docker ps`, the five-entry log, the timeout
 * message, the start period, the health filter, and the events.
 */
import test from 'ava';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, stopWithContainers, dockerOk } from '../helpers/containers.js';
import { busyboxTar, removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;

test.before(async () => {
  work = tempDir('bth-');
  b = await startBerthd();
  await importBusybox(b, work);
  const r = await b.docker(['import', '--change', 'HEALTHCHECK --interval=1s CMD true', '--change', 'CMD ["sleep","300"]', busyboxTar(work), 'bbhealth']);
  if (r.code !== 0) throw new Error(r.stderr);
});

test.after.always(async () => {
  if (b) await stopWithContainers(b);
  if (work) removeDir(work);
});

const ok = (args: string[]) => dockerOk(b, args);
type Health = { Status: string; FailingStreak: number; Log: Array<{ Start: string; End: string; ExitCode: number; Output: string }> };
const state = async (name: string) => JSON.parse(await ok(['inspect', '-f', '{{json .State}}', name])) as Record<string, unknown> & { Health?: Health };

test.serial('HEALTHCHECK from the image: starting, then healthy; ps and the health filter; events on the change only', async (t) => {
  t.deepEqual(JSON.parse(await ok(['image', 'inspect', '-f', '{{json .Config.Healthcheck}}', 'bbhealth'])), { Test: ['CMD-SHELL', 'true'], Interval: 1000000000 });
  const since = Date.now() / 1000;
  await ok(['run', '-d', '--name', 'hok', 'bbhealth']);
  const id = (await ok(['inspect', '-f', '{{.Id}}', 'hok'])).trim();
  const first = await state('hok');
  t.deepEqual(first.Health, { Status: 'starting', FailingStreak: 0, Log: [] });
  t.deepEqual(Object.keys(first).slice(-2), ['FinishedAt', 'Health'], 'Health comes after FinishedAt');
  t.regex(await ok(['ps', '--format', '{{.Status}}', '--filter', 'name=hok']), /^Up .* \(health: starting\)\n$/);
  t.deepEqual(JSON.parse(await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hok'])), { Test: ['CMD-SHELL', 'true'], Interval: 1000000000 });

  t.true(await waitFor(async () => (await state('hok')).Health?.Status === 'healthy', 5_000));
  const h = (await state('hok')).Health!;
  t.is(h.FailingStreak, 0);
  t.like(h.Log[0], { ExitCode: 0, Output: '' });
  t.true(Date.parse(h.Log[0]!.End) >= Date.parse(h.Log[0]!.Start));
  t.regex(await ok(['ps', '--format', '{{.Status}}', '--filter', 'name=hok']), /^Up .* \(healthy\)\n$/);
  t.is((await ok(['ps', '-q', '--filter', 'health=healthy'])).trim(), id.slice(0, 12));
  t.is((await ok(['ps', '-q', '--filter', 'health=unhealthy'])).trim(), '');

  // Five entries at most.
  t.true(await waitFor(async () => (await state('hok')).Health!.Log.length === 5, 10_000));
  await new Promise((r) => setTimeout(r, 1500));
  t.is((await state('hok')).Health!.Log.length, 5);

  const r = await b.request('GET', `/events?since=${since}&until=${Date.now() / 1000}&filters=${encodeURIComponent(JSON.stringify({ container: [id] }))}`);
  const actions = r.body.split('\n').filter(Boolean).map((l) => JSON.parse(l).Action as string);
  t.deepEqual(actions.filter((a) => a.startsWith('health_status')), ['health_status: healthy'], 'one event, on the change');
  t.true(actions.includes('exec_create: /bin/sh -c true'));
  t.true(actions.includes('exec_start: /bin/sh -c true'));
  t.true(actions.includes('exec_die'));
  await ok(['rm', '-f', 'hok']);
});

test.serial('--health-cmd failing: FailingStreak, unhealthy at Retries, the output kept; unhealthy after a stop, starting again after a start', async (t) => {
  await ok(['run', '-d', '--name', 'hbad', '--health-cmd', 'echo failing; exit 1', '--health-interval', '1s', '--health-retries', '2', 'busybox', 'sleep', '300']);
  t.deepEqual(JSON.parse(await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hbad'])), { Test: ['CMD-SHELL', 'echo failing; exit 1'], Interval: 1000000000, Retries: 2 });
  t.true(await waitFor(async () => (await state('hbad')).Health?.Status === 'unhealthy', 6_000));
  const h = (await state('hbad')).Health!;
  t.true(h.FailingStreak >= 2);
  t.like(h.Log[0], { ExitCode: 1, Output: 'failing\n' });
  t.regex(await ok(['ps', '--format', '{{.Status}}', '--filter', 'name=hbad']), /\(unhealthy\)\n$/);

  await ok(['stop', '-t', '0', 'hbad']);
  const stopped = (await state('hbad')).Health!;
  t.is(stopped.Status, 'unhealthy');
  t.true(stopped.Log.length > 0, 'the log is kept');
  await ok(['start', 'hbad']);
  const again = (await state('hbad')).Health!;
  t.is(again.Status, 'starting');
  t.is(again.FailingStreak, 0);
  t.true(again.Log.length > 0, 'the old entries are kept');
  await ok(['rm', '-f', 'hbad']);
});

test.serial('a probe past its timeout is -1 with dockerd\'s message; a failure in the start period does not count', async (t) => {
  await ok(['run', '-d', '--name', 'hslow', '--health-cmd', 'sleep 3', '--health-timeout', '500ms', '--health-interval', '1s', '--health-retries', '1', 'busybox', 'sleep', '300']);
  t.true(await waitFor(async () => ((await state('hslow')).Health?.Log.length ?? 0) >= 1, 5_000));
  t.like((await state('hslow')).Health!.Log[0], { ExitCode: -1, Output: 'Health check exceeded timeout (500ms)' });
  t.is((await state('hslow')).Health!.Status, 'unhealthy');
  await ok(['rm', '-f', 'hslow']);

  await ok(['run', '-d', '--name', 'hstart', '--health-cmd', 'exit 1', '--health-interval', '1s', '--health-start-period', '1500ms', '--health-retries', '1', 'busybox', 'sleep', '300']);
  t.true(await waitFor(async () => ((await state('hstart')).Health?.Log.length ?? 0) >= 1, 5_000));
  const first = (await state('hstart')).Health!;
  t.is(first.Status, 'starting', 'the first failure falls in the start period');
  t.is(first.FailingStreak, 0);
  t.true(await waitFor(async () => (await state('hstart')).Health?.Status === 'unhealthy', 5_000));
  await ok(['rm', '-f', 'hstart']);
});

test.serial('--no-healthcheck: Test NONE with the image\'s interval merged, no Health in State; bad values refused', async (t) => {
  await ok(['run', '-d', '--name', 'hnone', '--no-healthcheck', 'bbhealth']);
  t.deepEqual(JSON.parse(await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hnone'])), { Test: ['NONE'], Interval: 1000000000 });
  t.false('Health' in (await state('hnone')));
  t.regex(await ok(['ps', '--format', '{{.Status}}', '--filter', 'name=hnone']), /^Up [^(]*\n$/);
  await ok(['rm', '-f', 'hnone']);

  const neg = await b.request('POST', '/containers/create', { body: JSON.stringify({ Image: 'busybox', Cmd: ['true'], Healthcheck: { Test: ['CMD', 'true'], Retries: -1 } }), headers: { 'Content-Type': 'application/json' } });
  t.is(neg.status, 400);
  t.is(neg.json<{ message: string }>().message, 'Retries in Healthcheck cannot be negative');
  const short = await b.request('POST', '/containers/create', { body: JSON.stringify({ Image: 'busybox', Cmd: ['true'], Healthcheck: { Test: ['CMD', 'true'], Interval: 1000 } }), headers: { 'Content-Type': 'application/json' } });
  t.is(short.status, 400);
  t.is(short.json<{ message: string }>().message, 'Interval in Healthcheck cannot be less than 1ms');
});

test.serial('nothing is left: no mount, conmon, runc state or bundle', async (t) => {
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 8_000), JSON.stringify(leftovers(b)));
});
