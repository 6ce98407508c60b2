/**
 * What CI farms use, as dockerd 20.10 does it, with the real docker CLI against a real berthd:
 * --privileged (every capability and host device, the devices cgroup open, /sys writable, no
 * masked or read-only paths), docker exec --privileged, --device and --device-cgroup-rule,
 * --sysctl, and --security-opt (no-new-privileges, unconfined profiles, label=disable, a
 * seccomp profile: seccomp.test covers those). Ends by checking that nothing is left.
 */
import test from 'ava';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, stopWithContainers, dockerOk } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;
/** A link type this kernel can make in a namespace (dummy is not built into every kernel). */
let linkKind = 'dummy';

test.before(async () => {
  work = tempDir('btp-');
  b = await startBerthd();
  await importBusybox(b, work);
  const probe = await run('unshare', ['-n', 'ip', 'link', 'add', 'probe0', 'type', 'dummy']);
  if (probe.code !== 0) linkKind = 'bridge';
});

test.after.always(async () => {
  if (b) await stopWithContainers(b);
  if (work) removeDir(work);
});

const ok = (args: string[]) => dockerOk(b, args);
const inspect = async (name: string) => JSON.parse(await ok(['inspect', name]))[0];
const json = { 'Content-Type': 'application/json' };
const create = (body: Record<string, unknown>) => b.request('POST', '/containers/create', { body: JSON.stringify({ Image: 'busybox', Cmd: ['true'], ...body }), headers: json });
const USAGE = "\n\nRun 'docker run --help' for more information\n";
const caps = (out: string) => Object.fromEntries(out.trim().split('\n').map((l) => l.split(':\t')));
const lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
/** Every capability of the kernel that this environment has (berthd's own: a container may have fewer than the kernel's). */
const ownEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
const ALL = (((1n << BigInt(lastCap + 1)) - 1n) & ownEff).toString(16).padStart(16, '0');
const DEFAULT = '00000000a80425fb';
/** major:minor in hex, as stat -c '%t:%T' prints them. */
const hexDev = (p: string) => {
  const r = statSync(p).rdev;
  return `${(((r >> 8) & 0xfff) | ((r >>> 20) & ~0xfff)).toString(16)}:${((r & 0xff) | ((r >> 12) & ~0xff)).toString(16)}`;
};

test.serial('--privileged: network admin in its own namespace, every capability, host devices, devices cgroup open', async (t) => {
  const link = `ip link add t0 type ${linkKind} && echo ok`;
  t.is(await ok(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', link]), 'ok\n');
  const plain = await b.docker(['run', '--rm', 'busybox', 'sh', '-c', link]);
  t.not(plain.code, 0, 'without --privileged it fails as before');
  t.regex(plain.stderr, /Operation not permitted/);

  const c = caps(await ok(['run', '--rm', '--privileged', 'busybox', 'grep', 'Cap', '/proc/self/status']));
  t.deepEqual(c, { CapInh: '0000000000000000', CapPrm: ALL, CapEff: ALL, CapBnd: ALL, CapAmb: '0000000000000000' });
  // --cap-drop means nothing beside --privileged (dockerd's TweakCapabilities).
  t.is(caps(await ok(['run', '--rm', '--privileged', '--cap-drop', 'ALL', 'busybox', 'grep', 'CapEff', '/proc/self/status'])).CapEff, ALL);

  // Host devices, recursively (not the console, pts, shm, mqueue), with the host's numbers.
  const devs = ['/dev/loop-control', '/dev/kmsg', '/dev/net/tun', '/dev/loop0'].filter((p) => existsSync(p));
  t.true(devs.length > 0, 'this host has some device beyond the defaults');
  const inPriv = await ok(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', devs.map((p) => `stat -c '%n %t:%T' ${p}`).join('; ')]);
  t.is(inPriv, devs.map((p) => `${p} ${hexDev(p)}\n`).join(''));
  const inPlain = await b.docker(['run', '--rm', 'busybox', 'ls', devs[0]!]);
  t.not(inPlain.code, 0, `${devs[0]} is not there without --privileged`);
  // The devices cgroup allows everything (cgroup v1 here).
  if (existsSync('/sys/fs/cgroup/devices')) {
    t.is(await ok(['run', '--rm', '--privileged', 'busybox', 'cat', '/sys/fs/cgroup/devices/devices.list']), 'a *:* rwm\n');
    t.notRegex(await ok(['run', '--rm', 'busybox', 'cat', '/sys/fs/cgroup/devices/devices.list']), /^a /m);
  }
  if (existsSync('/dev/loop-control')) {
    t.is(await ok(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'exec 3<>/dev/loop-control && echo opened']), 'opened\n');
  }
});

test.serial('--privileged: /sys read-write, no masked or read-only paths; inspect as dockerd (Privileged, label=disable, null paths)', async (t) => {
  const mounts = (out: string) => out.trim().split('\n').map((l) => l.split(' ')).map(([, dst, , opts]) => ({ dst: dst!, ro: opts!.split(',')[0] === 'ro' }));
  const priv = mounts(await ok(['run', '--rm', '--privileged', 'busybox', 'cat', '/proc/mounts']));
  const plain = mounts(await ok(['run', '--rm', 'busybox', 'cat', '/proc/mounts']));
  t.false(priv.find((m) => m.dst === '/sys')!.ro, '/sys is rw');
  t.true(plain.find((m) => m.dst === '/sys')!.ro, '/sys is ro without --privileged');
  // dockerd's masked paths that this kernel has (runc skips the others), and /proc/sys read-only.
  const masked = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'].filter((p) => existsSync(p));
  t.true(masked.length > 0);
  for (const m of masked) t.true(plain.some((x) => x.dst === m), `${m} masked without --privileged`);
  t.true(plain.find((m) => m.dst === '/proc/sys')!.ro, '/proc/sys read-only without --privileged');
  t.deepEqual(priv.filter((m) => masked.includes(m.dst) || m.dst.startsWith('/proc/')), [], 'nothing masked or read-only');
  t.is(await ok(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward']), '1\n');
  // No seccomp filter (dockerd applies none to a privileged container).
  t.regex(await ok(['run', '--rm', '--privileged', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\t0/);

  await ok(['create', '--name', 'pinsp', '--privileged', 'busybox', 'true']);
  const hc = (await inspect('pinsp')).HostConfig;
  t.is(hc.Privileged, true);
  t.deepEqual(hc.SecurityOpt, ['label=disable']);
  t.is(hc.MaskedPaths, null);
  t.is(hc.ReadonlyPaths, null);
  await ok(['rm', 'pinsp']);
  await ok(['create', '--name', 'pinsp2', '--privileged', '--security-opt', 'no-new-privileges', 'busybox', 'true']);
  t.deepEqual((await inspect('pinsp2')).HostConfig.SecurityOpt, ['no-new-privileges', 'label=disable']);
  await ok(['rm', 'pinsp2']);
  await ok(['create', '--name', 'pinsp3', '--privileged', '--security-opt', 'label=disable', 'busybox', 'true']);
  t.deepEqual((await inspect('pinsp3')).HostConfig.SecurityOpt, ['label=disable'], 'a label option of the user\'s: none added');
  await ok(['rm', 'pinsp3']);
  await ok(['create', '--name', 'plain', 'busybox', 'true']);
  const p = (await inspect('plain')).HostConfig;
  t.is(p.Privileged, false);
  t.is(p.SecurityOpt, null);
  t.is(p.MaskedPaths.length, 10);
  await ok(['rm', 'plain']);
});

test.serial('docker exec --privileged: the session gets every capability (another user: in its bounding set, as dockerd)', async (t) => {
  await ok(['run', '-d', '--name', 'ex', 'busybox', 'sleep', '300']);
  t.is(caps(await ok(['exec', 'ex', 'grep', 'CapEff', '/proc/self/status'])).CapEff, DEFAULT);
  const c = caps(await ok(['exec', '--privileged', 'ex', 'grep', 'Cap', '/proc/self/status']));
  t.is(c.CapEff, ALL);
  t.is(c.CapBnd, ALL);
  t.is(c.CapPrm, ALL);
  // Another user: all of them in the bounding set, none effective after its execve (no ambient set, as dockerd).
  t.like(caps(await ok(['exec', '--privileged', '-u', 'nobody', 'ex', 'grep', 'Cap', '/proc/self/status'])), { CapBnd: ALL, CapEff: '0000000000000000' });
  t.like(caps(await ok(['exec', '-u', 'nobody', 'ex', 'grep', 'Cap', '/proc/self/status'])), { CapBnd: DEFAULT, CapEff: '0000000000000000' });
  t.is(await ok(['exec', '--privileged', 'ex', 'sh', '-c', `ip link add t1 type ${linkKind} && echo ok`]), 'ok\n');
  t.not((await b.docker(['exec', 'ex', 'ip', 'link', 'add', 't2', 'type', linkKind])).code, 0);
  // Inspect of the session says so.
  const created = await b.request('POST', '/containers/ex/exec', { body: '{"Cmd":["true"],"Privileged":true}', headers: json });
  t.is(created.status, 201);
  const id = created.json<{ Id: string }>().Id;
  t.is((await b.request('GET', `/exec/${id}/json`)).json<{ ProcessConfig: { privileged: boolean } }>().ProcessConfig.privileged, true);
  await ok(['rm', '-f', 'ex']);
});

test.serial('--device: the node made in the container and allowed in the devices cgroup, with its permissions; dockerd\'s errors', async (t) => {
  t.is(await ok(['run', '--rm', '--device', '/dev/null:/dev/mynull:rwm', 'busybox', 'sh', '-c', "stat -c '%F %t:%T' /dev/mynull && echo hi > /dev/mynull && echo written"]),
    'character special file 1:3\nwritten\n');
  if (existsSync('/dev/loop-control')) {
    t.is(await ok(['run', '--rm', '--device', '/dev/loop-control', 'busybox', 'sh', '-c', 'exec 3<>/dev/loop-control && echo opened']), 'opened\n');
    // r only: reading is allowed, read-write is not.
    const r = await b.docker(['run', '--rm', '--device', '/dev/loop-control:/dev/lc:r', 'busybox', 'sh', '-c', 'exec 3</dev/lc && echo read; exec 4<>/dev/lc && echo rw']);
    t.is(r.stdout, 'read\n');
    t.regex(r.stderr, /Operation not permitted/);
    // --device-cgroup-rule: a node made with mknod opens only with a rule for it.
    const mk = 'mknod /dev/lc c 10 237 && exec 3<>/dev/lc && echo opened';
    t.regex((await b.docker(['run', '--rm', 'busybox', 'sh', '-c', mk])).stderr, /Operation not permitted/);
    t.is(await ok(['run', '--rm', '--device-cgroup-rule', 'c 10:237 rw', 'busybox', 'sh', '-c', mk]), 'opened\n');
    t.is(await ok(['run', '--rm', '--device-cgroup-rule', 'c 10:* rwm', 'busybox', 'sh', '-c', mk]), 'opened\n');
  }
  // A directory of devices: every node under it, renamed.
  if (existsSync('/dev/net/tun')) {
    t.is(await ok(['run', '--rm', '--device', '/dev/net:/dev/xnet', 'busybox', 'sh', '-c', "stat -c '%t:%T' /dev/xnet/tun"]), `${hexDev('/dev/net/tun')}\n`);
  }
  await ok(['create', '--name', 'dinsp', '--device', '/dev/null:/dev/mynull:rw', '--device-cgroup-rule', 'c 10:237 rw', 'busybox', 'true']);
  const hc = (await inspect('dinsp')).HostConfig;
  t.deepEqual(hc.Devices, [{ PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'rw' }]);
  t.deepEqual(hc.DeviceCgroupRules, ['c 10:237 rw']);
  await ok(['rm', 'dinsp']);

  // A missing host device: dockerd's error at start (the container is removed with --rm).
  const missing = await b.docker(['run', '--rm', '--device', '/dev/nosuchdev', 'busybox', 'true']);
  t.is(missing.code, 127, 'the CLI\'s code for a start error that says "no such file or directory"');
  t.is(missing.stderr, 'docker: Error response from daemon: error gathering device information while adding custom device "/dev/nosuchdev": no such file or directory' + USAGE);
  const notdev = await b.docker(['run', '--rm', '--device', '/etc/hostname', 'busybox', 'true']);
  t.regex(notdev.stderr, /error gathering device information while adding custom device "\/etc\/hostname": not a device node/);
  // Bad permissions: the CLI's check, and the daemon's for API clients.
  const badCli = await b.docker(['run', '--rm', '--device', '/dev/null:/dev/x:rwx', 'busybox', 'true']);
  t.is(badCli.code, 125);
  t.regex(badCli.stderr, /bad mode specified: rwx/);
  const badApi = await create({ HostConfig: { Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/x', CgroupPermissions: 'rwx' }] } });
  t.is(badApi.status, 400);
  t.is(badApi.json<{ message: string }>().message, 'bad mode specified: rwx');
  const relApi = await create({ HostConfig: { Devices: [{ PathOnHost: '/dev/null', PathInContainer: 'x', CgroupPermissions: 'rwm' }] } });
  t.is(relApi.json<{ message: string }>().message, 'x is not an absolute path');
  const badRule = await create({ HostConfig: { DeviceCgroupRules: ['c 1:3 rwx'] } });
  t.is(badRule.status, 400);
  t.is(badRule.json<{ message: string }>().message, "invalid device cgroup rule format: 'c 1:3 rwx'");
  t.regex((await b.docker(['run', '--rm', '--device-cgroup-rule', 'bogus', 'busybox', 'true'])).stderr, /invalid device cgroup format 'bogus'/);
});

test.serial('--sysctl: namespaced ones reach the container (over dockerd\'s defaults); runc refuses the others at start', async (t) => {
  // A new namespace starts from the host's value: ask for the other one.
  const dflt = (await ok(['run', '--rm', 'busybox', 'cat', '/proc/sys/net/ipv4/ip_forward'])).trim();
  const other = dflt === '1' ? '0' : '1';
  t.is(await ok(['run', '--rm', '--sysctl', `net.ipv4.ip_forward=${other}`, 'busybox', 'cat', '/proc/sys/net/ipv4/ip_forward']), `${other}\n`);
  t.is(await ok(['run', '--rm', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=1024', '--sysctl', 'kernel.shmmax=123456789', '--sysctl', 'fs.mqueue.msg_max=20', 'busybox', 'cat',
    '/proc/sys/net/ipv4/ip_unprivileged_port_start', '/proc/sys/kernel/shmmax', '/proc/sys/fs/mqueue/msg_max']), '1024\n123456789\n20\n');
  await ok(['create', '--name', 'sinsp', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'true']);
  t.deepEqual((await inspect('sinsp')).HostConfig.Sysctls, { 'net.ipv4.ip_forward': '1' });
  await ok(['rm', 'sinsp']);

  // net.* in the host's network namespace: runc's refusal at start, as under dockerd.
  const host = await b.docker(['run', '--rm', '--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'true']);
  t.is(host.code, 125);
  t.regex(host.stderr, /sysctl "net.ipv4.ip_forward" not allowed in host network namespace/);
  // The CLI refuses what is not namespaced; an API client gets runc's refusal at start.
  t.regex((await b.docker(['run', '--rm', '--sysctl', 'kernel.panic=1', 'busybox', 'true'])).stderr, /sysctl 'kernel.panic=1' is not allowed/);
  const made = await create({ HostConfig: { Sysctls: { 'kernel.panic': '1' } } });
  t.is(made.status, 201);
  const id = made.json<{ Id: string }>().Id;
  const start = await b.request('POST', `/containers/${id}/start`);
  t.is(start.status, 500);
  t.regex(start.json<{ message: string }>().message, /sysctl "kernel.panic" is not in a separate kernel namespace/);
  await ok(['rm', id]);
  const hostname = await create({ HostConfig: { Sysctls: { 'kernel.hostname': 'x' } } });
  const hid = hostname.json<{ Id: string }>().Id;
  t.regex((await b.request('POST', `/containers/${hid}/start`)).json<{ message: string }>().message, /sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field/);
  await ok(['rm', hid]);
  const badType = await create({ HostConfig: { Sysctls: { 'net.ipv4.ip_forward': 1 } } });
  t.is(badType.status, 400);
});

test.serial('--security-opt: no-new-privileges, unconfined profiles, a seccomp profile and label=disable accepted; dockerd\'s errors', async (t) => {
  const nnp = (args: string[]) => ok(['run', '--rm', ...args, 'busybox', 'grep', 'NoNewPrivs', '/proc/self/status']);
  t.is(await nnp([]), 'NoNewPrivs:\t0\n');
  t.is(await nnp(['--security-opt', 'no-new-privileges']), 'NoNewPrivs:\t1\n');
  t.is(await nnp(['--security-opt', 'no-new-privileges:true']), 'NoNewPrivs:\t1\n');
  t.is(await nnp(['--security-opt', 'no-new-privileges=true']), 'NoNewPrivs:\t1\n');
  t.is(await nnp(['--security-opt', 'no-new-privileges', '--security-opt', 'no-new-privileges=false']), 'NoNewPrivs:\t0\n');
  // An exec session inherits it (dockerd's too).
  await ok(['run', '-d', '--name', 'nnp', '--security-opt', 'no-new-privileges', 'busybox', 'sleep', '300']);
  t.is(await ok(['exec', 'nnp', 'grep', 'NoNewPrivs', '/proc/self/status']), 'NoNewPrivs:\t1\n');
  await ok(['rm', '-f', 'nnp']);

  const opts = ['seccomp=unconfined', 'apparmor=unconfined', 'label=disable', 'no-new-privileges:true'];
  await ok(['create', '--name', 'sec', ...opts.flatMap((o) => ['--security-opt', o]), 'busybox', 'true']);
  t.deepEqual((await inspect('sec')).HostConfig.SecurityOpt, opts);
  t.is((await b.docker(['start', '-a', 'sec'])).code, 0);
  await ok(['rm', 'sec']);

  // A seccomp profile file: the CLI sends its content, applied (seccomp.test covers profiles).
  const profile = join(work, 'seccomp.json');
  writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] }));
  t.is((await b.docker(['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'true'])).code, 0);
  // Beside --privileged dockerd applies no seccomp profile at all.
  t.is((await b.docker(['run', '--rm', '--privileged', '--security-opt', `seccomp=${profile}`, 'busybox', 'true'])).code, 0);

  const unknown = await b.docker(['run', '--rm', '--security-opt', 'foo=bar', 'busybox', 'true']);
  t.is(unknown.code, 125);
  t.is(unknown.stderr, 'docker: Error response from daemon: invalid --security-opt 2: "foo=bar"' + USAGE);
  t.regex((await b.docker(['run', '--rm', '--security-opt', 'no-new-privileges=maybe', 'busybox', 'true'])).stderr, /invalid --security-opt 2: "no-new-privileges=maybe"/);
  const one = await create({ HostConfig: { SecurityOpt: ['foo'] } });
  t.is(one.status, 400);
  t.is(one.json<{ message: string }>().message, 'invalid --security-opt 1: "foo"');
  t.regex((await b.docker(['run', '--rm', '--security-opt', 'foo', 'busybox', 'true'])).stderr, /Invalid --security-opt: "foo"/, 'the CLI\'s own check');
});

test.serial('nothing is left: no container, mount, conmon, runc state or bundle', async (t) => {
  t.is((await ok(['ps', '-aq'])).trim(), '');
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 5_000), JSON.stringify(leftovers(b)));
});
