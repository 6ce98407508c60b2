/**
 * docker run --init, as dockerd 20.10 runs it: the init binary (docker-init in PATH, else
 * tini-static; or the daemon's --init-path) bind-mounted read-only at /sbin/docker-init, the
 * process its child (args /sbin/docker-init -- …); signals forwarded, orphans reaped;
 * HostConfig.Init as given (omitted when not); the daemon's --init (and daemon.json "init",
 * "init-path") as the default; docker info's InitBinary/InitCommit and docker version's
 * docker-init; dockerd's errors when the binary is not there. Real berthd, real docker CLI.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBerthd, tempDir, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, stopWithContainers } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;
const USAGE = "\n\nRun 'docker run --help' for more information\n";

test.before(async () => {
  work = tempDir('bti-');
  b = await startBerthd();
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) await stopWithContainers(b);
  if (work) removeDir(work);
});

const ok = async (d: Berthd, args: string[], opts: { timeoutMs?: number } = {}) => {
  const r = await d.docker(args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const rawInspect = async (d: Berthd, name: string) => (await d.request('GET', `/containers/${name}/json`)).json<{ Path: string; Args: string[]; State: { ExitCode: number }; HostConfig: Record<string, unknown> }>();
/** ps -o pid,ppid,comm as [pid, ppid, comm] rows. */
const psRows = (out: string) => out.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
/** The state letter of every process in a container (from /proc/<pid>/stat): {comm: states}. */
async function states(d: Berthd, name: string): Promise<Array<{ pid: number; comm: string; state: string; ppid: number }>> {
  const out = await ok(d, ['exec', name, 'sh', '-c', 'for s in /proc/[0-9]*/stat; do cat $s; echo; done']);
  return out.split('\n').filter((l) => l.trim()).map((l) => {
    const m = /^(\d+) \((.*)\) (\S) (\d+)/.exec(l.trim())!;
    return { pid: Number(m[1]), comm: m[2]!, state: m[3]!, ppid: Number(m[4]) };
  });
}

/** What dockerd's parseInitVersion makes of this host's docker-init (or tini-static) --version. */
function hostInitCommit(): string {
  const bin = ['/usr/bin/docker-init', '/usr/bin/tini-static'].find((p) => existsSync(p))!;
  const out = execFileSync(bin, ['--version']).toString();
  const git = (out.split(' - ')[1] ?? '').trim().split('.');
  return git.length === 2 && git[0] === 'git' ? git[1]! : '';
}

test.serial('docker run --rm --init: docker-init is PID 1 and the command its child', async (t) => {
  const r = await b.docker(['run', '--rm', '--init', 'busybox', 'ps', '-o', 'pid,ppid,comm']);
  t.is(r.code, 0, r.stderr);
  const rows = psRows(r.stdout);
  t.deepEqual(rows[0], ['1', '0', 'docker-init']);
  const ps = rows.find((x) => x[2] === 'ps');
  t.truthy(ps, r.stdout);
  t.is(ps![1], '1', 'ps is docker-init\'s child');
  t.is(rows.length, 2, r.stdout);
  // Without --init the command is PID 1 itself.
  const plain = await b.docker(['run', '--rm', 'busybox', 'ps', '-o', 'pid,comm']);
  t.deepEqual(psRows(plain.stdout), [['1', 'ps']]);
  t.is((await ok(b, ['ps', '-aq'])).trim(), '');
});

test.serial('--init forwards signals: docker stop ends sleep at once (143); without it sleep as PID 1 ignores SIGTERM and needs the timeout (137)', async (t) => {
  await ok(b, ['run', '-d', '--name', 'sig-init', '--init', 'busybox', 'sleep', '300']);
  await ok(b, ['run', '-d', '--name', 'sig-plain', 'busybox', 'sleep', '300']);
  let t0 = Date.now();
  await ok(b, ['stop', '-t', '5', 'sig-init']);
  const withInit = Date.now() - t0;
  t0 = Date.now();
  await ok(b, ['stop', '-t', '5', 'sig-plain']);
  const without = Date.now() - t0;
  t.true(withInit < 3_000, `stop with --init took ${withInit} ms`);
  t.true(without >= 4_500, `stop without --init took ${without} ms`);
  t.is((await rawInspect(b, 'sig-init')).State.ExitCode, 143);
  t.is((await rawInspect(b, 'sig-plain')).State.ExitCode, 137);
  // docker kill -s sends what it is told, through docker-init too.
  await ok(b, ['start', 'sig-init']);
  await ok(b, ['kill', '-s', 'USR1', 'sig-init']);
  await ok(b, ['wait', 'sig-init'], { timeoutMs: 10_000 });
  t.is((await rawInspect(b, 'sig-init')).State.ExitCode, 128 + 10);
  await ok(b, ['rm', 'sig-init', 'sig-plain']);
});

test.serial('--init reaps orphans: a shell\'s orphan leaves no zombie (it does under a PID 1 that never waits)', async (t) => {
  // The subshell starts `sleep 1` and exits: the sleep is orphaned to PID 1 and exits a second later.
  const script = '(sleep 1 &); exec sleep 300';
  await ok(b, ['run', '-d', '--name', 'reap-init', '--init', 'busybox', 'sh', '-c', script]);
  await ok(b, ['run', '-d', '--name', 'reap-plain', 'busybox', 'sh', '-c', script]);
  await new Promise((r) => setTimeout(r, 2_500));
  const init = await states(b, 'reap-init');
  const plain = await states(b, 'reap-plain');
  t.deepEqual(init.filter((p) => p.state === 'Z'), [], JSON.stringify(init));
  t.is(init.find((p) => p.pid === 1)?.comm, 'docker-init');
  t.is(init.filter((p) => p.comm === 'sleep').length, 1, JSON.stringify(init));
  const zombies = plain.filter((p) => p.state === 'Z');
  t.is(zombies.length, 1, JSON.stringify(plain));
  t.like(zombies[0], { comm: 'sleep', ppid: 1 });
  await ok(b, ['rm', '-f', 'reap-init', 'reap-plain']);
});

test.serial('inspect: HostConfig.Init true, false or omitted (null) as given; Path and Args stay the command; the bundle runs /sbin/docker-init -- … with it bound read-only', async (t) => {
  await ok(b, ['run', '-d', '--name', 'i-on', '--init', 'busybox', 'sleep', '300']);
  await ok(b, ['run', '-d', '--name', 'i-off', '--init=false', 'busybox', 'sleep', '300']);
  await ok(b, ['run', '-d', '--name', 'i-none', 'busybox', 'sleep', '300']);
  const on = await rawInspect(b, 'i-on');
  const off = await rawInspect(b, 'i-off');
  const none = await rawInspect(b, 'i-none');
  t.is(on.HostConfig.Init, true);
  t.is(off.HostConfig.Init, false);
  t.false('Init' in none.HostConfig);
  // dockerd's field order: Init last, after ReadonlyPaths.
  t.deepEqual(Object.keys(on.HostConfig).slice(-2), ['ReadonlyPaths', 'Init']);
  t.is(on.Path, 'sleep');
  t.deepEqual(on.Args, ['300']);
  t.is((await ok(b, ['inspect', '-f', '{{json .HostConfig.Init}}', 'i-on', 'i-off', 'i-none'])).trim(), 'true\nfalse\nnull');

  const spec = JSON.parse(readFileSync(join(b.execRoot, 'containers', (await ok(b, ['inspect', '-f', '{{.Id}}', 'i-on'])).trim(), 'config.json'), 'utf8'));
  t.deepEqual(spec.process.args, ['/sbin/docker-init', '--', 'sleep', '300']);
  const m = spec.mounts.find((x: { destination: string }) => x.destination === '/sbin/docker-init');
  t.like(m, { type: 'bind', options: ['bind', 'ro'] });
  t.true(['/usr/bin/docker-init', '/usr/bin/tini-static'].includes(m.source), m.source);
  const plainSpec = JSON.parse(readFileSync(join(b.execRoot, 'containers', (await ok(b, ['inspect', '-f', '{{.Id}}', 'i-off'])).trim(), 'config.json'), 'utf8'));
  t.deepEqual(plainSpec.process.args, ['sleep', '300']);
  t.falsy(plainSpec.mounts.find((x: { destination: string }) => x.destination === '/sbin/docker-init'));

  const write = await b.docker(['exec', 'i-on', 'sh', '-c', 'echo x > /sbin/docker-init']);
  t.not(write.code, 0);
  t.regex(write.stderr, /Read-only file system/);
  // docker top shows the init and its child from the host's side.
  const top = await ok(b, ['top', 'i-on']);
  t.regex(top, /\/sbin\/docker-init -- sleep 300/);
  await ok(b, ['rm', '-f', 'i-on', 'i-off', 'i-none']);
});

test.serial('docker info: InitBinary docker-init and InitCommit as dockerd reads tini --version; docker version lists docker-init', async (t) => {
  const info = (await b.request('GET', '/info')).json<Record<string, unknown>>();
  t.is(info.InitBinary, 'docker-init');
  const commit = hostInitCommit();
  t.deepEqual(info.InitCommit, { ID: commit, Expected: commit });
  const fixture = JSON.parse(readFileSync(new URL('../../../test/fixtures/dockerd-20.10/info.json', import.meta.url), 'utf8'));
  t.is(info.InitBinary, fixture.InitBinary);
  t.deepEqual(info.InitCommit, fixture.InitCommit, 'Debian\'s tini 0.19.0, as in the dockerd 20.10 capture');
  const version = (await b.request('GET', '/version')).json<{ Components: Array<{ Name: string; Version: string; Details: Record<string, string> }> }>();
  const init = version.Components.find((c) => c.Name === 'docker-init');
  t.like(init, { Version: '0.19.0', Details: { GitCommit: commit } });
});

test('the daemon\'s --init makes it the default: a container that does not say runs docker-init, --init=false does not', async (t) => {
  const d = await startBerthd({ args: ['--init'] });
  const dir = tempDir('bti-');
  try {
    await importBusybox(d, dir);
    const r = await d.docker(['run', '--name', 'dflt', 'busybox', 'ps', '-o', 'pid,comm']);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(psRows(r.stdout)[0], ['1', 'docker-init']);
    // The record keeps "not given": the daemon decides at each start (dockerd's *bool).
    t.false('Init' in (await rawInspect(d, 'dflt')).HostConfig);
    const off = await d.docker(['run', '--rm', '--init=false', 'busybox', 'ps', '-o', 'pid,comm']);
    t.deepEqual(psRows(off.stdout), [['1', 'ps']]);
    await ok(d, ['rm', 'dflt']);
    t.deepEqual(leftovers(d), { mounts: [], processes: [], bundles: [], runc: [] });
  } finally {
    await d.stop();
    removeDir(dir);
  }
});

test('daemon.json "init" and "init-path": the default, with that binary (docker info shows the path)', async (t) => {
  const dir = tempDir('bti-');
  const file = join(dir, 'daemon.json');
  writeFileSync(file, JSON.stringify({ init: true, 'init-path': '/usr/bin/tini-static' }));
  const d = await startBerthd({ args: ['--config-file', file] });
  try {
    await importBusybox(d, dir);
    const info = (await d.request('GET', '/info')).json<Record<string, unknown>>();
    t.is(info.InitBinary, '/usr/bin/tini-static');
    t.deepEqual(info.InitCommit, { ID: hostInitCommit(), Expected: hostInitCommit() });
    // dockerd names the component after the binary's file name.
    const version = (await d.request('GET', '/version')).json<{ Components: Array<{ Name: string; Version: string }> }>();
    t.like(version.Components.find((c) => c.Name === 'tini-static'), { Version: '0.19.0' });
    await ok(d, ['run', '-d', '--name', 'jj', 'busybox', 'sleep', '300']);
    const spec = JSON.parse(readFileSync(join(d.execRoot, 'containers', (await ok(d, ['inspect', '-f', '{{.Id}}', 'jj'])).trim(), 'config.json'), 'utf8'));
    t.like(spec.mounts.find((x: { destination: string }) => x.destination === '/sbin/docker-init'), { source: '/usr/bin/tini-static' });
    const rows = psRows(await ok(d, ['exec', 'jj', 'ps', '-o', 'pid,comm']));
    t.deepEqual(rows[0], ['1', 'docker-init']);
    await ok(d, ['rm', '-f', 'jj']);
    // The flag and the key together are a conflict, as every other key.
    const both = await startBerthd({ args: ['--config-file', file, '--init'], wait: false });
    const exit = await both.exited;
    await both.stop();
    t.is(exit.code, 1);
    t.regex(both.output(), /the following directives are specified both as a flag and in the configuration file: init: \(from flag: true, from file: true\)/);
  } finally {
    await d.stop();
    removeDir(dir);
  }
});

test('--init-path /nonexistent: dockerd\'s runc error, exit 127 from the CLI; docker info says N/A', async (t) => {
  const d = await startBerthd({ args: ['--init-path', '/nonexistent'] });
  const dir = tempDir('bti-');
  try {
    await importBusybox(d, dir);
    const info = (await d.request('GET', '/info')).json<Record<string, unknown>>();
    t.is(info.InitBinary, '/nonexistent');
    t.deepEqual(info.InitCommit, { ID: 'N/A', Expected: 'N/A' });
    const r = await d.docker(['run', '--rm', '--init', 'busybox', 'true']);
    t.is(r.code, 127);
    t.is(r.stderr, 'docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting "/nonexistent" to rootfs at "/sbin/docker-init": stat /nonexistent: no such file or directory: unknown' + USAGE);
    const api = await d.request('POST', '/containers/create?name=np', { body: JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { Init: true } }), headers: { 'Content-Type': 'application/json' } });
    t.is(api.status, 201);
    const start = await d.request('POST', '/containers/np/start');
    t.is(start.status, 500);
    t.is((await rawInspect(d, 'np')).State.ExitCode, 128);
    // Without --init the path is never used.
    t.is((await d.docker(['run', '--rm', 'busybox', 'true'])).code, 0);
    await ok(d, ['rm', 'np']);
    t.deepEqual(leftovers(d), { mounts: [], processes: [], bundles: [], runc: [] });
  } finally {
    await d.stop();
    removeDir(dir);
  }
});

test('no docker-init or tini-static in PATH: dockerd\'s "executable file not found" (500, the CLI\'s 127), saying what to install', async (t) => {
  // A PATH with everything of /usr/bin but the init binaries (runc is in /usr/sbin).
  const dir = tempDir('bti-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const f of readdirSync('/usr/bin')) if (!/^(docker-init|tini)/.test(f)) symlinkSync(join('/usr/bin', f), join(bin, f));
  const d = await startBerthd({ env: { PATH: `${bin}:/usr/sbin` } });
  try {
    await importBusybox(d, dir);
    const info = (await d.request('GET', '/info')).json<Record<string, unknown>>();
    t.is(info.InitBinary, 'docker-init');
    t.deepEqual(info.InitCommit, { ID: 'N/A', Expected: 'N/A' });
    const r = await d.docker(['run', '--rm', '--init', 'busybox', 'true']);
    t.is(r.code, 127);
    t.is(r.stderr, 'docker: Error response from daemon: exec: "docker-init": executable file not found in $PATH (berth looks for docker-init, then tini-static: install the tini package or start berthd with --init-path)' + USAGE);
    t.is((await ok(d, ['ps', '-aq'])).trim(), '', '--rm removed the container that could not start');
    await ok(d, ['create', '--name', 'ni', '--init', 'busybox', 'true']);
    const start = await d.request('POST', '/containers/ni/start');
    t.is(start.status, 500);
    t.regex(start.json<{ message: string }>().message, /^exec: "docker-init": executable file not found in \$PATH/);
    await ok(d, ['rm', 'ni']);
    t.is((await d.docker(['run', '--rm', 'busybox', 'true'])).code, 0);
    t.deepEqual(leftovers(d), { mounts: [], processes: [], bundles: [], runc: [] });
  } finally {
    await d.stop();
    removeDir(dir);
  }
});

test.serial('nothing is left behind', async (t) => {
  t.is((await ok(b, ['ps', '-aq'])).trim(), '');
  t.deepEqual(leftovers(b), { mounts: [], processes: [], bundles: [], runc: [] });
});
