/**
 * --pid, --ipc, --uts (and --userns host) as dockerd 20.10 gives them, with the real docker CLI
 * against a real berthd running busybox under runc: the host's namespaces, another container's
 * joined (its /proc/<pid>/ns/*), /dev/shm for each IPC mode (shareable's tmpfs shared with its
 * joiners, the host's, none), inspect's HostConfig, dockerd's errors (at create a 400 for a
 * donor not there, at start a 500 for one not running, not shareable or gone), and what happens
 * to joiners when their donor stops or is removed. Nothing is left behind.
 */
import test from 'ava';
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, stopWithContainers, dockerOk } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;

test.before(async () => {
  work = tempDir('btns-');
  b = await startBerthd();
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) await stopWithContainers(b);
  if (work) removeDir(work);
});

const ok = (args: string[]) => dockerOk(b, args);
const inspect = async (name: string) => JSON.parse(await ok(['inspect', name]))[0];
const USAGE = "\n\nRun 'docker run --help' for more information\n";
const runError = (msg: string) => `docker: Error response from daemon: ${msg}${USAGE}`;
const create = (body: Record<string, unknown>) => b.request('POST', '/containers/create', { body: JSON.stringify({ Image: 'busybox', Cmd: ['true'], ...body }), headers: { 'Content-Type': 'application/json' } });

test.serial('--pid host: no pid namespace of its own, the host\'s processes visible; inspect PidMode and label=disable', async (t) => {
  const out = await ok(['run', '--rm', '--pid', 'host', 'busybox', 'sh', '-c', 'cat /proc/1/comm; ps -o pid']);
  const [comm, ...pids] = out.trim().split('\n');
  t.is(comm, readFileSync('/proc/1/comm', 'utf8').trim(), 'PID 1 is the host\'s');
  t.true(pids.map((p) => p.trim()).includes(String(process.pid)), 'this test\'s own process is listed');
  t.true(pids.map((p) => p.trim()).includes(String(b.pid)), 'and berthd');
  await ok(['create', '--name', 'pidhost', '--pid', 'host', 'busybox', 'true']);
  const c = await inspect('pidhost');
  t.is(c.HostConfig.PidMode, 'host');
  t.deepEqual(c.HostConfig.SecurityOpt, ['label=disable'], "dockerd's generateSecurityOpt");
  t.is(c.HostConfig.IpcMode, 'private');
  await ok(['rm', 'pidhost']);
  // Without --pid host: a namespace of its own, PID 1 its command.
  t.is((await ok(['run', '--rm', 'busybox', 'cat', '/proc/1/comm'])).trim(), 'cat');
});

test.serial('--pid container:<name>: the donor\'s processes seen, PidMode recorded by ID, --init not added', async (t) => {
  const donor = (await ok(['run', '-d', '--name', 'pdonor', 'busybox', 'sleep', '1001'])).trim();
  const ps = await ok(['run', '--rm', '--pid', 'container:pdonor', '--init', 'busybox', 'ps', '-o', 'pid,args']);
  t.regex(ps, /^\s*1 sleep 1001$/m, 'PID 1 is the donor\'s sleep');
  t.notRegex(ps, /docker-init/, 'no init in another container\'s pid namespace (dockerd\'s WithInit)');
  await ok(['create', '--name', 'pjoiner', '--pid', 'container:pdonor', 'busybox', 'sleep', '1002']);
  t.is((await inspect('pjoiner')).HostConfig.PidMode, `container:${donor}`);
  // By ID prefix too.
  t.regex(await ok(['run', '--rm', '--pid', `container:${donor.slice(0, 12)}`, 'busybox', 'ps', '-o', 'args']), /sleep 1001/);
  await ok(['rm', '-f', 'pjoiner', 'pdonor']);
});

test.serial('--pid/--ipc container:<x>: a donor not there is a 400 at create, one not running a 500 at start', async (t) => {
  const before = await ok(['ps', '-aq']);
  for (const flag of ['--pid', '--ipc']) {
    const r = await b.docker(['run', '--rm', flag, 'container:nosuch', 'busybox', 'true']);
    t.is(r.code, 125, flag);
    t.is(r.stderr, runError('No such container: nosuch'), flag);
  }
  t.is((await create({ HostConfig: { PidMode: 'container:nosuch' } })).status, 400);
  // dockerd's generateSecurityOpt does not look the donor up for a privileged container.
  const priv = await create({ HostConfig: { PidMode: 'container:nosuch', Privileged: true } });
  t.is(priv.status, 201);
  const privId = priv.json<{ Id: string }>().Id;
  const started = await b.request('POST', `/containers/${privId}/start`);
  t.is(started.status, 500);
  t.is(started.json<{ message: string }>().message, 'cannot join PID of a non running container: nosuch: No such container: nosuch');
  await ok(['rm', privId]);
  t.is(await ok(['ps', '-aq']), before, 'and nothing is created');

  const stopped = (await ok(['create', '--name', 'stopped', '--ipc', 'shareable', 'busybox', 'true'])).trim();
  await ok(['create', '--name', 'pj2', '--pid', 'container:stopped', 'busybox', 'true']);
  const r = await b.docker(['start', 'pj2']);
  t.is(r.code, 1);
  t.is(r.stderr, `Error response from daemon: container ${stopped} is not running\nError: failed to start containers: pj2\n`);
  const s = await b.request('POST', '/containers/pj2/start');
  t.is(s.status, 500);
  t.is((await inspect('pj2')).State.Status, 'created');
  await ok(['create', '--name', 'ij2', '--ipc', 'container:stopped', 'busybox', 'true']);
  const ri = await b.docker(['start', 'ij2']);
  t.is(ri.stderr, `Error response from daemon: can't join IPC of container ${stopped}: container ${stopped} is not running\nError: failed to start containers: ij2\n`);
  await ok(['rm', 'pj2', 'ij2', 'stopped']);
});

test.serial('--ipc container:<donor>: the donor\'s IPC namespace and /dev/shm, the donor shareable', async (t) => {
  await ok(['run', '-d', '--name', 'idonor', '--ipc', 'shareable', '--shm-size', '8m', 'busybox', 'sleep', '1003']);
  t.is((await inspect('idonor')).HostConfig.IpcMode, 'shareable');
  await ok(['exec', 'idonor', 'sh', '-c', 'echo from-donor > /dev/shm/x']);
  const donorNs = (await ok(['exec', 'idonor', 'readlink', '/proc/self/ns/ipc'])).trim();
  t.regex(donorNs, /^ipc:\[\d+\]$/);
  t.not(donorNs, readlinkSync('/proc/self/ns/ipc'), 'not the host\'s');
  const out = await ok(['run', '--rm', '--ipc', 'container:idonor', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/ipc; cat /dev/shm/x; echo from-joiner > /dev/shm/y; grep " /dev/shm " /proc/mounts']);
  const [ns, x, mount] = out.trim().split('\n');
  t.is(ns, donorNs, 'the same IPC namespace');
  t.is(x, 'from-donor', 'the same /dev/shm');
  t.regex(mount!, /^shm \/dev\/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=8192k/, "the donor's tmpfs, of its --shm-size");
  t.is((await ok(['exec', 'idonor', 'cat', '/dev/shm/y'])).trim(), 'from-joiner');
  // The daemon's tmpfs for it, under the container's directory (dockerd's ShmPath).
  const id = (await inspect('idonor')).Id;
  const shm = `${b.dataRoot}/containers/${id}/mounts/shm`;
  t.true(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === shm));

  // A joiner keeps the namespace and the /dev/shm after its donor stops; the tmpfs is unmounted.
  await ok(['run', '-d', '--name', 'ijoiner', '--ipc', `container:${id.slice(0, 12)}`, 'busybox', 'sleep', '1004']);
  t.is((await inspect('ijoiner')).HostConfig.IpcMode, `container:${id}`);
  await ok(['stop', '-t', '1', 'idonor']);
  // (Its clean-up, as every stopped container's, may end just after `docker stop` returns.)
  t.true(await waitFor(() => !readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === shm), 5_000), 'the donor\'s shm unmounted at its stop');
  t.is((await ok(['exec', 'ijoiner', 'cat', '/dev/shm/x'])).trim(), 'from-donor');
  const r = await b.docker(['run', '--rm', '--ipc', 'container:idonor', 'busybox', 'true']);
  t.is(r.code, 125);
  t.is(r.stderr, runError(`can't join IPC of container ${id}: container ${id} is not running`));
  // A restarted donor has a new, empty /dev/shm.
  await ok(['start', 'idonor']);
  t.is(await ok(['exec', 'idonor', 'ls', '/dev/shm']), '');
  await ok(['rm', '-f', 'ijoiner', 'idonor']);
  t.deepEqual(leftovers(b).mounts, []);
});

test.serial('--ipc container:<x>: a private donor (the default) is non-shareable, a 500 at start; --rm removes the joiner', async (t) => {
  const id = (await ok(['run', '-d', '--name', 'private', 'busybox', 'sleep', '1005'])).trim();
  const before = await ok(['ps', '-aq']);
  const r = await b.docker(['run', '--rm', '--ipc', 'container:private', 'busybox', 'true']);
  t.is(r.code, 125);
  t.is(r.stderr, runError(`can't join IPC of container ${id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`));
  t.true(await waitFor(async () => (await ok(['ps', '-aq'])) === before, 5_000), 'the --rm joiner is gone');
  await ok(['create', '--name', 'ij3', '--ipc', 'container:private', 'busybox', 'true']);
  const s = await b.request('POST', '/containers/ij3/start');
  t.is(s.status, 500);
  await ok(['rm', '-f', 'ij3', 'private']);
});

test.serial('--ipc host: the host\'s IPC namespace and /dev/shm; --ipc none: no /dev/shm; private: a tmpfs of its own', async (t) => {
  const marker = `berth-ns-test-${process.pid}`;
  writeFileSync(`/dev/shm/${marker}`, 'host-shm\n');
  try {
    const out = await ok(['run', '--rm', '--ipc', 'host', 'busybox', 'sh', '-c', `readlink /proc/self/ns/ipc; cat /dev/shm/${marker}`]);
    t.deepEqual(out.trim().split('\n'), [readlinkSync('/proc/self/ns/ipc'), 'host-shm']);
  } finally {
    rmSync(`/dev/shm/${marker}`, { force: true });
  }
  await ok(['create', '--name', 'ipchost', '--ipc', 'host', 'busybox', 'true']);
  const c = await inspect('ipchost');
  t.is(c.HostConfig.IpcMode, 'host');
  t.deepEqual(c.HostConfig.SecurityOpt, ['label=disable']);
  await ok(['rm', 'ipchost']);
  // A host-IPC donor is shareable (its ShmPath is the host's /dev/shm).
  await ok(['run', '-d', '--name', 'hostdonor', '--ipc', 'host', 'busybox', 'sleep', '1006']);
  t.is((await ok(['run', '--rm', '--ipc', 'container:hostdonor', 'busybox', 'readlink', '/proc/self/ns/ipc'])).trim(), readlinkSync('/proc/self/ns/ipc'));
  await ok(['rm', '-f', 'hostdonor']);

  const none = await b.docker(['run', '--rm', '--ipc', 'none', 'busybox', 'ls', '/dev/shm']);
  t.is(none.code, 1);
  t.regex(none.stderr, /\/dev\/shm: No such file or directory/);
  const own = (await ok(['run', '--rm', '--ipc', 'private', 'busybox', 'readlink', '/proc/self/ns/ipc'])).trim();
  t.not(own, readlinkSync('/proc/self/ns/ipc'));
  t.regex(await ok(['run', '--rm', 'busybox', 'grep', ' /dev/shm ', '/proc/mounts']), /^shm \/dev\/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k/);
});

test.serial('--uts host: the host\'s hostname; with --hostname dockerd\'s conflict', async (t) => {
  const id = (await ok(['run', '-d', '--name', 'utshost', '--uts', 'host', 'busybox', 'sleep', '1007'])).trim();
  t.is((await ok(['exec', 'utshost', 'hostname'])).trim(), hostname());
  const c = await inspect('utshost');
  t.is(c.HostConfig.UTSMode, 'host');
  // dockerd still gives it its short ID as Config.Hostname (and /etc/hostname, HOSTNAME).
  t.is(c.Config.Hostname, id.slice(0, 12));
  t.is((await ok(['exec', 'utshost', 'cat', '/etc/hostname'])).trim(), id.slice(0, 12));
  await ok(['rm', '-f', 'utshost']);
  t.is((await ok(['run', '--rm', 'busybox', 'hostname'])).trim().length, 12, 'a namespace of its own otherwise');
  const before = await ok(['ps', '-aq']);
  const r = await b.docker(['run', '--rm', '--uts', 'host', '--hostname', 'foo', 'busybox', 'true']);
  t.is(r.code, 125);
  t.is(r.stderr, runError('conflicting options: hostname and the UTS mode'));
  t.is((await create({ Hostname: 'foo', HostConfig: { UTSMode: 'host' } })).status, 400);
  t.is(await ok(['ps', '-aq']), before);
});

test.serial('a pid donor removed while its joiner runs: the joiner is killed with the namespace, its start then fails as dockerd\'s', async (t) => {
  const donor = (await ok(['run', '-d', '--name', 'pd', 'busybox', 'sleep', '1008'])).trim();
  await ok(['run', '-d', '--name', 'pj', '--pid', 'container:pd', 'busybox', 'sleep', '1009']);
  await ok(['rm', '-f', 'pd']);
  t.true(await waitFor(async () => (await inspect('pj')).State.Status === 'exited', 10_000));
  t.is((await inspect('pj')).State.ExitCode, 137, 'killed when the namespace\'s init died');
  const r = await b.docker(['start', 'pj']);
  t.is(r.code, 1);
  t.is(r.stderr, `Error response from daemon: cannot join PID of a non running container: ${donor}: No such container: ${donor}\nError: failed to start containers: pj\n`);
  const s = await b.request('POST', '/containers/pj/start');
  t.is(s.status, 500);
  // A pid donor stopped: the same for its joiner; berthd carries on.
  await ok(['run', '-d', '--name', 'pd2', 'busybox', 'sleep', '1010']);
  await ok(['run', '-d', '--name', 'pj2', '--pid', 'container:pd2', 'busybox', 'sleep', '1011']);
  await ok(['stop', '-t', '1', 'pd2']);
  t.true(await waitFor(async () => (await inspect('pj2')).State.Status === 'exited', 10_000));
  await ok(['start', 'pd2']);
  await ok(['start', 'pj2']);
  t.regex(await ok(['exec', 'pj2', 'ps', '-o', 'args']), /sleep 1010/);
  await ok(['rm', '-f', 'pj', 'pj2', 'pd2']);
  t.is((await b.request('GET', '/_ping')).status, 200);
});

test.serial('--userns host is accepted (berth has no remapping); other UsernsMode values and bad IPC modes as dockerd or refused', async (t) => {
  t.is(await ok(['run', '--rm', '--userns', 'host', 'busybox', 'echo', 'hi']), 'hi\n');
  await ok(['create', '--name', 'userns', '--userns', 'host', 'busybox', 'true']);
  t.is((await inspect('userns')).HostConfig.UsernsMode, 'host');
  await ok(['rm', 'userns']);
  const refused = await create({ HostConfig: { UsernsMode: 'private' } });
  t.is(refused.status, 501);
  t.regex(refused.json<{ message: string }>().message, /berth does not implement HostConfig\.UsernsMode "private" yet/);
  // dockerd keeps any IpcMode at create and refuses a bad one at start (500).
  const bad = await create({ HostConfig: { IpcMode: 'foo' } });
  t.is(bad.status, 201);
  const id = bad.json<{ Id: string }>().Id;
  t.is((await inspect(id)).HostConfig.IpcMode, 'foo');
  const s = await b.request('POST', `/containers/${id}/start`);
  t.is(s.status, 500);
  t.is(s.json<{ message: string }>().message, 'Invalid IPC mode: foo');
  await ok(['rm', id]);
});

test.serial('nothing is left behind', async (t) => {
  t.is((await ok(['ps', '-aq'])).trim(), '');
  t.deepEqual(leftovers(b), { mounts: [], processes: [], bundles: [], runc: [] });
  t.false(existsSync(`/dev/shm/berth-ns-test-${process.pid}`));
});
