/**
 * The devices of a container's OCI spec, as dockerd's WithDevices makes them: a privileged
 * container gets every device node of the host's /dev (runc's HostDevices) and a devices
 * cgroup that allows everything; any other gets its --device nodes (oci.DevicesFromPath: a
 * node, or every node under a directory) allowed beside the defaults, and its
 * --device-cgroup-rule entries. Looked up at each start, so a device plugged in since counts.
 */
import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SystemError } from '../../src/errdefs/errors.js';
import type { RunSpec } from '../../src/protocol/types/containers.js';

export interface LinuxDevice {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

export interface DeviceRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access: string;
}

class NotADevice extends Error {}

const S_IFMT = 0o170000n;

/** deviceFromPath is runc's devices.DeviceFromPath: the node at path (not followed), or an error. */
function deviceFromPath(path: string): Omit<LinuxDevice, 'path'> & { fifo: boolean } {
  const st = lstatSync(path, { bigint: true });
  const fmt = st.mode & S_IFMT;
  let type: string;
  if (fmt === 0o060000n) type = 'b';
  else if (fmt === 0o020000n) type = 'c';
  else if (fmt === 0o010000n) type = 'p';
  else throw new NotADevice('not a device node');
  // The kernel's dev_t encoding (glibc's major()/minor()).
  const dev = st.rdev;
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n));
  return { type, major, minor, fileMode: Number(st.mode & ~S_IFMT), uid: Number(st.uid), gid: Number(st.gid), fifo: type === 'p' };
}

/** hostDevices is runc's GetDevices("/dev"): every block and character node, recursively. */
function hostDevices(dir = '/dev'): LinuxDevice[] {
  const out: LinuxDevice[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev'].includes(e.name)) continue;
      out.push(...hostDevices(path));
      continue;
    }
    if (e.name === 'console') continue;
    try {
      const d = deviceFromPath(path);
      if (!d.fifo) out.push({ path, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid });
    } catch {
      // not a device, or gone meanwhile
    }
  }
  return out;
}

function errnoText(err: unknown): string {
  if (err instanceof NotADevice) return err.message;
  const code = (err as NodeJS.ErrnoException).code;
  const texts: Record<string, string> = { ENOENT: 'no such file or directory', EACCES: 'permission denied', ENOTDIR: 'not a directory', ELOOP: 'too many levels of symbolic links' };
  return (code && texts[code]) ?? (err as Error).message;
}

/**
 * devicesFromPath is dockerd's oci.DevicesFromPath: a symlink is resolved first; a directory
 * gives every node under it, renamed under pathInContainer.
 */
function devicesFromPath(pathOnHost: string, pathInContainer: string, perms: string): { devs: LinuxDevice[]; rules: DeviceRule[] } {
  let resolved = pathOnHost;
  try {
    if (lstatSync(pathOnHost).isSymbolicLink()) resolved = realpathSync(pathOnHost);
  } catch {
    // lstat fails again below, with the error dockerd reports
  }
  const devs: LinuxDevice[] = [];
  const rules: DeviceRule[] = [];
  const add = (d: ReturnType<typeof deviceFromPath>, path: string) => {
    devs.push({ path, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid });
    rules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: perms });
  };
  let first: unknown;
  try {
    add(deviceFromPath(resolved), pathInContainer);
    return { devs, rules };
  } catch (err) {
    first = err;
  }
  if (first instanceof NotADevice) {
    let isDir = false;
    try {
      isDir = statSync(resolved).isDirectory();
    } catch {
      isDir = false;
    }
    if (isDir) {
      // filepath.Walk: lexical order, symlinks not followed; what is not a device is skipped.
      const walk = (dir: string) => {
        let entries: string[] = [];
        try {
          entries = readdirSync(dir).sort();
        } catch {
          return;
        }
        for (const name of entries) {
          const p = join(dir, name);
          try {
            add(deviceFromPath(p), pathInContainer + p.slice(resolved.length));
          } catch {
            // not a device
          }
          try {
            if (lstatSync(p).isDirectory()) walk(p);
          } catch {
            // gone meanwhile
          }
        }
      };
      walk(resolved);
    }
  }
  if (devs.length) return { devs, rules };
  throw new SystemError(`error gathering device information while adding custom device ${JSON.stringify(pathOnHost)}: ${errnoText(first)}`);
}

/** cgroupRule parses a --device-cgroup-rule ("c 1:3 rwm", "a *:* m"); '*' is -1, as dockerd. */
function cgroupRule(rule: string): DeviceRule {
  const m = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(rule);
  if (!m) throw new SystemError(`invalid device cgroup rule format: '${rule}'`);
  return { allow: true, type: m[1]!, major: m[2] === '*' ? -1 : Number(m[2]), minor: m[3] === '*' ? -1 : Number(m[3]), access: m[4]! };
}

/**
 * deviceSpec returns the container's linux.devices and its devices cgroup rules, given the
 * default rules (deny all, then dockerd's allow list) for a container that is not privileged.
 */
export function deviceSpec(s: RunSpec, defaults: DeviceRule[]): { devices: LinuxDevice[]; rules: DeviceRule[] } {
  const devices: LinuxDevice[] = [];
  if (s.privileged) {
    devices.push(...hostDevices());
    // --device beside --privileged: only a node put elsewhere adds anything (its permissions are rwm).
    for (const d of s.devices ?? []) {
      if (d.PathOnHost === d.PathInContainer) continue;
      devices.push(...devicesFromPath(d.PathOnHost, d.PathInContainer, 'rwm').devs);
    }
    return { devices, rules: [{ allow: true, access: 'rwm' }] };
  }
  const rules = [...defaults];
  for (const d of s.devices ?? []) {
    const r = devicesFromPath(d.PathOnHost, d.PathInContainer, d.CgroupPermissions);
    devices.push(...r.devs);
    rules.push(...r.rules);
  }
  for (const rule of s.deviceCgroupRules ?? []) rules.push(cgroupRule(rule));
  return { devices, rules };
}
