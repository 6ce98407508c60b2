/**
 * The Docker seccomp profile format to the OCI linux.seccomp (dockerd 20.10's setupSeccomp):
 * includes/excludes by capability, architecture and minimum kernel, errnoRet and
 * defaultErrnoRet, dockerd's decoding errors; the daemon's profile and each container's.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerSeccomp, convertProfile, daemonProfile, decodeProfile, DISTRO_PROFILE, hardenDistroProfile, loadProfile, nativeArch, parseKernel, SeccompProfileError, type DaemonProfile } from '../../src/daemon/containers/seccomp.js';
import { DEFAULT_CAPS } from '../../src/daemon/containers/caps.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const amd64 = { capabilities: DEFAULT_CAPS, arch: 'amd64', kernel: '5.10.0-28-amd64' };
const names = (s: ReturnType<typeof loadProfile>) => (s?.syscalls ?? []).flatMap((c) => c.names);

const PROFILE = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 38,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  syscalls: [
    { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
    { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
    { names: ['set_tls'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
    { names: ['not_on_arm'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['arm64'] } },
    { names: ['sethostname'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['sethostname'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['two_caps'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN', 'CAP_CHOWN'] } },
    { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
    { names: ['old_only'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '5.4' } },
    { name: 'single', action: 'SCMP_ACT_LOG' },
  ],
};

test('the host architecture and its sub-architectures from archMap; includes/excludes arches', (t) => {
  const x = loadProfile(JSON.stringify(PROFILE), amd64)!;
  t.deepEqual(x.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  t.true(names(x).includes('arch_prctl'));
  t.false(names(x).includes('set_tls'));
  t.true(names(x).includes('not_on_arm'));
  const a = loadProfile(JSON.stringify(PROFILE), { ...amd64, arch: 'arm64' })!;
  t.deepEqual(a.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  t.false(names(a).includes('arch_prctl'));
  t.true(names(a).includes('set_tls'));
  t.false(names(a).includes('not_on_arm'));
  // An architecture archMap does not list: none (libseccomp's native one).
  t.is(loadProfile(JSON.stringify(PROFILE), { ...amd64, arch: 's390x' })!.architectures, undefined);
  // "architectures" is taken as given.
  t.deepEqual(loadProfile(JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'] }), amd64)!.architectures, ['SCMP_ARCH_X86_64']);
  t.is(nativeArch('x64'), 'amd64');
  t.is(nativeArch('ia32'), 'x86');
  t.is(nativeArch('ppc64', true), 'ppc64le');
  t.is(nativeArch('arm64'), 'arm64');
});

test('includes/excludes caps by the container\'s capabilities (every included cap needed, any excluded one enough)', (t) => {
  const plain = loadProfile(JSON.stringify(PROFILE), amd64)!;
  const sh = plain.syscalls!.filter((c) => c.names.includes('sethostname'));
  t.deepEqual(sh, [{ names: ['sethostname'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }]);
  t.false(names(plain).includes('two_caps'));
  const admin = loadProfile(JSON.stringify(PROFILE), { ...amd64, capabilities: [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'] })!;
  t.deepEqual(admin.syscalls!.filter((c) => c.names.includes('sethostname')), [{ names: ['sethostname'], action: 'SCMP_ACT_ALLOW' }]);
  t.true(names(admin).includes('two_caps'));
  const noChown = loadProfile(JSON.stringify(PROFILE), { ...amd64, capabilities: ['CAP_SYS_ADMIN'] })!;
  t.false(names(noChown).includes('two_caps'));
});

test('minKernel against the host kernel; errnoRet, defaultErrnoRet, args and name kept', (t) => {
  const k510 = loadProfile(JSON.stringify(PROFILE), amd64)!;
  t.true(names(k510).includes('ptrace'));
  t.false(names(k510).includes('old_only'));
  const k44 = loadProfile(JSON.stringify(PROFILE), { ...amd64, kernel: '4.4.0-210-generic' })!;
  t.false(names(k44).includes('ptrace'));
  t.true(names(k44).includes('old_only'));
  t.true(names(loadProfile(JSON.stringify(PROFILE), { ...amd64, kernel: '4.8' })!).includes('ptrace'), 'equal counts');
  t.true(names(loadProfile(JSON.stringify(PROFILE), { ...amd64, kernel: '10.0.1' })!).includes('ptrace'));
  t.deepEqual(parseKernel('6.18.44-fc-v769'), [6, 18, 44]);
  t.is(k510.defaultAction, 'SCMP_ACT_ERRNO');
  t.is(k510.defaultErrnoRet, 38);
  t.deepEqual(k510.syscalls!.find((c) => c.names.includes('personality')), { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }] });
  t.deepEqual(k510.syscalls!.find((c) => c.names.includes('single')), { names: ['single'], action: 'SCMP_ACT_LOG' });
  t.deepEqual(k510.syscalls![0], { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' });
  // No defaultErrnoRet: none (runc's EPERM).
  t.false('defaultErrnoRet' in loadProfile(JSON.stringify({ ...PROFILE, defaultErrnoRet: undefined }), amd64)!);
});

test('a profile that asks for nothing is no filter; Go\'s JSON rules (keys in any case, unknown keys and nulls ignored)', (t) => {
  t.is(loadProfile('{}', amd64), null);
  t.is(loadProfile('null', amd64), null);
  t.is(loadProfile('{"syscalls":null,"comment":"x"}', amd64), null);
  t.deepEqual(loadProfile('{"DEFAULTACTION":"SCMP_ACT_ALLOW","Syscalls":[{"Names":["x"],"ACTION":"SCMP_ACT_ERRNO","args":null}]}', amd64), {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO' }],
  });
});

test('dockerd\'s errors', (t) => {
  const err = (body: string) => t.throws(() => loadProfile(body, amd64), { instanceOf: SeccompProfileError })!.message;
  t.is(err('/tmp/profile.json'), "Decoding seccomp profile failed: invalid character '/' looking for beginning of value");
  t.is(err(''), 'Decoding seccomp profile failed: unexpected end of JSON input');
  t.is(err('[]'), 'Decoding seccomp profile failed: json: cannot unmarshal array into Go value of type seccomp.Seccomp');
  t.is(err('{"defaultAction":5}'), 'Decoding seccomp profile failed: json: cannot unmarshal number into Go struct field Seccomp.defaultAction of type specs.LinuxSeccompAction');
  t.is(err('{"syscalls":{"names":["x"]}}'), 'Decoding seccomp profile failed: json: cannot unmarshal object into Go struct field Seccomp.syscalls of type []*seccomp.Syscall');
  t.is(err('{"syscalls":[{"names":"x"}]}'), 'Decoding seccomp profile failed: json: cannot unmarshal string into Go struct field Syscall.syscalls.names of type []string');
  t.is(err('{"syscalls":[{"errnoRet":-1}]}'), 'Decoding seccomp profile failed: json: cannot unmarshal number -1 into Go struct field Syscall.syscalls.errnoRet of type uint');
  t.is(err('{"syscalls":[{"includes":{"minKernel":"4"}}]}'), 'Decoding seccomp profile failed: invalid kernel version: "4", expected "<kernel>.<major>"');
  t.is(err('{"syscalls":[{"includes":{"minKernel":"4.x"}}]}'), 'Decoding seccomp profile failed: invalid kernel version: "4.x", expected "<kernel>.<major>": strconv.ParseUint: parsing "x": invalid syntax');
  t.is(err('{"syscalls":[{"excludes":{"minKernel":"0.0"}}]}'), 'Decoding seccomp profile failed: invalid kernel version: "0.0", expected "<kernel>.<major>": version cannot be 0.0');
  t.is(err('{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}'), "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'");
  t.is(err('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}'), "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'");
  // Only for a rule that applies (dockerd's loop checks after the filters).
  t.notThrows(() => loadProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"includes":{"arches":["s390x"]}}]}', amd64));
  t.notThrows(() => decodeProfile('{"syscalls":[{"includes":{"minKernel":""}}]}'));
});

test('the distribution\'s profile (containers-common) converts for the default capabilities', (t) => {
  if (!existsSync(DISTRO_PROFILE)) return t.pass(`${DISTRO_PROFILE} is not installed`);
  const body = readFileSync(DISTRO_PROFILE, 'utf8');
  const x = convertProfile(decodeProfile(body), amd64)!;
  t.is(x.defaultAction, 'SCMP_ACT_ERRNO');
  t.deepEqual(x.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const allowed = new Set(x.syscalls!.filter((c) => c.action === 'SCMP_ACT_ALLOW' && !c.args).flatMap((c) => c.names));
  for (const n of ['read', 'execve', 'clone', 'chroot', 'arch_prctl']) t.true(allowed.has(n), n);
  for (const n of ['sethostname', 'bpf', 'kexec_load', 'init_module', 'settimeofday']) t.false(allowed.has(n), n);
});

test('the daemon\'s profile: --seccomp-profile, unconfined, else the distribution\'s, else none with a warning', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bsc-'));
  try {
    const file = join(dir, 'p.json');
    writeFileSync(file, '{"defaultAction":"SCMP_ACT_ALLOW"}');
    t.deepEqual(daemonProfile(file), { name: file, body: '{"defaultAction":"SCMP_ACT_ALLOW"}', warning: null });
    t.deepEqual(daemonProfile('unconfined'), { name: 'unconfined', body: null, warning: null });
    // The distribution's, with dockerd's rules for namespaces, mounts, clone and keyctl added.
    t.deepEqual(daemonProfile('', file), { name: 'default', body: hardenDistroProfile('{"defaultAction":"SCMP_ACT_ALLOW"}'), warning: null });
    const none = daemonProfile('', join(dir, 'missing.json'));
    t.is(none.name, null);
    t.is(none.body, null);
    t.regex(none.warning!, /^WARNING: No seccomp profile: .*missing\.json is not there/);
    t.is(t.throws(() => daemonProfile(join(dir, 'nope.json')))!.message, `opening seccomp profile (${join(dir, 'nope.json')}) failed: open ${join(dir, 'nope.json')}: no such file or directory`);
    // The flag and daemon.json key; a file that cannot be read stops the daemon.
    const cfg = (argv: string[]) => {
      const inv = loadConfig(['--config-file', '/dev/null', ...argv], {});
      if (inv.kind !== 'run') throw new Error('not a run');
      return inv.config;
    };
    t.is(cfg([]).seccompProfile, '');
    t.is(cfg(['--seccomp-profile', file]).seccompProfile, file);
    t.is(cfg(['--seccomp-profile', 'unconfined']).seccompProfile, 'unconfined');
    const json = join(dir, 'daemon.json');
    writeFileSync(json, JSON.stringify({ 'seccomp-profile': file }));
    const inv = loadConfig(['--config-file', json], {});
    t.is(inv.kind === 'run' ? inv.config.seccompProfile : '', file);
    const bad = t.throws(() => cfg(['--seccomp-profile', join(dir, 'nope.json')]), { instanceOf: ConfigError })!;
    t.is(bad.message, `opening seccomp profile (${join(dir, 'nope.json')}) failed: open ${join(dir, 'nope.json')}: no such file or directory`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a container\'s filter: none when privileged or unconfined; its own profile, else the daemon\'s; the last option counts', (t) => {
  const daemon: DaemonProfile = { name: 'default', body: JSON.stringify(PROFILE), warning: null };
  const own = 'seccomp={"defaultAction":"SCMP_ACT_LOG"}';
  const target = { capabilities: DEFAULT_CAPS };
  t.is(containerSeccomp(null, false, daemon, target)!.defaultAction, 'SCMP_ACT_ERRNO');
  t.is(containerSeccomp(['seccomp=builtin'], false, daemon, target)!.defaultAction, 'SCMP_ACT_ERRNO');
  t.is(containerSeccomp(null, true, daemon, target), null);
  t.is(containerSeccomp([own], true, daemon, target), null);
  t.is(containerSeccomp(['seccomp=unconfined'], false, daemon, target), null);
  t.is(containerSeccomp(['seccomp:unconfined'], false, daemon, target), null);
  t.is(containerSeccomp([own], false, daemon, target)!.defaultAction, 'SCMP_ACT_LOG');
  t.is(containerSeccomp([own, 'seccomp=unconfined'], false, daemon, target), null);
  t.is(containerSeccomp(['seccomp=unconfined', own, 'no-new-privileges'], false, daemon, target)!.defaultAction, 'SCMP_ACT_LOG');
  t.is(containerSeccomp(null, false, { name: null, body: null, warning: 'w' }, target), null);
  t.is(containerSeccomp([own], false, { name: 'unconfined', body: null, warning: null }, target)!.defaultAction, 'SCMP_ACT_LOG');
  t.throws(() => containerSeccomp(['seccomp=/etc/p.json'], false, daemon, target), { message: /^Decoding seccomp profile failed: invalid character '\/'/ });
});

test('hardenDistroProfile: the unconditional allow of unshare/mount/clone/keyctl goes; CAP_SYS_ADMIN rules and clone\'s flag mask come instead', (t) => {
  const distro = JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'unshare', 'clone', 'keyctl', 'ptrace'], action: 'SCMP_ACT_ALLOW' }] });
  const target = (caps: string[]) => ({ capabilities: caps, arch: nativeArch(), kernel: '6.1.0' });
  const names = (caps: string[]) => {
    const out = convertProfile(decodeProfile(hardenDistroProfile(distro)), target(caps))!;
    return (out.syscalls ?? []).filter((s) => s.action === 'SCMP_ACT_ALLOW').map((s) => `${s.names.join(',')}${s.args?.length ? '(masked)' : ''}`);
  };
  t.deepEqual(names(['CAP_CHOWN']), ['read,ptrace', 'clone(masked)']);
  t.deepEqual(names(['CAP_SYS_ADMIN']), ['read,ptrace', 'unshare,setns,mount,umount,umount2,fsconfig,fsmount,fsopen,fspick,mount_setattr,move_mount,open_tree', 'clone,clone3']);
});
