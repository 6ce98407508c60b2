/**
 * A container's mounts, as dockerd 20.10 makes them (volume/mounts/linux_parser.go,
 * daemon/volumes.go, create_unix.go, oci_linux.go): HostConfig.Binds (`-v`), HostConfig.Mounts
 * (`--mount`), HostConfig.Tmpfs (`--tmpfs`) and Config.Volumes (the image's VOLUME and `-v /dst`)
 * checked with dockerd's messages and turned into MountPoint records at create (named volumes
 * created then, anonymous ones made); at start, the volumes are mounted (and pre-filled from the
 * image once), and the OCI mount entries made; at exit they are let go, at removal dereferenced
 * (and the anonymous ones removed with `rm -v` or --rm).
 */
import { statSync } from 'node:fs';
import { mkdir, realpath, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { InvalidParameterError, SystemError, toWire } from '../../errdefs/errors.js';
import { logger } from '../../log/log.js';
import type { Engine } from '../../engine/engine.js';
import type { VolumeUser, Volumes } from '../volumes/service.js';
import { unescapeMountPath } from '../volumes/local.js';
import type { ContainerRecord, MountPoint } from './store.js';

type Doc = Record<string, unknown>;

/** One entry of the OCI spec's mounts. */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** A mount planned at create: the volume to create or look up comes with it. */
interface Planned {
  mp: MountPoint;
  /** For volumes: the driver, options and labels to create it with (a name '' is anonymous). */
  create?: { driver: string; opts: Record<string, string> | null; labels: Record<string, string> | null };
  /** A volume of another container's (--volumes-from): referenced as it is, never created. */
  shared?: boolean;
}

/** Finds the container a --volumes-from names (dockerd's GetContainer; throws as the store does). */
export type ContainerLookup = (ref: string) => ContainerRecord;

const RW_MODES = ['rw', 'ro'];
const LABEL_MODES = ['z', 'Z'];
const PROPAGATION_MODES = ['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared'];
const COPY_MODES = ['nocopy'];
const CONSISTENCY_MODES = ['consistent', 'cached', 'delegated'];
const DEFAULT_PROPAGATION = 'rprivate';

const invalidSpec = (raw: string) => new InvalidParameterError(`invalid volume specification: '${raw}'`);

/** validMode is dockerd's ValidMountMode: each kind at most once, nothing unknown. */
function validMode(mode: string): boolean {
  if (mode === '') return true;
  const counts = [0, 0, 0, 0, 0];
  for (const o of mode.split(',')) {
    const i = [RW_MODES, LABEL_MODES, PROPAGATION_MODES, COPY_MODES, CONSISTENCY_MODES].findIndex((l) => l.includes(o));
    if (i < 0) return false;
    if (++counts[i]! > 1) return false;
  }
  return true;
}

const modeHas = (mode: string, list: string[]) => mode.split(',').find((o) => list.includes(o));

class MountConfigError extends InvalidParameterError {
  constructor(type: string, msg: string) {
    super(`invalid mount config for type ${JSON.stringify(type)}: ${msg}`);
  }
}

function checkAbsolute(type: string, p: string): void {
  if (!p.startsWith('/')) throw new MountConfigError(type, `invalid mount path: '${p}' mount path must be absolute`);
}

/** A --mount (or a parsed -v) as the API has it. */
interface MountSpec {
  Type: string;
  Source: string;
  Target: string;
  ReadOnly: boolean;
  BindOptions: Doc | null;
  VolumeOptions: Doc | null;
  TmpfsOptions: Doc | null;
}

function mountSpec(m: Doc): MountSpec {
  const s = (k: string) => (typeof m[k] === 'string' ? (m[k] as string) : '');
  const o = (k: string) => (m[k] && typeof m[k] === 'object' ? (m[k] as Doc) : null);
  return { Type: s('Type'), Source: s('Source'), Target: s('Target'), ReadOnly: m.ReadOnly === true, BindOptions: o('BindOptions'), VolumeOptions: o('VolumeOptions'), TmpfsOptions: o('TmpfsOptions') };
}

/** validateSpec is dockerd's validateMountConfig (linux). */
function validateSpec(m: MountSpec, bindSourceMustExist: boolean, exists: (p: string) => boolean): void {
  const t = m.Type;
  if (!m.Target) throw new MountConfigError(t, 'field Target must not be empty');
  if (posix.normalize(m.Target) === '/' ) throw new MountConfigError(t, "invalid specification: destination can't be '/'");
  checkAbsolute(t, m.Target);
  const extra = (f: string) => new MountConfigError(t, `field ${f} must not be specified`);
  switch (t) {
    case 'bind':
      if (!m.Source) throw new MountConfigError(t, 'field Source must not be empty');
      if (m.VolumeOptions) throw extra('VolumeOptions');
      if (m.TmpfsOptions) throw extra('TmpfsOptions');
      checkAbsolute(t, m.Source);
      if (m.BindOptions) {
        const p = (m.BindOptions.Propagation as string | undefined) ?? '';
        if (p && !PROPAGATION_MODES.includes(p)) throw new MountConfigError(t, `invalid propagation mode: ${p}`);
      }
      if (bindSourceMustExist && !exists(m.Source)) throw new MountConfigError(t, `bind source path does not exist: ${m.Source}`);
      break;
    case 'volume':
      if (m.BindOptions) throw extra('BindOptions');
      if (m.TmpfsOptions) throw extra('TmpfsOptions');
      if (!m.Source && m.ReadOnly) throw new MountConfigError(t, 'must not set ReadOnly mode when using anonymous volumes');
      break;
    case 'tmpfs':
      if (m.BindOptions) throw extra('BindOptions');
      if (m.VolumeOptions) throw extra('VolumeOptions');
      if (m.Source) throw extra('Source');
      tmpfsData(m.TmpfsOptions, m.ReadOnly);
      break;
    case 'npipe':
      throw new MountConfigError(t, 'mount type unknown');
    default:
      throw new MountConfigError(t, 'mount type unknown');
  }
}

/** tmpfsData is dockerd's ConvertTmpfsOptions: mode in octal, size with the largest exact suffix. */
function tmpfsData(o: Doc | null, readOnly: boolean): string[] {
  const out: string[] = [];
  if (readOnly) out.push('ro');
  const mode = Number(o?.Mode ?? 0);
  if (mode) out.push(`mode=${mode.toString(8)}`);
  const size = Number(o?.SizeBytes ?? 0);
  if (size < 0) throw new MountConfigError('tmpfs', `invalid tmpfs size ${size}`);
  if (size) {
    let v = size;
    let suffix = '';
    for (const s of ['k', 'm', 'g']) {
      if (v % 1024 !== 0) break;
      v /= 1024;
      suffix = s;
    }
    out.push(`size=${v}${suffix}`);
  }
  return out;
}

/** parseBind is dockerd's ParseMountRaw: "dst", "src:dst", "src:dst:mode". */
function parseBind(raw: string, volumeDriver: string): Planned {
  if ((raw.match(/:/g) ?? []).length > 2) throw invalidSpec(raw);
  const arr = raw.split(':');
  if (arr[0] === '') throw invalidSpec(raw);
  let source = '';
  let target: string;
  let mode = '';
  if (arr.length === 1) target = arr[0]!;
  else if (arr.length === 2) {
    // "/foo:rw" is a destination with a mode: a volume cannot have one.
    if (validMode(arr[1]!)) throw invalidSpec(raw);
    [source, target] = arr as [string, string];
  } else [source, target, mode] = arr as [string, string, string];
  if (!validMode(mode)) throw new InvalidParameterError(`invalid mode: ${mode}`);
  const spec: MountSpec = {
    Type: source.startsWith('/') ? 'bind' : 'volume',
    Source: source,
    Target: target,
    ReadOnly: modeHas(mode, RW_MODES) === 'ro',
    BindOptions: null,
    VolumeOptions: null,
    TmpfsOptions: null,
  };
  if (volumeDriver && spec.Type === 'volume') spec.VolumeOptions = { DriverConfig: { Name: volumeDriver } };
  if (modeHas(mode, COPY_MODES)) spec.VolumeOptions = { ...(spec.VolumeOptions ?? {}), NoCopy: true };
  const prop = modeHas(mode, PROPAGATION_MODES);
  if (prop) spec.BindOptions = { Propagation: prop };
  let p: Planned;
  try {
    p = fromSpec(spec, false, () => true);
  } catch (err) {
    throw new InvalidParameterError(`invalid volume specification: '${raw}': ${toWire(err).message}`);
  }
  p.mp.Mode = mode;
  return p;
}

/** fromSpec is dockerd's ParseMountSpec. */
function fromSpec(m: MountSpec, bindSourceMustExist: boolean, exists: (p: string) => boolean): Planned {
  validateSpec(m, bindSourceMustExist, exists);
  const mp: MountPoint = { Type: m.Type as MountPoint['Type'], Source: '', Destination: posix.normalize(m.Target), RW: !m.ReadOnly, Mode: '', Propagation: '' };
  if (mp.Destination.length > 1 && mp.Destination.endsWith('/')) mp.Destination = mp.Destination.slice(0, -1);
  if (m.Type === 'volume') {
    const vo = m.VolumeOptions ?? {};
    const dc = (vo.DriverConfig ?? {}) as { Name?: string; Options?: Record<string, string> | null };
    mp.Name = m.Source;
    mp.Anonymous = !m.Source;
    mp.CopyPending = vo.NoCopy !== true;
    return { mp, create: { driver: dc.Name ?? '', opts: dc.Options ?? null, labels: (vo.Labels as Record<string, string> | null | undefined) ?? null } };
  }
  if (m.Type === 'bind') {
    mp.Source = posix.normalize(m.Source);
    mp.Propagation = ((m.BindOptions?.Propagation as string | undefined) || DEFAULT_PROPAGATION);
    if (m.BindOptions?.NonRecursive === true) mp.NonRecursive = true;
    return { mp };
  }
  mp.Options = tmpfsData(m.TmpfsOptions, m.ReadOnly);
  return { mp };
}

/** checkTmpfs checks HostConfig.Tmpfs as dockerd does ({"/run": "rw,size=64m"}). */
function checkTmpfs(tmpfs: Record<string, string>): void {
  for (const [dest, data] of Object.entries(tmpfs)) {
    if (posix.normalize(dest) === '/') throw new InvalidParameterError("invalid specification: destination can't be '/'");
    if (!dest.startsWith('/')) throw new InvalidParameterError(`invalid mount path: '${dest}' mount path must be absolute`);
    if (typeof data !== 'string') throw new InvalidParameterError(`invalid tmpfs options for ${dest}`);
    mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', DEFAULT_PROPAGATION, ...(data ? data.split(',') : [])]);
  }
}

/** Option families of mount(8) flags: a later one of a family replaces an earlier one. */
const FLAG_FAMILY: Record<string, string> = {
  rw: 'ro', ro: 'ro', suid: 'suid', nosuid: 'suid', dev: 'dev', nodev: 'dev', exec: 'exec', noexec: 'exec',
  sync: 'sync', async: 'sync', dirsync: 'dirsync', remount: 'remount', mand: 'mand', nomand: 'mand',
  atime: 'atime', noatime: 'atime', diratime: 'diratime', nodiratime: 'diratime', bind: 'bind', rbind: 'bind',
  relatime: 'relatime', norelatime: 'relatime', strictatime: 'strictatime', nostrictatime: 'strictatime',
  private: 'prop', rprivate: 'prop', shared: 'prop', rshared: 'prop', slave: 'prop', rslave: 'prop', unbindable: 'prop', runbindable: 'prop',
};
const TMPFS_DATA = ['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol'];

/** mergeTmpfsOptions is dockerd's MergeTmpfsOptions: the last of each kind wins, in place. */
function mergeTmpfsOptions(options: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = options.length - 1; i >= 0; i--) {
    const o = options[i]!;
    if (o === 'defaults') continue;
    const fam = FLAG_FAMILY[o];
    let key: string;
    if (fam) key = `f:${fam}`;
    else {
      const eq = o.indexOf('=');
      if (eq < 0 || !TMPFS_DATA.includes(o.slice(0, eq))) {
        const parts = eq < 0 ? [o] : [o.slice(0, eq), o.slice(eq + 1)];
        throw new InvalidParameterError(`Invalid tmpfs option [${parts.map((p) => JSON.stringify(p)).join(' ')}]`);
      }
      key = `d:${o.slice(0, eq)}`;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    out.unshift(o);
  }
  return out;
}

const strList = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/**
 * parseVolumesFrom is dockerd's ParseVolumesFrom (linux): "ctr" or "ctr:mode", the mode a valid
 * mount mode without propagation or nocopy (those stay the other container's). Whether the
 * mounts may be writable: they are unless the mode says ro (rw cannot make a read-only one rw).
 */
function parseVolumesFrom(spec: string): { ref: string; rw: boolean } {
  if (!spec) throw new InvalidParameterError('volumes-from specification cannot be an empty string');
  const i = spec.indexOf(':');
  if (i < 0) return { ref: spec, rw: true };
  const mode = spec.slice(i + 1);
  if (!validMode(mode) || modeHas(mode, PROPAGATION_MODES) || modeHas(mode, COPY_MODES)) throw new InvalidParameterError(`invalid mode: ${mode}`);
  return { ref: spec.slice(0, i), rw: modeHas(mode, RW_MODES) !== 'ro' };
}

/**
 * volumesFrom is step 2 of dockerd's registerMountPoints: each named container's MountPoints
 * (volumes and binds, including what it got by its own --volumes-from), in the order given, a
 * later one replacing an earlier one at the same destination. Copied as dockerd copies them:
 * RW only if it was and the mode allows, no Mode, never pre-filled again. Errors are 400s, a
 * missing container's included ("No such container: x"), as dockerd wraps them.
 */
function volumesFrom(specs: string[], lookup: ContainerLookup | undefined): Map<string, Planned> {
  const out = new Map<string, Planned>();
  for (const spec of specs) {
    const { ref, rw } = parseVolumesFrom(spec);
    if (!ref) throw new InvalidParameterError(`invalid name or ID supplied: ${JSON.stringify(ref)}`);
    let from: ContainerRecord;
    try {
      if (!lookup) throw new InvalidParameterError(`No such container: ${ref}`);
      from = lookup(ref);
    } catch (err) {
      throw new InvalidParameterError(toWire(err).message);
    }
    for (const m of Object.values(from.MountPoints ?? {})) {
      // A --mount type=tmpfs exists only inside its container: nothing to share.
      if (m.Type === 'tmpfs') continue;
      const mp: MountPoint = { Type: m.Type, Source: m.Source, Destination: m.Destination, RW: m.RW && rw, Mode: '', Propagation: m.Propagation ?? '' };
      if (m.Type === 'volume') {
        mp.Name = m.Name;
        if (m.Driver) mp.Driver = m.Driver;
        // As dockerd (the Spec is copied): `rm -v` of this one removes an anonymous volume once nothing else uses it.
        if (m.Anonymous) mp.Anonymous = true;
        mp.CopyPending = false;
      }
      if (m.NonRecursive) mp.NonRecursive = true;
      out.set(mp.Destination, { mp, shared: m.Type === 'volume' });
    }
  }
  return out;
}

/**
 * parseMounts checks every mount of a create request (nothing is made yet). Order as dockerd's
 * registerMountPoints: the mounts of --volumes-from containers, then binds, then --mount (these
 * two replace a --volumes-from one at the same destination, but not each other); then the
 * anonymous volumes of Config.Volumes at destinations nothing else mounts.
 */
export function parseMounts(hostConfig: Doc, config: Doc, exists: (p: string) => boolean, lookup?: ContainerLookup): Planned[] {
  const tmpfs = (hostConfig.Tmpfs && typeof hostConfig.Tmpfs === 'object' ? hostConfig.Tmpfs : {}) as Record<string, string>;
  checkTmpfs(tmpfs);
  const volumeDriver = typeof hostConfig.VolumeDriver === 'string' ? hostConfig.VolumeDriver : '';
  const out = volumesFrom(strList(hostConfig.VolumesFrom), lookup);
  const explicit = new Set<string>();
  const add = (p: Planned, shown: string) => {
    if (explicit.has(p.mp.Destination) || p.mp.Destination in tmpfs) throw new InvalidParameterError(`Duplicate mount point: ${shown}`);
    explicit.add(p.mp.Destination);
    out.set(p.mp.Destination, p); // a --volumes-from one there gives way
  };
  for (const raw of strList(hostConfig.Binds)) {
    const p = parseBind(raw, volumeDriver);
    // A named volume of the local driver shows Mode "z" when none was given (dockerd's setBindModeIfNull).
    if (p.mp.Type === 'volume' && !p.mp.Mode && (!p.create?.driver || p.create.driver === 'local')) p.mp.Mode = 'z';
    add(p, p.mp.Destination);
  }
  const mounts = Array.isArray(hostConfig.Mounts) ? (hostConfig.Mounts as Doc[]) : [];
  for (const m of mounts) {
    if (!m || typeof m !== 'object') throw new InvalidParameterError('invalid mount config: expected an object');
    const spec = mountSpec(m);
    const p = fromSpec(spec, true, exists);
    if (p.mp.Type === 'volume' && (!p.create?.driver || p.create.driver === 'local')) p.mp.Mode = 'z';
    add(p, spec.Target);
  }
  for (const dest of Object.keys((config.Volumes && typeof config.Volumes === 'object' ? config.Volumes : {}) as Doc)) {
    const d = posix.normalize(dest);
    if (out.has(d) || d in tmpfs) continue;
    if (!d.startsWith('/')) throw new InvalidParameterError(`invalid mount config for type "volume": invalid mount path: '${dest}' mount path must be absolute`);
    // A volume over the whole root would copy the image into it and then fail in runc.
    if (d === '/') throw new InvalidParameterError("invalid specification: destination can't be '/'");
    out.set(d, { mp: { Type: 'volume', Source: '', Destination: d, RW: true, Name: '', Anonymous: true, CopyPending: true, Mode: '', Propagation: '' }, create: { driver: volumeDriver, opts: null, labels: null } });
  }
  return [...out.values()];
}

/**
 * planMounts is the create part: check everything, then create (or look up) the volumes.
 * Returns the container's MountPoints by destination.
 */
export async function planMounts(hostConfig: Doc, config: Doc, volumes: Volumes, holder: string, lookup?: ContainerLookup): Promise<Record<string, MountPoint>> {
  // Synchronous on purpose: one stat per --mount bind source, before anything is made.
  const exists = (p: string) => {
    try {
      return statSync(p, { throwIfNoEntry: false }) !== undefined;
    } catch {
      return false;
    }
  };
  const planned = parseMounts(hostConfig, config, exists, lookup);
  const out: Record<string, MountPoint> = {};
  for (const p of planned) {
    // Another container's volume: held for this one as it is (dockerd's Get with a reference; no event).
    if (p.mp.Type === 'volume' && p.shared) await volumes.hold(p.mp.Name ?? '', holder);
    if (p.mp.Type === 'volume' && p.create) {
      const v = await volumes.create(p.mp.Name ?? '', p.create.driver, p.create.opts, p.create.labels, holder);
      p.mp.Name = v.Name;
      p.mp.Driver = v.Driver;
      p.mp.Source = v.Mountpoint;
    }
    out[p.mp.Destination] = p.mp;
  }
  return out;
}

/** The Mounts of inspect and of the list, as dockerd's types.MountPoint (tmpfs of --tmpfs not listed). */
export function mountsDoc(rec: ContainerRecord): Doc[] {
  return Object.values(rec.MountPoints ?? {})
    .sort((a, b) => (a.Destination < b.Destination ? -1 : a.Destination > b.Destination ? 1 : 0))
    .map((m) => ({
      Type: m.Type,
      ...(m.Name ? { Name: m.Name } : {}),
      Source: m.Source,
      Destination: m.Destination,
      ...(m.Driver ? { Driver: m.Driver } : {}),
      Mode: m.Mode ?? '',
      RW: m.RW,
      Propagation: m.Propagation ?? '',
    }));
}

/** volumeUsers: the containers whose MountPoints name the volume. */
export function volumeUsers(records: ContainerRecord[], name: string): VolumeUser[] {
  const out: VolumeUser[] = [];
  for (const rec of records) {
    if (Object.values(rec.MountPoints ?? {}).some((m) => m.Type === 'volume' && m.Name === name)) out.push({ id: rec.ID, running: rec.State.Running });
  }
  return out;
}

export function volumeNames(rec: ContainerRecord): string[] {
  return Object.values(rec.MountPoints ?? {}).filter((m) => m.Type === 'volume' && m.Name).map((m) => m.Name!);
}

interface MountInfo {
  mountpoint: string;
  optional: string;
}

async function mountInfo(): Promise<MountInfo[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split(' ');
      const sep = f.indexOf('-');
      return { mountpoint: unescapeMountPath(f[4] ?? ''), optional: f.slice(6, sep < 0 ? undefined : sep).join(' ') };
    });
}

/** The mount a path is on: the last listed of those with the longest mount point prefix. */
function mountOf(infos: MountInfo[], path: string): MountInfo | undefined {
  let best: MountInfo | undefined;
  for (const m of infos) {
    const mp = m.mountpoint;
    if (path === mp || mp === '/' || path.startsWith(mp + '/')) {
      if (!best || mp.length >= best.mountpoint.length) best = m;
    }
  }
  return best;
}

/**
 * startMounts is the start part: each volume mounted for this run (its device, if it has one;
 * a `mount` event) and filled from the image the first time; a missing -v host directory made;
 * propagation checked as dockerd does; then the OCI entries, shallowest destination first.
 */
export async function startMounts(engine: Engine, volumes: Volumes, rec: ContainerRecord, rootfs: string): Promise<{ mounts: OciMount[]; rootfsPropagation?: string }> {
  const mps = Object.values(rec.MountPoints ?? {});
  const out: OciMount[] = [];
  let rootfsPropagation: string | undefined;
  let infos: MountInfo[] | null = null;
  for (const m of mps) {
    if (m.Type === 'tmpfs') {
      out.push({ destination: m.Destination, type: 'tmpfs', source: 'tmpfs', options: mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', DEFAULT_PROPAGATION, ...(m.Options ?? [])]) });
      continue;
    }
    let source = m.Source;
    if (m.Type === 'volume') {
      source = await volumes.mount(m.Name!, rec.ID, { destination: m.Destination, rw: m.RW, propagation: m.Propagation ?? '' });
      if (m.CopyPending) {
        const name = m.Name!;
        await volumes.fill(() => engine.call('volume_prefill', { rootfs, destination: m.Destination, volumePath: source, inUseElsewhere: volumes.mountedByOthers(name, rec.ID) })).catch((err) => {
          throw new SystemError(`failed to copy the image's content at ${m.Destination} into volume ${m.Name}: ${toWire(err).message}`);
        });
        m.CopyPending = false;
      }
    } else {
      // -v /host:/dst makes a missing host directory (root, 0755), as dockerd does at start.
      await mkdir(source, { recursive: true, mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw new SystemError(`error while creating mount source path '${source}': ${err.message}`);
      });
    }
    const prop = m.Propagation ?? '';
    if (prop === 'shared' || prop === 'rshared' || prop === 'slave' || prop === 'rslave') {
      infos ??= await mountInfo();
      const real = await realpath(source);
      const on = mountOf(infos, real);
      const shared = !!on && /(^| )shared:/.test(on.optional);
      const slave = !!on && /(^| )master:/.test(on.optional);
      if (prop.endsWith('shared')) {
        if (!shared) throw new SystemError(`path ${source} is mounted on ${on?.mountpoint ?? '/'} but it is not a shared mount`);
        rootfsPropagation = 'rshared';
      } else {
        if (!shared && !slave) throw new SystemError(`path ${source} is mounted on ${on?.mountpoint ?? '/'} but it is not a shared or slave mount`);
        if (rootfsPropagation !== 'rshared') rootfsPropagation = 'rslave';
      }
    }
    const options = [m.NonRecursive ? 'bind' : 'rbind'];
    if (!m.RW) options.push('ro');
    if (prop) options.push(prop);
    out.push({ destination: m.Destination, type: 'bind', source, options });
  }
  for (const [dest, data] of Object.entries((rec.HostConfig.Tmpfs ?? {}) as Record<string, string>)) {
    out.push({ destination: dest, type: 'tmpfs', source: 'tmpfs', options: mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', DEFAULT_PROPAGATION, ...(data ? data.split(',') : [])]) });
  }
  // dockerd's sort: parents before children, by the number of path components.
  const depth = (p: string) => posix.normalize(p).split('/').length;
  out.sort((a, b) => depth(a.destination) - depth(b.destination));
  return { mounts: out, ...(rootfsPropagation ? { rootfsPropagation } : {}) };
}

/** stopMounts is the end of a run: each of its volumes let go (an `unmount` event; its device with the last user). */
export async function stopMounts(volumes: Volumes, rec: ContainerRecord): Promise<void> {
  for (const name of volumeNames(rec)) {
    await volumes.unmount(name, rec.ID).catch((err) => logger.warn(`volume ${name} of ${rec.ID}: ${toWire(err).message}`));
  }
}

/**
 * removeMounts runs once the container's record is gone (so it no longer references its
 * volumes): with `rm -v` (or --rm), its anonymous volumes go too, unless another container
 * still uses one (not an error, as in dockerd).
 */
export async function removeMounts(volumes: Volumes, rec: ContainerRecord, removeAnonymous: boolean): Promise<void> {
  if (!removeAnonymous) return;
  const errors: string[] = [];
  for (const m of Object.values(rec.MountPoints ?? {})) {
    if (m.Type !== 'volume' || !m.Anonymous || !m.Name) continue;
    try {
      await volumes.remove(m.Name, false);
    } catch (err) {
      const w = toWire(err);
      if (w.kind !== 'conflict' && w.kind !== 'notFound') errors.push(w.message);
    }
  }
  if (errors.length) throw new SystemError(`Error while removing volume: ${errors.join('; ')}`);
}

