/**
 * Seccomp as dockerd 20.10 applies it: a profile in Docker's JSON format (defaultAction,
 * architectures or archMap, syscalls with includes/excludes by capability, architecture and
 * minimum kernel) turned into the OCI runtime spec's linux.seccomp for the container at hand,
 * its effective capabilities and this host's architecture and kernel deciding which rules
 * apply. The daemon's profile is --seccomp-profile (a path, or "unconfined"), else the
 * distribution's /usr/share/containers/seccomp.json (containers-common), else none.
 */
import { readFileSync } from 'node:fs';
import { endianness, release } from 'node:os';

/** The OCI runtime spec's LinuxSeccomp (what runc reads). */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls?: OciSyscall[];
}

export interface OciSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo?: number; op: string }>;
}

/** Where the distribution's profile is (Debian's golang-github-containers-common). */
export const DISTRO_PROFILE = '/usr/share/containers/seccomp.json';

/** A profile problem: its message is dockerd's. */
export class SeccompProfileError extends Error {}

/** Node's process.arch as Go's GOARCH-derived libseccomp name (moby's goToNative). */
export function nativeArch(arch: string = process.arch, le: boolean = endianness() === 'LE'): string {
  switch (arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return 'x86';
    case 'ppc64':
      return le ? 'ppc64le' : 'ppc64';
    case 'mipsel':
      return 'mipsle';
    case 'mips64el':
      return 'mipsel64';
    default:
      return arch; // arm, arm64, mips64, ppc, s390, s390x, riscv64
  }
}

/** libseccomp's native names to its SCMP_ARCH_ constants (moby's nativeToSeccomp). */
const SECCOMP_ARCH: Record<string, string> = {
  x86: 'SCMP_ARCH_X86',
  amd64: 'SCMP_ARCH_X86_64',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  mips64: 'SCMP_ARCH_MIPS64',
  mips64n32: 'SCMP_ARCH_MIPS64N32',
  mipsel64: 'SCMP_ARCH_MIPSEL64',
  mips3l64n32: 'SCMP_ARCH_MIPSEL64N32',
  mipsle: 'SCMP_ARCH_MIPSEL',
  ppc: 'SCMP_ARCH_PPC',
  ppc64: 'SCMP_ARCH_PPC64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  s390: 'SCMP_ARCH_S390',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
};

/** [kernel, major, minor] of a release string such as "6.1.0-18-amd64" (Go's kernel.ParseRelease). */
export function parseKernel(rel: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(rel);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/** What a profile is converted for: the container's capabilities, the host's architecture and kernel. */
export interface Target {
  /** The container's bounding set (CAP_ names), as dockerd checks includes/excludes caps against. */
  capabilities: string[];
  /** libseccomp's native name of the host's architecture (nativeArch()). */
  arch?: string;
  /** The host's kernel release (os.release()). */
  kernel?: string;
}

// ---------------------------------------------------------------------------------------------
// Decoding: Go's encoding/json into moby's profile types, with its error messages (field names
// matched without regard to case, unknown keys and nulls ignored, a wrong type an error).

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function jsonKind(v: Json): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;
}

class Decoder {
  /** Go's UnmarshalTypeError: "json: cannot unmarshal <value> into Go struct field <Struct>.<path> of type <type>". */
  private typeError(v: Json, struct: string, path: string, type: string): SeccompProfileError {
    // Go names the number itself only when it does not fit a numeric field.
    const value = typeof v === 'number' && /int/.test(type) ? `number ${v}` : jsonKind(v);
    return new SeccompProfileError(`json: cannot unmarshal ${value} into Go struct field ${struct}.${path} of type ${type}`);
  }

  /** The value of a struct field: keys match without regard to case, the exact spelling first (Go's rule). */
  field(o: { [k: string]: Json }, name: string): Json | undefined {
    if (Object.hasOwn(o, name)) return o[name];
    const lower = name.toLowerCase();
    let found: Json | undefined;
    for (const k of Object.keys(o)) if (k.toLowerCase() === lower) found = o[k];
    return found;
  }

  string(v: Json | undefined, struct: string, path: string, type = 'string'): string {
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw this.typeError(v, struct, path, type);
    return v;
  }

  uint(v: Json | undefined, struct: string, path: string, type: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    // Go's uint is 64 bits on 64-bit hosts, as uint64.
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 64 - 1) {
      throw this.typeError(v, struct, path, type);
    }
    return v;
  }

  strings(v: Json | undefined, struct: string, path: string, elem = 'string'): string[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw this.typeError(v, struct, path, `[]${elem}`);
    return v.map((x) => this.string(x, struct, path, elem));
  }

  object(v: Json, struct: string, path: string, type: string): { [k: string]: Json } | null {
    if (v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) throw this.typeError(v, struct, path, type);
    return v;
  }

  array(v: Json | undefined, struct: string, path: string, type: string): Json[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw this.typeError(v, struct, path, type);
    return v;
  }
}

/** moby's KernelVersion.UnmarshalJSON: "<kernel>.<major>", each 0-255, not 0.0. */
function decodeKernel(v: Json | undefined): [number, number] | null {
  if (v === undefined || v === null) return null;
  const raw = JSON.stringify(v);
  const bad = (why?: string) => new SeccompProfileError(`invalid kernel version: ${raw}, expected "<kernel>.<major>"${why ? `: ${why}` : ''}`);
  if (typeof v !== 'string') throw bad(`json: cannot unmarshal ${jsonKind(v)} into Go value of type string`);
  if (v === '') return null;
  const parts = v.split('.');
  if (parts.length !== 2) throw bad();
  const n = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw bad(`strconv.ParseUint: parsing ${JSON.stringify(p)}: invalid syntax`);
    if (Number(p) > 255) throw bad(`strconv.ParseUint: parsing ${JSON.stringify(p)}: value out of range`);
    return Number(p);
  }) as [number, number];
  if (n[0] === 0 && n[1] === 0) throw bad('version cannot be 0.0');
  return n;
}

interface Filter {
  caps: string[];
  arches: string[];
  minKernel: [number, number] | null;
}

interface Syscall {
  name: string;
  names: string[];
  action: string;
  errnoRet?: number;
  args: Array<{ index: number; value: number; valueTwo: number; op: string }>;
  includes: Filter;
  excludes: Filter;
}

/** moby's profile type (profiles/seccomp.Seccomp), with the later defaultErrnoRet. */
export interface Profile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  archMap: Array<{ architecture: string; subArchitectures: string[] }>;
  syscalls: Syscall[];
}

/** Go's wording of a JSON syntax error, for the common cases (the CLI itself sends only valid JSON). */
function goSyntaxError(body: string, err: Error): string {
  if (!body.trim() || /end of JSON input/i.test(err.message)) return 'unexpected end of JSON input';
  const first = body.trimStart()[0] ?? '';
  if (!/[{["\-0-9tfn]/.test(first)) return `invalid character '${first}' looking for beginning of value`;
  return err.message;
}

/** decodeProfile reads a profile as dockerd's json.Unmarshal into seccomp.Seccomp; errors are dockerd's "Decoding seccomp profile failed: …". */
export function decodeProfile(body: string): Profile {
  let doc: Json;
  try {
    doc = JSON.parse(body) as Json;
  } catch (err) {
    throw new SeccompProfileError(`Decoding seccomp profile failed: ${goSyntaxError(body, err as Error)}`);
  }
  try {
    return decodeDoc(doc);
  } catch (err) {
    if (err instanceof SeccompProfileError) throw new SeccompProfileError(`Decoding seccomp profile failed: ${err.message}`);
    throw err;
  }
}

function decodeDoc(doc: Json): Profile {
  const d = new Decoder();
  if (doc === null) return { defaultAction: '', architectures: [], archMap: [], syscalls: [] };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new SeccompProfileError(`json: cannot unmarshal ${jsonKind(doc)} into Go value of type seccomp.Seccomp`);
  }
  const S = 'Seccomp';
  const archMap = d.array(d.field(doc, 'archMap'), S, 'archMap', '[]seccomp.Architecture').flatMap((a) => {
    const o = d.object(a, S, 'archMap', 'seccomp.Architecture');
    if (!o) return [{ architecture: '', subArchitectures: [] }];
    return [{ architecture: d.string(d.field(o, 'architecture'), 'Architecture', 'archMap.architecture', 'specs.Arch'), subArchitectures: d.strings(d.field(o, 'subArchitectures'), 'Architecture', 'archMap.subArchitectures', 'specs.Arch') }];
  });
  const filter = (v: Json | undefined, path: string): Filter => {
    const o = v === undefined ? null : d.object(v, 'Syscall', path, 'seccomp.Filter');
    if (!o) return { caps: [], arches: [], minKernel: null };
    return {
      caps: d.strings(d.field(o, 'caps'), 'Filter', `${path}.caps`),
      arches: d.strings(d.field(o, 'arches'), 'Filter', `${path}.arches`),
      minKernel: decodeKernel(d.field(o, 'minKernel')),
    };
  };
  const syscalls = d.array(d.field(doc, 'syscalls'), S, 'syscalls', '[]*seccomp.Syscall').flatMap((c): Syscall[] => {
    const o = d.object(c, S, 'syscalls', 'seccomp.Syscall');
    // A null entry is a nil *Syscall: dockerd would crash on it; it is skipped here.
    if (!o) return [];
    const Y = 'Syscall';
    const args = d.array(d.field(o, 'args'), Y, 'syscalls.args', '[]*specs.LinuxSeccompArg').flatMap((a) => {
      const ao = d.object(a, Y, 'syscalls.args', 'specs.LinuxSeccompArg');
      if (!ao) return [];
      const A = 'LinuxSeccompArg';
      return [{
        index: d.uint(d.field(ao, 'index'), A, 'syscalls.args.index', 'uint') ?? 0,
        value: d.uint(d.field(ao, 'value'), A, 'syscalls.args.value', 'uint64') ?? 0,
        valueTwo: d.uint(d.field(ao, 'valueTwo'), A, 'syscalls.args.valueTwo', 'uint64') ?? 0,
        op: d.string(d.field(ao, 'op'), A, 'syscalls.args.op', 'specs.LinuxSeccompOperator'),
      }];
    });
    const errnoRet = d.uint(d.field(o, 'errnoRet'), Y, 'syscalls.errnoRet', 'uint');
    return [{
      name: d.string(d.field(o, 'name'), Y, 'syscalls.name'),
      names: d.strings(d.field(o, 'names'), Y, 'syscalls.names'),
      action: d.string(d.field(o, 'action'), Y, 'syscalls.action', 'specs.LinuxSeccompAction'),
      ...(errnoRet !== undefined ? { errnoRet } : {}),
      args,
      includes: filter(d.field(o, 'includes'), 'syscalls.includes'),
      excludes: filter(d.field(o, 'excludes'), 'syscalls.excludes'),
    }];
  });
  const defaultErrnoRet = d.uint(d.field(doc, 'defaultErrnoRet'), S, 'defaultErrnoRet', 'uint');
  return {
    defaultAction: d.string(d.field(doc, 'defaultAction'), S, 'defaultAction', 'specs.LinuxSeccompAction'),
    ...(defaultErrnoRet !== undefined ? { defaultErrnoRet } : {}),
    architectures: d.strings(d.field(doc, 'architectures'), S, 'architectures', 'specs.Arch'),
    archMap,
    syscalls,
  };
}

// ---------------------------------------------------------------------------------------------
// Conversion (moby's setupSeccomp).

function kernelAtLeast(min: [number, number], host: [number, number, number] | null): boolean {
  if (!host) throw new SeccompProfileError('cannot tell the kernel version of this host');
  return host[0] !== min[0] ? host[0] > min[0] : host[1] >= min[1];
}

/**
 * convertProfile turns a decoded profile into the OCI linux.seccomp of a container: null when
 * it asks for nothing (no defaultAction and no syscalls: dockerd then applies no filter).
 * Rules whose includes do not hold, or whose excludes do, are left out.
 */
export function convertProfile(p: Profile, target: Target): OciSeccomp | null {
  if (p.defaultAction === '' && p.syscalls.length === 0) return null;
  if (p.architectures.length && p.archMap.length) {
    throw new SeccompProfileError("'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  const arch = target.arch ?? nativeArch();
  const host = parseKernel(target.kernel ?? release());
  const caps = new Set(target.capabilities);
  const architectures = [...p.architectures];
  const seccompArch = SECCOMP_ARCH[arch];
  if (seccompArch) {
    const m = p.archMap.find((a) => a.architecture === seccompArch);
    if (m) architectures.push(m.architecture, ...m.subArchitectures);
  }
  const syscalls: OciSyscall[] = [];
  for (const call of p.syscalls) {
    const ex = call.excludes;
    if (ex.arches.includes(arch)) continue;
    if (ex.caps.some((c) => caps.has(c))) continue;
    if (ex.minKernel && kernelAtLeast(ex.minKernel, host)) continue;
    const inc = call.includes;
    if (inc.arches.length && !inc.arches.includes(arch)) continue;
    if (inc.caps.some((c) => !caps.has(c))) continue;
    if (inc.minKernel && !kernelAtLeast(inc.minKernel, host)) continue;
    if (call.name && call.names.length) {
      throw new SeccompProfileError("'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'");
    }
    syscalls.push({
      names: call.name ? [call.name] : call.names,
      action: call.action,
      ...(call.errnoRet !== undefined ? { errnoRet: call.errnoRet } : {}),
      ...(call.args.length ? { args: call.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo, op: a.op })) } : {}),
    });
  }
  return {
    defaultAction: p.defaultAction,
    ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}),
    ...(architectures.length ? { architectures } : {}),
    syscalls,
  };
}

/** loadProfile: decode and convert a profile's JSON text for a container (dockerd's seccomp.LoadProfile). */
export function loadProfile(body: string, target: Target): OciSeccomp | null {
  return convertProfile(decodeProfile(body), target);
}

// ---------------------------------------------------------------------------------------------
// The daemon's profile.

export interface DaemonProfile {
  /** What `docker info` shows after "name=seccomp,profile=": "default", the --seccomp-profile path, or "unconfined"; null: no seccomp. */
  name: string | null;
  /** The profile's JSON text; null: containers run without a filter unless they bring one. */
  body: string | null;
  /** Why there is none (the start-up log and `docker info` say it). */
  warning: string | null;
}

/** Go's wording of a file error (os.ReadFile's *PathError). */
export function goFileError(path: string, err: NodeJS.ErrnoException): string {
  const why: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
    ELOOP: 'too many levels of symbolic links',
  };
  const op = err.code === 'EISDIR' ? 'read' : 'open';
  return `${op} ${path}: ${why[err.code ?? ''] ?? err.message}`;
}

/** Namespaces and mounts: allowed only with CAP_SYS_ADMIN, as dockerd's default profile has them. */
const NEEDS_SYS_ADMIN = ['unshare', 'setns', 'mount', 'umount', 'umount2', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'mount_setattr', 'move_mount', 'open_tree'];
/** Not allowed at all by dockerd's default profile. */
const NEVER = ['keyctl', 'add_key', 'request_key', 'pivot_root'];
/** clone's flags that make namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET). */
const CLONE_NS_FLAGS = 0x7e020000;

/**
 * hardenDistroProfile closes what containers-common's profile leaves open and dockerd's
 * default profile does not: it allows unshare, setns, mount, namespace-making clone and keyctl
 * to every container, relying on capabilities (podman's rootless needs them), so a container
 * without CAP_SYS_ADMIN could make a user namespace and gain capabilities inside it. berth's
 * default keeps dockerd's rules for those calls; the rest of the distribution's profile stays.
 * A profile given with --seccomp-profile or seccomp=<file> is used as it is.
 */
export function hardenDistroProfile(body: string): string {
  let p: { syscalls?: Array<Record<string, unknown>> };
  try {
    p = JSON.parse(body) as typeof p;
  } catch (err) {
    // Fatal at start: a broken default must not leave every container without a filter.
    throw new SeccompProfileError(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
  const drop = new Set([...NEEDS_SYS_ADMIN, ...NEVER, 'clone', 'clone3']);
  const syscalls = (p.syscalls ?? []).map((e) => {
    const unconditional = e.action === 'SCMP_ACT_ALLOW' && !(e.args as unknown[] | undefined)?.length && isEmpty(e.includes) && isEmpty(e.excludes);
    if (!unconditional || !Array.isArray(e.names)) return e;
    return { ...e, names: (e.names as string[]).filter((n) => !drop.has(n)) };
  }).filter((e) => !Array.isArray(e.names) || (e.names as string[]).length > 0);
  const admin = { caps: ['CAP_SYS_ADMIN'] };
  syscalls.push(
    { names: NEEDS_SYS_ADMIN, action: 'SCMP_ACT_ALLOW', includes: admin },
    { names: NEEDS_SYS_ADMIN, action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: admin },
    { names: NEVER, action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
    // clone without namespace flags for everyone; with them only for CAP_SYS_ADMIN.
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NS_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }], excludes: admin },
    { names: ['clone', 'clone3'], action: 'SCMP_ACT_ALLOW', includes: admin },
    // clone3's flags are in memory, out of seccomp's reach: ENOSYS, and the C library falls back to clone.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: admin },
  );
  return JSON.stringify({ ...p, syscalls });
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'object' && Object.values(v as object).every((x) => x === undefined || x === null || (Array.isArray(x) && x.length === 0) || x === 0 || x === ''));
}

/**
 * daemonProfile reads the daemon's profile: --seccomp-profile (a path, read now: dockerd's
 * "opening seccomp profile (…) failed" stops the daemon; or "unconfined"), else the
 * distribution's when it is there, else none (with a warning).
 */
export function daemonProfile(flag: string, distro: string = DISTRO_PROFILE): DaemonProfile {
  if (flag === 'unconfined') return { name: 'unconfined', body: null, warning: null };
  if (flag && flag !== 'builtin') {
    try {
      return { name: flag, body: readFileSync(flag, 'utf8'), warning: null };
    } catch (err) {
      throw new SeccompProfileError(`opening seccomp profile (${flag}) failed: ${goFileError(flag, err as NodeJS.ErrnoException)}`);
    }
  }
  try {
    return { name: 'default', body: hardenDistroProfile(readFileSync(distro, 'utf8')), warning: null };
  } catch (err) {
    if (err instanceof SeccompProfileError) throw err;
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'is not there' : `cannot be read (${(err as Error).message})`;
    return {
      name: null,
      body: null,
      warning: `WARNING: No seccomp profile: ${distro} ${why} (install golang-github-containers-common, or give --seccomp-profile); containers run without seccomp`,
    };
  }
}

/**
 * containerSeccomp is the filter of one container (dockerd's WithSeccomp): none when
 * privileged or seccomp=unconfined; its own profile (the JSON the CLI sent for
 * seccomp=<file>), else the daemon's. The last seccomp= option counts, as in dockerd.
 */
export function containerSeccomp(opts: string[] | null, privileged: boolean, daemon: DaemonProfile, target: Target): OciSeccomp | null {
  let own = '';
  for (const opt of opts ?? []) {
    const at = opt.includes('=') ? opt.indexOf('=') : opt.indexOf(':');
    if (at >= 0 && opt.slice(0, at) === 'seccomp') own = opt.slice(at + 1);
  }
  if (own === 'unconfined' || privileged) return null;
  if (own && own !== 'builtin') return loadProfile(own, target);
  return daemon.body === null ? null : loadProfile(daemon.body, target);
}
