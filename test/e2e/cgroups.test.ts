/**
 * The cgroup options beyond memory and CPU quota, with the real docker CLI against a real
 * berthd, checked as dockerd 20.10 answers them on this kind of host (cgroup v1, cgroupfs):
 * --cpuset-cpus/--cpuset-mems against the host's CPUs and memory nodes, --memory-reservation,
 * --oom-kill-disable, --kernel-memory (deprecated), --blkio-weight (this host's blkio has no
 * blkio.weight: dockerd's warning, the weight discarded), --device-read-bps and the other
 * throttles (major:minor of the host's device), --cgroup-parent (the container's cgroup under
 * it), --group-add, --cpu-rt-*, and `docker update` of the cpuset, the reservation and the
 * weight. The values are read from the container's cgroup files; the suite ends with nothing
 * left: no container, mount, bundle, runc state, or cgroup (the parent made for
 * --cgroup-parent included, which dockerd leaves and this suite removes).
 */
import test from 'ava';
import { existsSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, dockerOk } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';
import { verifyLimits, readLimits } from '../../src/daemon/containers/limits.js';
import { hostSysInfo } from '../../src/daemon/containers/sysinfo.js';

let b: Berthd;
let work: string;
const PARENT = `/berth-cgtest-${process.pid}`;
const CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified'];
const ids: string[] = [];

test.before(async () => {
  work = tempDir('btcg-');
  b = await startBerthd();
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) {
    const left = (await b.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (left.length) await b.docker(['rm', '-f', ...left]);
    await b.docker(['rmi', '-f', 'busybox-groups']);
    await b.stop();
  }
  removeParent();
  if (work) removeDir(work);
});

/** The parent cgroups --cgroup-parent made (runc removes only the container's own). */
function removeParent(): void {
  for (const c of CONTROLLERS) {
    const dir = `/sys/fs/cgroup/${c}${PARENT}`;
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirSync(join(dir, e.name));
    rmdirSync(dir);
  }
}

const ok = (args: string[]) => dockerOk(b, args);
const idOf = async (name: string) => {
  const id = (await ok(['inspect', '-f', '{{.Id}}', name])).trim();
  ids.push(id);
  return id;
};
const cg = (controller: string, id: string, file: string, parent = '/berth') => readFileSync(`/sys/fs/cgroup/${controller}${parent}/${id}/${file}`, 'utf8').trim();
const hostCpus = readFileSync('/sys/fs/cgroup/cpuset/cpuset.cpus', 'utf8').trim();
const hostMems = readFileSync('/sys/fs/cgroup/cpuset/cpuset.mems', 'utf8').trim();
/** The highest CPU the host has (pinning to it shows the value is ours, not the default). */
const lastCpu = String(Math.max(...hostCpus.split(',').map((r) => Number(r.split('-').pop()))));
const json = { 'Content-Type': 'application/json' };
const runError = (message: string) => `docker: Error response from daemon: ${message}\n\nRun 'docker run --help' for more information\n`;

/** A block device of the host's (/dev/<name> of /sys/block), with its major:minor. */
function blockDevice(): { path: string; majmin: string } {
  for (const name of readdirSync('/sys/block')) {
    const path = `/dev/${name}`;
    if (!existsSync(path) || !statSync(path).isBlockDevice() || name.startsWith('loop')) continue;
    return { path, majmin: readFileSync(`/sys/block/${name}/dev`, 'utf8').trim() };
  }
  throw new Error('no block device on this host');
}

test.serial('--cpuset-cpus, --cpuset-mems, --memory-reservation, --oom-kill-disable: the cgroup values and inspect', async (t) => {
  await ok(['run', '-d', '--name', 'lim', '--cpuset-cpus', lastCpu, '--cpuset-mems', '0', '-m', '64m', '--memory-reservation', '32m', '--oom-kill-disable', 'busybox', 'sleep', '300']);
  const id = await idOf('lim');
  t.is(cg('cpuset', id, 'cpuset.cpus'), lastCpu);
  t.is(cg('cpuset', id, 'cpuset.mems'), '0');
  t.is(cg('memory', id, 'memory.limit_in_bytes'), String(64 << 20));
  t.is(cg('memory', id, 'memory.soft_limit_in_bytes'), String(32 << 20));
  t.regex(cg('memory', id, 'memory.oom_control'), /^oom_kill_disable 1$/m);
  // From inside, as a process of the container sees it.
  t.is(await ok(['exec', 'lim', 'cat', '/sys/fs/cgroup/cpuset/cpuset.cpus']), `${lastCpu}\n`);
  const hc = JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig}}', 'lim']));
  t.like(hc, { CpusetCpus: lastCpu, CpusetMems: '0', Memory: 64 << 20, MemoryReservation: 32 << 20, OomKillDisable: true, BlkioWeight: 0, CgroupParent: '' });
  await ok(['rm', '-f', 'lim']);
  t.false(existsSync(`/sys/fs/cgroup/cpuset/berth/${id}`));
});

test.serial('dockerd\'s refusals: CPUs and memory nodes not there, bad lists, reservations', async (t) => {
  const before = await ok(['ps', '-aq']);
  const cases: Array<[string[], string]> = [
    [['--cpuset-cpus', '0-64'], `Requested CPUs are not available - requested 0-64, available: ${hostCpus}`],
    [['--cpuset-cpus', '9000'], 'Invalid value 9000 for cpuset cpus: value of out range, maximum is 8192'],
    [['--cpuset-cpus', 'abc'], 'Invalid value abc for cpuset cpus: invalid format: abc'],
    [['--cpuset-cpus', '1-0'], 'Invalid value 1-0 for cpuset cpus: invalid format: 1-0'],
    [['--cpuset-mems', '1-3'], `Requested memory nodes are not available - requested 1-3, available: ${hostMems}`],
    [['--cpuset-mems', 'x'], 'Invalid value x for cpuset mems: invalid format: x'],
    [['--memory-reservation', '1m'], 'Minimum memory reservation allowed is 6MB'],
    [['-m', '10m', '--memory-reservation', '20m'], 'Minimum memory limit can not be less than memory reservation limit, see usage'],
    [['--kernel-memory', '1m'], 'Minimum kernel memory limit allowed is 6MB'],
    [['--cpu-rt-period', '1000', '--cpu-rt-runtime', '2000'], 'cpu real-time runtime cannot be higher than cpu real-time period'],
  ];
  for (const [args, message] of cases) {
    const r = await b.docker(['run', '--rm', ...args, 'busybox', 'true']);
    t.is(r.code, 125, args.join(' '));
    t.is(r.stderr, runError(message), args.join(' '));
  }
  // The same through the API: 400s.
  const api: Array<[Record<string, unknown>, string]> = [
    [{ CpusetCpus: '0-64' }, `Requested CPUs are not available - requested 0-64, available: ${hostCpus}`],
    [{ MemoryReservation: 1024 }, 'Minimum memory reservation allowed is 6MB'],
    [{ BlkioDeviceReadBps: 'x' }, 'invalid type for field BlkioDeviceReadBps: expected an array'],
  ];
  for (const [hostConfig, message] of api) {
    const r = await b.request('POST', '/v1.41/containers/create', { body: JSON.stringify({ Image: 'busybox', HostConfig: hostConfig }), headers: json });
    t.is(r.status, 400, JSON.stringify(hostConfig));
    t.deepEqual(r.json(), { message });
  }
  t.is(await ok(['ps', '-aq']), before, 'nothing is created');
});

test.serial('warnings: --oom-kill-disable without a memory limit, --blkio-weight on a host without blkio.weight, --kernel-memory', async (t) => {
  const hasWeight = existsSync('/sys/fs/cgroup/blkio/blkio.weight');
  const r = await b.docker(['create', '--name', 'warn', '--oom-kill-disable', '--blkio-weight', '500', '--kernel-memory', '10m', 'busybox', 'true']);
  t.is(r.code, 0, r.stderr);
  const id = await idOf('warn');
  const lines = [
    'WARNING: Specifying a kernel memory limit is deprecated and will be removed in a future release.',
    'WARNING: OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.',
    ...(hasWeight ? [] : ['WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.']),
  ];
  t.is(r.stderr, lines.map((l) => `${l}\n`).join(''));
  const hc = JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig}}', 'warn']));
  t.like(hc, { OomKillDisable: true, BlkioWeight: hasWeight ? 500 : 0, KernelMemory: 10 << 20 });
  // The API answers the same warnings.
  const api = await b.request('POST', '/v1.41/containers/create', { body: JSON.stringify({ Image: 'busybox', HostConfig: { BlkioWeight: 500, BlkioWeightDevice: [{ Path: '/dev/null', Weight: 100 }] } }), headers: json });
  t.is(api.status, 201);
  const created = api.json<{ Id: string; Warnings: string[] }>();
  ids.push(created.Id);
  if (!hasWeight) {
    t.deepEqual(created.Warnings, [
      'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.',
      'Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.',
    ]);
  }
  await ok(['start', '-a', 'warn']);
  t.is(await ok(['inspect', '-f', '{{.State.ExitCode}}', id]), '0\n');
  await ok(['rm', 'warn', created.Id]);
});

test('--blkio-weight range and what a host without support discards (dockerd\'s checks)', (t) => {
  const full = { ...hostSysInfo(), blkioWeight: true, blkioWeightDevice: true };
  for (const w of [5, 1001]) t.throws(() => verifyLimits(readLimits({ BlkioWeight: w }), 0, full), { message: 'Range of blkio weight is from 10 to 1000' });
  t.deepEqual(verifyLimits(readLimits({ BlkioWeight: 10 }), 0, full), []);
  const none = { ...full, blkioWeight: false, cpuset: false, oomKillDisable: false, memoryReservation: false };
  const l = readLimits({ BlkioWeight: 5, CpusetCpus: '0-999', OomKillDisable: true, MemoryReservation: 1 });
  t.deepEqual(verifyLimits(l, 0, none), [
    'Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.',
    'Your kernel does not support OomKillDisable. OomKillDisable discarded.',
    'Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.',
    'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.',
  ]);
  t.like(l, { BlkioWeight: 0, CpusetCpus: '', OomKillDisable: null, MemoryReservation: 0 });
});

test.serial('--device-read-bps, --device-write-bps, --device-read-iops, --device-write-iops: the throttle files by major:minor', async (t) => {
  const dev = blockDevice();
  await ok(['run', '-d', '--name', 'io', '--device-read-bps', `${dev.path}:1mb`, '--device-write-bps', `${dev.path}:2mb`,
    '--device-read-iops', `${dev.path}:100`, '--device-write-iops', `${dev.path}:200`, 'busybox', 'sleep', '300']);
  const id = await idOf('io');
  t.is(cg('blkio', id, 'blkio.throttle.read_bps_device'), `${dev.majmin} 1048576`);
  t.is(cg('blkio', id, 'blkio.throttle.write_bps_device'), `${dev.majmin} 2097152`);
  t.is(cg('blkio', id, 'blkio.throttle.read_iops_device'), `${dev.majmin} 100`);
  t.is(cg('blkio', id, 'blkio.throttle.write_iops_device'), `${dev.majmin} 200`);
  const hc = JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig}}', 'io']));
  t.deepEqual(hc.BlkioDeviceReadBps, [{ Path: dev.path, Rate: 1048576 }]);
  t.deepEqual(hc.BlkioDeviceWriteIOps, [{ Path: dev.path, Rate: 200 }]);
  await ok(['rm', '-f', 'io']);

  // A path that is not there: created, then dockerd's 500 at start (its stat error); the CLI
  // makes "no such file or directory" its 127.
  const r = await b.docker(['run', '--rm', '--device-read-bps', '/dev/berth-nosuch:1mb', 'busybox', 'true']);
  t.is(r.code, 127);
  t.is(r.stderr, runError('stat /dev/berth-nosuch: no such file or directory'));
  await ok(['create', '--name', 'nodev', '--device-write-iops', '/dev/berth-nosuch:10', 'busybox', 'true']);
  await idOf('nodev');
  const start = await b.request('POST', '/containers/nodev/start');
  t.deepEqual([start.status, start.json()], [500, { message: 'stat /dev/berth-nosuch: no such file or directory' }]);
  await ok(['rm', 'nodev']);
});

test.serial('--cgroup-parent: the container\'s cgroup is <parent>/<id>; top and stats read it; runc removes only its own', async (t) => {
  await ok(['run', '-d', '--name', 'par', '--cgroup-parent', PARENT, '-m', '32m', '--cpuset-cpus', lastCpu, 'busybox', 'sleep', '300']);
  const id = await idOf('par');
  t.is(cg('memory', id, 'memory.limit_in_bytes', PARENT), String(32 << 20));
  t.is(cg('cpuset', id, 'cpuset.cpus', PARENT), lastCpu);
  t.false(existsSync(`/sys/fs/cgroup/memory/berth/${id}`));
  t.regex(await ok(['exec', 'par', 'cat', '/proc/self/cgroup']), new RegExp(`^\\d+:memory:${PARENT}/${id}$`, 'm'));
  t.is(JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig.CgroupParent}}', 'par'])), PARENT);
  t.regex(await ok(['top', 'par']), /sleep 300/);
  const stats = (await b.request('GET', '/containers/par/stats?stream=false')).json<{ memory_stats: { limit?: number }; pids_stats: { current?: number } }>();
  t.is(stats.memory_stats.limit, 32 << 20);
  t.is(stats.pids_stats.current, 1);
  // docker update reaches the cgroup under the parent.
  await ok(['update', '--memory-reservation', '16m', 'par']);
  t.is(cg('memory', id, 'memory.soft_limit_in_bytes', PARENT), String(16 << 20));
  await ok(['rm', '-f', 'par']);
  t.true(await waitFor(() => !existsSync(`/sys/fs/cgroup/memory${PARENT}/${id}`), 5_000));
  // As with dockerd, the parent stays (removed by this suite at its end).
  t.true(existsSync(`/sys/fs/cgroup/memory${PARENT}`));
});

test.serial('--group-add: names from the container\'s /etc/group, numbers as they are; an unknown name fails the start', async (t) => {
  await ok(['run', '--name', 'mkgroups', 'busybox', 'sh', '-c', 'printf "root:x:0:\\nwheel:x:10:\\naudio:x:29:\\nstaff:x:50:\\n" > /etc/group']);
  await idOf('mkgroups');
  await ok(['commit', 'mkgroups', 'busybox-groups']);
  await ok(['rm', 'mkgroups']);
  t.is(await ok(['run', '--rm', '--group-add', 'audio', '--group-add', '4242', '--group-add', '10', '--group-add', '29', 'busybox-groups', 'id', '-G']), '0 10 29 4242\n', 'the kernel keeps them sorted');
  // runc's GetAdditionalGroups (dockerd's): a name given twice is not found the second time.
  const twice = await b.docker(['run', '--rm', '--group-add', 'audio', '--group-add', 'audio', 'busybox-groups', 'true']);
  t.is(twice.stderr, runError('Unable to find group audio'));
  // The image without /etc/group: numbers only.
  t.is(await ok(['run', '--rm', '--group-add', '7', 'busybox', 'id', '-G']), '0 7\n');
  // docker exec -u gets them too (dockerd's getUser for the exec's user).
  await ok(['run', '-d', '--name', 'grp', '--group-add', 'staff', 'busybox-groups', 'sleep', '300']);
  await idOf('grp');
  t.is(await ok(['exec', 'grp', 'id', '-G']), '0 50\n');
  t.is(await ok(['exec', '-u', '1000:1000', 'grp', 'id', '-G']), '1000 50\n');
  t.deepEqual(JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig.GroupAdd}}', 'grp'])), ['staff']);
  await ok(['rm', '-f', 'grp']);

  const r = await b.docker(['run', '--rm', '--group-add', 'nosuch', 'busybox-groups', 'true']);
  t.is(r.code, 125);
  t.is(r.stderr, runError('Unable to find group nosuch'));
  await ok(['create', '--name', 'badgrp', '--group-add', 'nosuch', 'busybox-groups', 'true']);
  await idOf('badgrp');
  const start = await b.request('POST', '/containers/badgrp/start');
  t.deepEqual([start.status, start.json()], [500, { message: 'Unable to find group nosuch' }]);
  await ok(['rm', 'badgrp']);
});

test.serial('--cpu-rt-runtime reaches runc: without a real-time budget in the parent (no daemon --cpu-rt-runtime) the kernel refuses it, as with dockerd', async (t) => {
  const r = await b.docker(['run', '--rm', '--name', 'rt', '--cpu-rt-runtime', '10000', 'busybox', 'true']);
  t.is(r.code, 125);
  t.regex(r.stderr, /^docker: Error response from daemon: failed to create shim task: OCI runtime create failed: .*cpu\.rt_runtime_us: invalid argument: unknown\n/);
  t.is((await b.docker(['inspect', 'rt'])).code, 1, '--rm removed it');
});

test.serial('docker update --cpuset-cpus, --memory-reservation, --blkio-weight: runc sets them, dockerd\'s checks and warnings', async (t) => {
  const hasWeight = existsSync('/sys/fs/cgroup/blkio/blkio.weight');
  await ok(['run', '-d', '--name', 'upd', '-m', '64m', 'busybox', 'sleep', '300']);
  const id = await idOf('upd');
  t.is(cg('cpuset', id, 'cpuset.cpus'), hostCpus);
  const out = await ok(['update', '--cpuset-cpus', lastCpu, '--cpuset-mems', '0', '--memory-reservation', '20m', '--blkio-weight', '300', 'upd']);
  t.is(out, hasWeight ? 'upd\n' : 'upd\nYour kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.\n');
  t.is(cg('cpuset', id, 'cpuset.cpus'), lastCpu);
  t.is(cg('cpuset', id, 'cpuset.mems'), '0');
  t.is(cg('memory', id, 'memory.soft_limit_in_bytes'), String(20 << 20));
  const hc = JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig}}', 'upd']));
  t.like(hc, { CpusetCpus: lastCpu, CpusetMems: '0', MemoryReservation: 20 << 20, BlkioWeight: hasWeight ? 300 : 0, Memory: 64 << 20 });

  const refusals: Array<[Record<string, unknown>, string]> = [
    [{ CpusetCpus: '0-64' }, `Requested CPUs are not available - requested 0-64, available: ${hostCpus}`],
    [{ CpusetMems: '5' }, `Requested memory nodes are not available - requested 5, available: ${hostMems}`],
    [{ MemoryReservation: 1000 }, 'Minimum memory reservation allowed is 6MB'],
    [{ Memory: 16 << 20, MemorySwap: 32 << 20, MemoryReservation: 32 << 20 }, 'Minimum memory limit can not be less than memory reservation limit, see usage'],
  ];
  for (const [body, message] of refusals) {
    const r = await b.request('POST', '/containers/upd/update', { body: JSON.stringify(body), headers: json });
    t.is(r.status, 400, JSON.stringify(body));
    t.is(r.json<{ message: string }>().message, message);
  }
  const cli = await b.docker(['update', '--cpuset-cpus', '0-64', 'upd']);
  t.is(cli.code, 1);
  t.is(cli.stderr, `Error response from daemon: Requested CPUs are not available - requested 0-64, available: ${hostCpus}\n`);
  t.is(JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig.CpusetCpus}}', 'upd'])), lastCpu, 'a refused update changes nothing');

  // A stopped container's update is kept, and applied at its next start.
  await ok(['stop', '-t', '0', 'upd']);
  await ok(['update', '--cpuset-cpus', '0', '--memory-reservation', '24m', 'upd']);
  await ok(['start', 'upd']);
  t.is(cg('cpuset', id, 'cpuset.cpus'), '0');
  t.is(cg('memory', id, 'memory.soft_limit_in_bytes'), String(24 << 20));
  await ok(['rm', '-f', 'upd']);
});

test.serial('nothing is left: no container, mount, conmon, runc state, bundle or cgroup', async (t) => {
  t.is(await ok(['ps', '-aq']), '');
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 5_000), JSON.stringify(leftovers(b)));
  for (const id of ids) {
    for (const c of CONTROLLERS) {
      t.false(existsSync(`/sys/fs/cgroup/${c}/berth/${id}`), `${c}/berth/${id}`);
      t.false(existsSync(`/sys/fs/cgroup/${c}${PARENT}/${id}`), `${c}${PARENT}/${id}`);
    }
  }
  removeParent();
  for (const c of CONTROLLERS) t.false(existsSync(`/sys/fs/cgroup/${c}${PARENT}`));
});
