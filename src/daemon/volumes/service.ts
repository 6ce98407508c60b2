/**
 * Volumes is the daemon's volume store (dockerd's volume/service with the `local` driver):
 * <data-root>/volumes/<name>/_data, with the volume's metadata in <name>/berth.json (dockerd keeps
 * it in a bolt database, metadata.db; a JSON file per volume, written atomically, is enough here).
 *
 * A volume is referenced by the containers whose MountPoints name it (whatever their state):
 * those references are read from the container records each time, so they never drift from
 * them. Which runs have it mounted is kept in memory (for the mount/unmount events and the
 * device of a volume with options, mounted while a container that uses it runs).
 *
 * Changes are serialised (one queue): create, remove, prune, mount and unmount.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidParameterError, NotFoundError, SystemError, toWire, withContext } from '../../errdefs/errors.js';
import type { Events } from '../../events/events.js';
import { atomicWriteFile } from '../../fs/atomic.js';
import { Filters } from '../../protocol/filters.js';
import type { VolumeDoc, VolumeListResult, VolumesPruneReport } from '../../protocol/types/volumes.js';
import { mountVolume, mountedPaths, needsMount, unmountVolume, validateOpts } from './local.js';

export const LOCAL = 'local';
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const META = 'berth.json';
/** Directories being removed (renamed first, so a crash never leaves half a volume that lists). */
const REMOVING = '.removing-';

interface VolumeMeta {
  Name: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
  CreatedAt: string;
}

export interface VolumeUser {
  id: string;
  running: boolean;
}

export interface VolumeDeps {
  /** <data-root>/volumes */
  root: string;
  events: Events;
  /** The containers that reference a volume (their records' MountPoints). */
  users: (name: string) => VolumeUser[];
  log: (msg: string) => void;
  /** The sizes of these directories (the graph actor walks them: no bulk I/O on the main thread). */
  sizes: (paths: string[]) => Promise<number[]>;
}

export interface MountAttrs {
  destination: string;
  rw: boolean;
  propagation: string;
}

/** Whole seconds, as dockerd 20.10 shows CreatedAt. */
function nowSeconds(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function isEmptyMap(m: Record<string, string> | null | undefined): boolean {
  return !m || Object.keys(m).length === 0;
}

export class Volumes {
  private readonly vols = new Map<string, VolumeMeta>();
  /** name → the containers whose current run has it mounted. */
  private readonly active = new Map<string, Set<string>>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly held = new Map<string, Set<string>>();

  constructor(private readonly d: VolumeDeps) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private dir(name: string): string {
    return join(this.d.root, name);
  }

  mountpoint(name: string): string {
    return join(this.d.root, name, '_data');
  }

  private publish(action: string, id: string, attrs: Record<string, string>): void {
    this.d.events.publish({ Type: 'volume', Action: action, Actor: { ID: id, Attributes: attrs } });
  }

  /** load reads the volumes; a removal or a create a crash interrupted is finished or undone. */
  async load(): Promise<void> {
    await mkdir(this.d.root, { recursive: true, mode: 0o701 });
    for (const name of await readdir(this.d.root)) {
      const dir = this.dir(name);
      if (name.startsWith(REMOVING)) {
        await rm(dir, { recursive: true, force: true }).catch((err) => this.d.log(`cannot remove ${dir}: ${(err as Error).message}`));
        continue;
      }
      if (!NAME.test(name)) continue;
      try {
        const meta = JSON.parse(await readFile(join(dir, META), 'utf8')) as VolumeMeta;
        this.vols.set(meta.Name, meta);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.d.log(`volume ${name}: unreadable metadata: ${(err as Error).message}`);
        }
        // A create cut short before its metadata: an empty one goes; one with data is kept, as a plain volume.
        const data = await readdir(join(dir, '_data')).catch(() => null);
        if (!data || data.length === 0) {
          await rm(dir, { recursive: true, force: true }).catch(() => {});
          continue;
        }
        const st = await stat(dir);
        const meta: VolumeMeta = { Name: name, Driver: LOCAL, Labels: null, Options: null, CreatedAt: st.mtime.toISOString().replace(/\.\d+Z$/, 'Z') };
        await atomicWriteFile(join(dir, META), JSON.stringify(meta), 0o600);
        this.vols.set(name, meta);
      }
    }
  }

  /** adopt records that a container restored as running has its volumes mounted. */
  adopt(containerId: string, names: string[]): void {
    for (const n of names) {
      if (!this.vols.has(n)) continue;
      let s = this.active.get(n);
      if (!s) this.active.set(n, (s = new Set()));
      s.add(containerId);
    }
  }

  /** sweep unmounts the devices of volumes no running container uses (after a crash). */
  async sweep(): Promise<void> {
    await this.serial(async () => {
      const mounted = await mountedPaths();
      for (const v of this.vols.values()) {
        if (!mounted.has(this.mountpoint(v.Name))) continue;
        if (this.usersOf(v.Name).some((u) => u.running)) continue;
        await unmountVolume(this.mountpoint(v.Name)).catch((err) => this.d.log(`volume ${v.Name}: ${toWire(err).message}`));
      }
    });
  }

  doc(v: VolumeMeta): VolumeDoc {
    return {
      CreatedAt: v.CreatedAt,
      Driver: v.Driver,
      Labels: isEmptyMap(v.Labels) ? null : sortMap(v.Labels!),
      Mountpoint: this.mountpoint(v.Name),
      Name: v.Name,
      Options: isEmptyMap(v.Options) ? null : sortMap(v.Options!),
      Scope: 'local',
    };
  }

  private meta(name: string): VolumeMeta {
    const v = this.vols.get(name);
    if (!v) throw new NotFoundError(`get ${name}: no such volume`);
    return v;
  }

  get(name: string): VolumeDoc {
    return this.doc(this.meta(name));
  }

  has(name: string): boolean {
    return this.vols.has(name);
  }

  /**
   * create makes a volume, or returns the one of that name unchanged (dockerd: even with other
   * labels or options). A 64-hex name when none is given. Every call is a `create` event.
   */
  /**
   * create makes a volume (or returns the one of that name). `holder` is a container being
   * created: the volume counts as in use by it until release(holder), so a prune or rm that runs
   * before its record exists cannot take it (dockerd's create reference).
   */
  create(name: string, driver: string, opts: Record<string, string> | null, labels: Record<string, string> | null, holder?: string): Promise<VolumeDoc> {
    return this.serial(async () => {
      const drv = driver || LOCAL;
      if (!name) name = randomBytes(32).toString('hex');
      if (holder) this.held.set(holder, new Set([...(this.held.get(holder) ?? []), name]));
      const existing = this.vols.get(name);
      if (existing) {
        if (drv !== existing.Driver) throw new ConflictError(`create ${name}: volume name must be unique`);
        this.publish('create', name, { driver: existing.Driver });
        return this.doc(existing);
      }
      try {
        if (drv !== LOCAL) throw new NotFoundError(`error looking up volume plugin ${drv}: plugin "${drv}" not found`);
        if (!NAME.test(name)) {
          throw new InvalidParameterError(`${JSON.stringify(name)} includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
        }
        validateOpts(opts ?? {});
      } catch (err) {
        throw withContext(err, `create ${name}: `);
      }
      const dir = this.dir(name);
      await mkdir(dir, { mode: 0o701 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      await mkdir(join(dir, '_data'), { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      const meta: VolumeMeta = { Name: name, Driver: LOCAL, Labels: isEmptyMap(labels) ? null : labels, Options: isEmptyMap(opts) ? null : opts, CreatedAt: nowSeconds() };
      // The metadata last: a volume exists once it is written.
      await atomicWriteFile(join(dir, META), JSON.stringify(meta), 0o600);
      this.vols.set(name, meta);
      this.publish('create', name, { driver: LOCAL });
      return this.doc(meta);
    });
  }

  list(filters: string | undefined): VolumeListResult {
    const f = parseFilters(filters, ['dangling', 'name', 'driver', 'label']);
    const dangling = danglingFilter(f);
    const out: VolumeDoc[] = [];
    for (const v of this.vols.values()) {
      if (f.has('name') && !f.get('name').some((n) => v.Name.includes(n))) continue;
      if (!f.exactMatch('driver', v.Driver)) continue;
      if (!f.matchKVList('label', v.Labels ?? {})) continue;
      if (dangling !== null && (this.usersOf(v.Name).length === 0) !== dangling) continue;
      out.push(this.doc(v));
    }
    out.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    return { Volumes: out, Warnings: null };
  }

  /** remove deletes an unused volume (409 with dockerd's message when a container has it). */
  remove(name: string, force: boolean): Promise<void> {
    return this.serial(async () => {
      if (!this.vols.has(name)) {
        if (force) return; // dockerd: force purges, and a missing volume is not an error then
        throw new NotFoundError(`get ${name}: no such volume`);
      }
      const users = this.usersOf(name);
      if (users.length) throw new ConflictError(`remove ${name}: volume is in use - [${users.map((u) => u.id).join(' ')}]`);
      await this.destroy(name);
      this.publish('destroy', name, { driver: LOCAL });
    });
  }

  private async destroy(name: string): Promise<void> {
    const mp = this.mountpoint(name);
    if ((await mountedPaths()).has(mp)) await unmountVolume(mp);
    const gone = join(this.d.root, `${REMOVING}${name}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(this.dir(name), gone);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SystemError(`remove ${name}: ${(err as Error).message}`);
    }
    this.vols.delete(name);
    this.active.delete(name);
    await rm(gone, { recursive: true, force: true }).catch((err) => this.d.log(`cannot remove ${gone}: ${(err as Error).message}`));
  }

  /**
   * prune removes every unused local volume without options, named or anonymous (dockerd
   * 20.10; 23.0 keeps named ones unless `all`). One `prune` event, no `destroy` per volume.
   */
  prune(filters: string | undefined): Promise<VolumesPruneReport> {
    const f = parseFilters(filters, ['label', 'label!']);
    return this.serial(async () => {
      const deleted: string[] = [];
      let reclaimed = 0;
      for (const v of [...this.vols.values()]) {
        if (!isEmptyMap(v.Options) || this.usersOf(v.Name).length) continue;
        if (!f.matchKVList('label', v.Labels ?? {})) continue;
        if (f.has('label!') && f.get('label!').some((l) => labelMatches(l, v.Labels ?? {}))) continue;
        const [size = 0] = await this.d.sizes([this.mountpoint(v.Name)]);
        try {
          await this.destroy(v.Name);
        } catch (err) {
          this.d.log(`prune: cannot remove volume ${v.Name}: ${toWire(err).message}`);
          continue;
        }
        deleted.push(v.Name);
        reclaimed += size;
      }
      this.publish('prune', '', { reclaimed: String(reclaimed) });
      return { VolumesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
    });
  }

  /** mount is a container's run taking the volume: its device mounted first, if it has one. */
  mount(name: string, containerId: string, a: MountAttrs): Promise<string> {
    return this.serial(async () => {
      const v = this.meta(name);
      const mp = this.mountpoint(name);
      if (needsMount(v.Options) && !(await mountedPaths()).has(mp)) await mountVolume(mp, v.Options!);
      let s = this.active.get(name);
      if (!s) this.active.set(name, (s = new Set()));
      s.add(containerId);
      this.publish('mount', name, { container: containerId, destination: a.destination, driver: v.Driver, propagation: a.propagation, 'read/write': String(a.rw) });
      return mp;
    });
  }

  /**
   * fill runs a pre-fill of the volume (its first start) alone: two containers starting on the
   * same new volume do not both copy into it.
   */
  fill<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(fn);
  }

  /**
   * hold references an existing volume for a container being created (one it shares with
   * another container by --volumes-from), until release(holder); a missing one is a 404.
   */
  hold(name: string, holder: string): Promise<void> {
    return this.serial(async () => {
      this.meta(name);
      this.held.set(holder, new Set([...(this.held.get(holder) ?? []), name]));
    });
  }

  /** release ends the holds of a container being created (its record now holds its volumes, or it failed). */
  release(holder: string): void {
    this.held.delete(holder);
  }

  /** The containers that use a volume: by their records, and those being created. */
  private usersOf(name: string): VolumeUser[] {
    const users = this.d.users(name);
    for (const [holder, names] of this.held) if (names.has(name) && !users.some((u) => u.id === holder)) users.push({ id: holder, running: false });
    return users;
  }

  /** Whether a container other than `containerId` has the volume mounted for a run now. */
  mountedByOthers(name: string, containerId: string): boolean {
    return [...(this.active.get(name) ?? [])].some((id) => id !== containerId);
  }

  /** unmount is the end of that run: the device goes with the last running user. */
  unmount(name: string, containerId: string): Promise<void> {
    return this.serial(async () => {
      const v = this.vols.get(name);
      if (!v) return;
      const s = this.active.get(name);
      if (s?.delete(containerId)) this.publish('unmount', name, { container: containerId, driver: v.Driver });
      if (!needsMount(v.Options) || (s && s.size > 0)) return;
      if (this.usersOf(name).some((u) => u.running && u.id !== containerId)) return;
      const mp = this.mountpoint(name);
      if ((await mountedPaths()).has(mp)) await unmountVolume(mp);
    });
  }

  /** usage is /system/df's Volumes: local volumes without options, with their size and users. */
  async usage(): Promise<VolumeDoc[]> {
    const out: VolumeDoc[] = [];
    for (const v of [...this.vols.values()]) {
      if (!isEmptyMap(v.Options)) continue;
      const [size = 0] = await this.d.sizes([this.mountpoint(v.Name)]);
      out.push({ ...this.doc(v), UsageData: { RefCount: this.usersOf(v.Name).length, Size: size } });
    }
    return out;
  }
}

function parseFilters(raw: string | undefined, accepted: string[]): Filters {
  const f = Filters.parse(raw);
  // dockerd 20.10's message (capital I).
  for (const k of f.keys()) if (!accepted.includes(k)) throw new InvalidParameterError(`Invalid filter '${k}'`);
  return f;
}

function danglingFilter(f: Filters): boolean | null {
  const vals = f.get('dangling');
  if (vals.length === 0) return null;
  const v = vals[0]!.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new InvalidParameterError(`Invalid filter 'dangling=${vals[0]}'`);
}

function labelMatches(v: string, labels: Record<string, string>): boolean {
  const i = v.indexOf('=');
  return i < 0 ? v in labels : labels[v.slice(0, i)] === v.slice(i + 1);
}

/** Go's encoding/json sorts map keys. */
function sortMap(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** volumeCreateArgs reads POST /volumes/create's body ({Name, Driver, DriverOpts, Labels}). */
export function volumeCreateArgs(body: Record<string, unknown> | null): [string, string, Record<string, string> | null, Record<string, string> | null] {
  const b = body ?? {};
  const str = (k: string): string => {
    const v = b[k];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw new InvalidParameterError(`invalid type for field ${k}: expected string`);
    return v;
  };
  const map = (k: string): Record<string, string> | null => {
    const v = b[k];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new InvalidParameterError(`invalid type for field ${k}: expected a map of strings`);
    return v as Record<string, string>;
  };
  return [str('Name'), str('Driver'), map('DriverOpts'), map('Labels')];
}
