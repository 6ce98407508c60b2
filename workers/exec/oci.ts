/**
 * The OCI runtime spec of a container, as dockerd 20.10 makes it for a plain `docker run`:
 * its default capabilities, masked and read-only paths, mounts and namespaces, cgroup
 * resources (v1 here: cgroupfs under /berth/<id>), and the hostname, hosts and resolv.conf
 * files bind-mounted from the container's own directory. What berth does not implement is
 * refused before this point (the daemon's create), never silently dropped.
 */
import type { RunSpec } from '../../src/protocol/types/containers.js';
import type { ResolvedUser } from './user.js';
import { deviceSpec } from './devices.js';
import { statSync } from 'node:fs';
import { posix } from 'node:path';
import { SystemError } from '../../src/errdefs/errors.js';

/** Where `docker run --init` puts the init binary, as dockerd. */
export const INIT_IN_CONTAINER = '/sbin/docker-init';

export function ociSpec(s: RunSpec, user: ResolvedUser): Record<string, unknown> {
  // dockerd's WithNamespaces: the host's pid, ipc or uts namespace is none in the spec; another
  // container's is joined by its path.
  const namespaces: Array<{ type: string; path?: string }> = [{ type: 'mount' }];
  if (s.utsns !== 'host') namespaces.push({ type: 'uts' });
  for (const [type, ns] of [['pid', s.pidns], ['ipc', s.ipcns]] as const) {
    if (ns === 'host') continue;
    namespaces.push(ns ? { type, path: ns } : { type });
  }
  if (s.netns) namespaces.push({ type: 'network', path: s.netns });
  // With --read-only, dockerd makes these three read-only too.
  const bind = (destination: string, source: string) => ({ destination, type: 'bind', source, options: s.readonlyRootfs ? ['rbind', 'ro', 'rprivate'] : ['rbind', 'rprivate'] });
  const defaults = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    // --privileged: /sys and the cgroups writable (dockerd's WithMounts clears their ro).
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: s.privileged ? ['nosuid', 'noexec', 'nodev'] : ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: s.privileged ? ['nosuid', 'noexec', 'nodev'] : ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // --ipc none: no /dev/shm; shareable, host, container:<x>: a bind of the daemon's, the host's or the donor's.
    ...(s.shmPath === null ? [] : [s.shmPath
      ? { destination: '/dev/shm', type: 'bind', source: s.shmPath, options: ['rbind', 'rprivate'] }
      : { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${s.shmSize}`] }]),
    bind('/etc/resolv.conf', s.resolvConfPath),
    bind('/etc/hostname', s.hostnamePath),
    bind('/etc/hosts', s.hostsPath),
  ];
  // The container's own mounts (volumes, binds, tmpfs) come after, and replace a default at
  // the same destination (dockerd: a user mount on /dev/shm or /etc/hosts wins).
  const own = s.mounts ?? [];
  const taken = new Set(own.map((m) => m.destination));
  const mounts = [...defaults.filter((m) => !taken.has(m.destination)), ...own];
  // --init (dockerd's WithInit): the init binary, read-only, last so no mount hides it.
  if (s.init) mounts.push({ destination: INIT_IN_CONTAINER, type: 'bind', source: s.init.path, options: ['bind', 'ro'] });
  // --privileged, --device, --device-cgroup-rule (dockerd's WithDevices; host devices looked up now).
  const dev = deviceSpec(s, [{ allow: false, access: 'rwm' }, ...defaultDeviceRules()]);
  const resources: Record<string, unknown> = {
    devices: dev.rules,
  };
  // dockerd's getMemoryResources.
  const memory: Record<string, unknown> = {};
  if (s.memory > 0) Object.assign(memory, { limit: s.memory, ...(s.memorySwap !== 0 ? { swap: s.memorySwap } : {}) });
  if ((s.memoryReservation ?? 0) > 0) memory.reservation = s.memoryReservation;
  if ((s.kernelMemory ?? 0) !== 0) memory.kernel = s.kernelMemory;
  if (s.oomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) resources.memory = memory;
  const cpu: Record<string, number | string> = {};
  if (s.cpusetCpus) cpu.cpus = s.cpusetCpus;
  if (s.cpusetMems) cpu.mems = s.cpusetMems;
  if (s.cpuRealtimePeriod) cpu.realtimePeriod = s.cpuRealtimePeriod;
  if (s.cpuRealtimeRuntime) cpu.realtimeRuntime = s.cpuRealtimeRuntime;
  if (s.cpuShares > 0) cpu.shares = s.cpuShares;
  if (s.nanoCpus > 0) {
    cpu.period = 100_000;
    cpu.quota = Math.round((s.nanoCpus * 100_000) / 1e9);
  } else {
    if (s.cpuPeriod > 0) cpu.period = s.cpuPeriod;
    if (s.cpuQuota > 0) cpu.quota = s.cpuQuota;
  }
  if (Object.keys(cpu).length) resources.cpu = cpu;
  if (s.pidsLimit > 0) resources.pids = { limit: s.pidsLimit };
  const blockIO = blkioSpec(s.blkio);
  if (blockIO) resources.blockIO = blockIO;
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: s.tty,
      ...(s.tty && s.consoleSize ? { consoleSize: { height: s.consoleSize[0], width: s.consoleSize[1] } } : {}),
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args: s.init ? [INIT_IN_CONTAINER, '--', ...s.args] : s.args,
      env: s.env,
      cwd: s.cwd || '/',
      // No inheritable set (moby's fix for CVE-2022-24769); a non-root user gets only the bounding set.
      capabilities: user.uid === 0 ? { bounding: s.capabilities, effective: s.capabilities, permitted: s.capabilities } : { bounding: s.capabilities },
      ...(s.rlimits.length ? { rlimits: s.rlimits } : {}),
      oomScoreAdj: s.oomScoreAdj,
      ...(s.noNewPrivileges ? { noNewPrivileges: true } : {}),
    },
    root: { path: s.rootfs, readonly: s.readonlyRootfs },
    // The host's uts namespace: no hostname (runc cannot set one there).
    ...(s.utsns === 'host' ? {} : { hostname: s.hostname }),
    mounts,
    linux: {
      resources,
      cgroupsPath: cgroupsPath(s),
      namespaces,
      ...(dev.devices.length ? { devices: dev.devices } : {}),
      // dockerd's, in a network namespace of the container's own: unprivileged ports and ping, no IPv6;
      // then --sysctl over them (runc refuses one that is not namespaced, or net.* in the host's network).
      ...(s.netns || Object.keys(s.sysctls ?? {}).length
        ? { sysctl: { ...(s.netns ? { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647', 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' } : {}), ...s.sysctls } }
        : {}),
      ...(s.rootfsPropagation ? { rootfsPropagation: s.rootfsPropagation } : {}),
      maskedPaths: s.maskedPaths,
      readonlyPaths: s.readonlyPaths,
      ...(s.seccomp ? { seccomp: s.seccomp } : {}),
    },
  };
}

/** The devices a container may use (dockerd's default allow list). */
function defaultDeviceRules() {
  const rule = (type: string, major: number | undefined, minor: number | undefined, access: string) => ({
    allow: true,
    type,
    ...(major !== undefined ? { major } : {}),
    ...(minor !== undefined ? { minor } : {}),
    access,
  });
  // dockerd's list; runc adds its own defaults (ptys, /dev/net/tun) to it.
  return [
    rule('c', 1, 5, 'rwm'), // /dev/zero
    rule('c', 1, 3, 'rwm'), // /dev/null
    rule('c', 1, 9, 'rwm'), // /dev/urandom
    rule('c', 1, 8, 'rwm'), // /dev/random
    rule('c', 5, 0, 'rwm'), // /dev/tty
    rule('c', 5, 1, 'rwm'), // /dev/console
    { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' }, // /dev/fuse
  ];
}

/** The container's cgroup: <--cgroup-parent>/<id> as dockerd joins them, else /berth/<id>. */
export function cgroupsPath(s: Pick<RunSpec, 'id' | 'cgroupParent'>): string {
  return s.cgroupParent ? posix.join(s.cgroupParent, s.id) : `/berth/${s.id}`;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EACCES: 'permission denied',
  ELOOP: 'too many levels of symbolic links',
};

/** The major and minor of the device at a host path (followed), as dockerd's unix.Stat. */
function hostDevice(path: string): { major: number; minor: number } {
  let dev: bigint;
  try {
    dev = statSync(path, { bigint: true }).rdev;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new SystemError(`stat ${path}: ${ERRNO_TEXT[code] ?? (err as Error).message}`);
  }
  return { major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n)), minor: Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n)) };
}

/** dockerd's WithResources blkio part: the weight, and each device's limit by its major:minor. */
function blkioSpec(b: RunSpec['blkio']): Record<string, unknown> | null {
  if (!b) return null;
  const out: Record<string, unknown> = {};
  if (b.weight > 0) out.weight = b.weight;
  if (b.weightDevice.length) out.weightDevice = b.weightDevice.map((d) => ({ ...hostDevice(d.Path), weight: d.Weight }));
  const throttle = (list: Array<{ Path: string; Rate: number }>) => list.map((d) => ({ ...hostDevice(d.Path), rate: d.Rate }));
  for (const [key, list] of [['throttleReadBpsDevice', b.readBps], ['throttleWriteBpsDevice', b.writeBps], ['throttleReadIOPSDevice', b.readIOps], ['throttleWriteIOPSDevice', b.writeIOps]] as const) {
    if (list.length) out[key] = throttle(list);
  }
  return Object.keys(out).length ? out : null;
}
