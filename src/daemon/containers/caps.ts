/**
 * Capabilities as dockerd grants them: its default set, and --cap-add/--cap-drop applied to it
 * (names with or without CAP_, any case, and ALL), as moby's caps.TweakCapabilities.
 */
import { readFileSync } from 'node:fs';
import { InvalidParameterError } from '../../errdefs/errors.js';

export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability this kernel generation knows (linux/capability.h, up to CAP_CHECKPOINT_RESTORE). */
export const ALL_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** normalizeCaps turns "net_admin" into "CAP_NET_ADMIN" (and keeps ALL); unknown names are a 400. */
export function normalizeCaps(list: string[]): string[] {
  return list.map((c) => {
    const up = c.trim().toUpperCase();
    if (up === 'ALL') return 'ALL';
    const name = up.startsWith('CAP_') ? up : `CAP_${up}`;
    if (!ALL_CAPS.includes(name)) throw new InvalidParameterError(`unknown capability: "${name}"`);
    return name;
  });
}

/** effectiveCaps applies drops then adds to the default set, as dockerd. */
export function effectiveCaps(add: string[], drop: string[]): string[] {
  const a = normalizeCaps(add);
  const d = normalizeCaps(drop);
  let caps = d.includes('ALL') ? [] : DEFAULT_CAPS.filter((c) => !d.includes(c));
  if (a.includes('ALL')) caps = ALL_CAPS.filter((c) => !d.includes(c) || a.includes(c));
  for (const c of a) if (c !== 'ALL' && !caps.includes(c)) caps.push(c);
  return caps;
}

let available: string[] | null = null;

/**
 * allCaps: every capability this kernel has (ALL_CAPS is in number order, up to
 * /proc/sys/kernel/cap_last_cap) that berthd itself holds (its effective set): what --privileged
 * and `docker exec --privileged` grant. This is later dockerd's GetAllCapabilities (the caps of
 * the daemon's environment, so a berthd in a container with fewer caps can still run privileged
 * containers); 20.10 took every capability up to CAP_AUDIT_READ and failed in such a place.
 */
export function allCaps(): string[] {
  if (available === null) {
    let last = ALL_CAPS.length - 1;
    let eff = (1n << BigInt(ALL_CAPS.length)) - 1n;
    try {
      const n = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
      if (Number.isInteger(n) && n >= 0) last = n;
    } catch {
      // an old kernel: every capability berth knows
    }
    try {
      const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
      if (m) eff = BigInt(`0x${m[1]}`);
    } catch {
      // keep them all: runc says what it cannot grant
    }
    available = ALL_CAPS.slice(0, last + 1).filter((_, i) => (eff >> BigInt(i)) & 1n);
  }
  return available;
}
