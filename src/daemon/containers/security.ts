/**
 * The security settings of a container that CI farms use: --security-opt (dockerd's
 * parseSecurityOpt and generateSecurityOpt), --device and --device-cgroup-rule (checked here,
 * looked up on the host by the exec actor at start, as dockerd's createSpec does) and
 * --sysctl (kept as given: runc refuses at start what is not namespaced, as under dockerd).
 */
import { existsSync, readFileSync } from 'node:fs';
import { InvalidParameterError, NotImplementedError } from '../../errdefs/errors.js';

type Doc = Record<string, unknown>;

let lsm: { apparmor: boolean; selinux: boolean } | null = null;
/** Whether this host enforces AppArmor or SELinux (runc's apparmor.IsEnabled, go-selinux's GetEnabled). */
function hostLsm(): { apparmor: boolean; selinux: boolean } {
  if (!lsm) {
    let apparmor = false;
    try {
      apparmor = existsSync('/sys/kernel/security/apparmor') && readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').startsWith('Y');
    } catch {
      apparmor = false;
    }
    lsm = { apparmor, selinux: existsSync('/sys/fs/selinux/enforce') };
  }
  return lsm;
}

/** Go's strconv.ParseBool. */
function parseBool(v: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return null;
}

/** split parses one option as dockerd: "key=value", or the deprecated "key:value"; null when neither. */
function split(opt: string): [string, string] | null {
  const at = opt.includes('=') ? opt.indexOf('=') : opt.indexOf(':');
  return at < 0 ? null : [opt.slice(0, at), opt.slice(at + 1)];
}

/**
 * checkSecurityOpt checks HostConfig.SecurityOpt as dockerd's parseSecurityOpt and returns
 * what inspect shows: the options as given, plus dockerd's "label=disable" for a privileged
 * container (unless a label option was given). Seccomp profiles are applied (seccomp.ts); berth
 * applies no AppArmor or SELinux confinement, so it accepts what asks for none (and what
 * dockerd itself would not apply on this host), and refuses with a 501 a profile it would
 * otherwise have to apply.
 */
export function checkSecurityOpt(opts: string[] | null, privileged: boolean): string[] | null {
  for (const opt of opts ?? []) {
    if (opt === 'no-new-privileges' || opt === 'disable') continue;
    const kv = split(opt);
    if (!kv) throw new InvalidParameterError(`invalid --security-opt 1: ${JSON.stringify(opt)}`);
    const [key, value] = kv;
    switch (key) {
      case 'no-new-privileges':
        if (parseBool(value) === null) throw new InvalidParameterError(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
        break;
      case 'seccomp':
        // "unconfined", "builtin" (the CLI's name for the daemon's profile) or a profile's JSON
        // (the CLI sends a file's content): kept as given, decoded at start as dockerd does.
        break;
      case 'apparmor':
        // dockerd applies AppArmor only where the host enables it.
        if (value !== 'unconfined' && hostLsm().apparmor) {
          throw new NotImplementedError(`berth does not implement AppArmor profiles yet (--security-opt apparmor=${value}); only apparmor=unconfined is accepted`);
        }
        break;
      case 'label':
        // dockerd ignores label options where SELinux is off (label.InitLabels).
        if (value !== 'disable' && hostLsm().selinux) {
          throw new NotImplementedError(`berth does not implement SELinux labels yet (--security-opt label=${value}); only label=disable is accepted`);
        }
        break;
      default:
        throw new InvalidParameterError(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    }
  }
  const out = [...(opts ?? [])];
  // generateSecurityOpt: a privileged container gets label=disable unless the user gave a label= option.
  if (privileged && !out.some((o) => o.split('=')[0] === 'label')) out.push('label=disable');
  return out.length ? out : null;
}

/** noNewPrivileges: the last no-new-privileges option wins (dockerd's loop). */
export function noNewPrivileges(opts: string[] | null): boolean {
  let on = false;
  for (const opt of opts ?? []) {
    if (opt === 'no-new-privileges') on = true;
    else {
      const kv = split(opt);
      if (kv && kv[0] === 'no-new-privileges') on = parseBool(kv[1]) ?? on;
    }
  }
  return on;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** The CLI's validDeviceMode: one to three of r, w, m, none twice. */
function validDeviceMode(mode: string): boolean {
  return mode.length > 0 && mode.length <= 3 && [...mode].every((c, i) => 'rwm'.includes(c) && mode.indexOf(c) === i);
}

/**
 * checkDevices checks HostConfig.Devices as the CLI's --device parsing does (dockerd takes
 * them as given and fails at start); the host device itself is looked up at start.
 */
export function checkDevices(v: unknown): DeviceMapping[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidParameterError('invalid type for field Devices: expected an array');
  return v.map((d: unknown) => {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new InvalidParameterError('invalid type for field Devices: expected an array of objects');
    const o = d as Doc;
    for (const k of ['PathOnHost', 'PathInContainer', 'CgroupPermissions']) {
      if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'string') throw new InvalidParameterError(`invalid type for field ${k}: expected string, got ${typeof o[k]}`);
    }
    const host = (o.PathOnHost as string | undefined) ?? '';
    const inContainer = (o.PathInContainer as string | undefined) || host;
    // docker-py and the CLI always send rwm; an API client that sends none gets it too.
    const perms = (o.CgroupPermissions as string | undefined) || 'rwm';
    if (!host) throw new InvalidParameterError(`bad format for path: ${host}`);
    if (!validDeviceMode(perms)) throw new InvalidParameterError(`bad mode specified: ${perms}`);
    if (!inContainer.startsWith('/')) throw new InvalidParameterError(`${inContainer} is not an absolute path`);
    return { PathOnHost: host, PathInContainer: inContainer, CgroupPermissions: perms };
  });
}

/** dockerd's deviceCgroupRuleRegex (oci.AppendDevicePermissionsFromCgroupRules). */
export const DEVICE_CGROUP_RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** checkDeviceCgroupRules: dockerd's message, at create rather than at start. */
export function checkDeviceCgroupRules(rules: string[] | null): string[] | null {
  for (const r of rules ?? []) if (!DEVICE_CGROUP_RULE.test(r)) throw new InvalidParameterError(`invalid device cgroup rule format: '${r}'`);
  return rules && rules.length ? rules : null;
}

/** checkSysctls: a map of strings, kept as given (runc checks the names at start, as under dockerd). */
export function checkSysctls(v: unknown): Record<string, string> | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw new InvalidParameterError('invalid type for field Sysctls: expected a map of strings');
  }
  return Object.keys(v).length ? (v as Record<string, string>) : null;
}
