/**
 * overlay2: each snapshot's own changes in <home>/<key>/diff, stacked by overlayfs. The
 * layout is dockerd's, so operators find their way: <key>/diff, <key>/work, <key>/link (a
 * short name), <key>/lower ("l/A:l/B", top first), and <home>/l/<short> → ../<key>/diff, which
 * keeps mount option strings short. berth adds <key>/parent and <key>/kind.
 * `overlay` is accepted as another name for it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidParameterError, NotFoundError } from '../../../src/errdefs/errors.js';
import { mkdirs } from '../../../src/fs/mkdirs.js';
import type { Change, DriverStatus, GraphDriver, Mount, SnapshotInfo, SnapshotKind, Support, Usage } from '../driver.js';
import { backingFs, kernelHasOverlay } from '../fs.js';
import { overlayChanges, overlayDiff, usageOf } from '../layer/changes.js';

const LINK_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function shortName(): string {
  const b = randomBytes(26);
  return [...b].map((x) => LINK_CHARS[x % LINK_CHARS.length]).join('');
}

export class OverlayDriver implements GraphDriver {
  readonly name = 'overlay2';
  readonly format = 'overlay' as const;
  private home = '';
  private fs = '';

  static async supported(dataRoot: string): Promise<Support> {
    if (!(await kernelHasOverlay())) return { ok: false, reason: 'the kernel does not support overlay (no "overlay" in /proc/filesystems)' };
    const fs = await backingFs(dataRoot);
    if (fs === 'overlayfs') return { ok: false, reason: `the data root ${dataRoot} is itself on overlayfs, which overlay cannot stack on` };
    return { ok: true };
  }

  async init(home: string, options: string[]): Promise<void> {
    for (const opt of options) {
      const key = opt.split('=')[0]!.toLowerCase();
      // Accepted and ignored, as dockerd 20.10 does for this deprecated option.
      if (key === 'overlay2.override_kernel_check') continue;
      throw new InvalidParameterError(`overlay2: unknown option ${key}`);
    }
    await mkdirs(join(home, 'l'), 0o710);
    this.home = home;
    this.fs = await backingFs(home);
  }

  async status(): Promise<DriverStatus> {
    return {
      driver: this.name,
      home: this.home,
      driverStatus: [
        ['Backing Filesystem', this.fs],
        ['Supports d_type', 'true'],
        ['Native Overlay Diff', 'true'],
        ['userxattr', 'false'],
      ],
      warnings: [],
    };
  }

  private dir(key: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(key) || key === 'l') throw new InvalidParameterError(`invalid snapshot key ${JSON.stringify(key)}`);
    return join(this.home, key);
  }

  async stat(key: string): Promise<SnapshotInfo | null> {
    const d = this.dir(key);
    const kind = (await readFile(join(d, 'kind'), 'utf8').catch(() => null)) as SnapshotKind | null;
    if (!kind) return null;
    const parent = await readFile(join(d, 'parent'), 'utf8').catch(() => '');
    return { key, parent: parent || null, kind };
  }

  private async need(key: string): Promise<SnapshotInfo> {
    const s = await this.stat(key);
    if (!s) throw new NotFoundError(`snapshot ${key} does not exist`);
    return s;
  }

  /** lowers returns the diff directories below `key`'s own, top first (for a view: its parent's). */
  private async lowerDirs(parent: string | null): Promise<string[]> {
    if (!parent) return [];
    const lower = await readFile(join(this.dir(parent), 'lower'), 'utf8').catch(() => '');
    return [join(this.dir(parent), 'diff'), ...lower.split(':').filter(Boolean).map((l) => join(this.home, l))];
  }

  private async create(key: string, parent: string | null, kind: SnapshotKind): Promise<void> {
    const d = this.dir(key);
    if (await this.stat(key)) throw new ConflictError(`snapshot ${key} already exists`);
    if (parent) {
      const p = await this.need(parent);
      if (p.kind !== 'committed') throw new InvalidParameterError(`snapshot ${parent} is not committed and cannot be a parent`);
    }
    await mkdir(d, { mode: 0o710 });
    if (kind === 'active') {
      await mkdir(join(d, 'diff'), { mode: 0o755 });
      await mkdir(join(d, 'work'), { mode: 0o700 });
      const link = shortName();
      await writeFile(join(d, 'link'), link);
      await symlink(join('..', key, 'diff'), join(this.home, 'l', link));
    }
    if (parent) {
      const pl = (await readFile(join(this.dir(parent), 'link'), 'utf8')).trim();
      const plower = await readFile(join(this.dir(parent), 'lower'), 'utf8').catch(() => '');
      await writeFile(join(d, 'lower'), [`l/${pl}`, ...plower.split(':').filter(Boolean)].join(':'));
      await writeFile(join(d, 'parent'), parent);
    }
    // Written last: a snapshot without `kind` is half-made, and the layer store removes it.
    await writeFile(join(d, 'kind'), kind);
  }

  async prepare(key: string, parent: string | null): Promise<Mount[]> {
    await this.create(key, parent, 'active');
    return this.mounts(key);
  }

  async view(key: string, parent: string): Promise<Mount[]> {
    await this.create(key, parent, 'view');
    return this.mounts(key);
  }

  async commit(key: string): Promise<void> {
    const s = await this.need(key);
    if (s.kind !== 'active') throw new InvalidParameterError(`snapshot ${key} is not active`);
    await rm(join(this.dir(key), 'work'), { recursive: true, force: true });
    await writeFile(join(this.dir(key), 'kind'), 'committed');
  }

  async remove(key: string): Promise<void> {
    const d = this.dir(key);
    for (const s of await this.list()) {
      if (s.parent === key) throw new ConflictError(`snapshot ${key} is the parent of ${s.key}`);
    }
    const link = await readFile(join(d, 'link'), 'utf8').catch(() => null);
    if (link) await unlink(join(this.home, 'l', link.trim())).catch(() => {});
    await rm(d, { recursive: true, force: true });
  }

  async mounts(key: string): Promise<Mount[]> {
    const s = await this.need(key);
    const d = this.dir(key);
    if (s.kind === 'active') {
      const lowers = await this.lowerDirs(s.parent);
      if (lowers.length === 0) return [{ type: 'bind', source: join(d, 'diff'), options: ['rbind', 'rw'] }];
      return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`, `upperdir=${join(d, 'diff')}`, `workdir=${join(d, 'work')}`] }];
    }
    // committed or view: read-only. A committed snapshot shows itself on its parents.
    const lowers = s.kind === 'view' ? await this.lowerDirs(s.parent) : [join(d, 'diff'), ...(await this.lowerDirs(s.parent))];
    if (lowers.length === 1) return [{ type: 'bind', source: lowers[0]!, options: ['rbind', 'ro'] }];
    return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }];
  }

  applyDir(key: string): string {
    return join(this.dir(key), 'diff');
  }

  async changes(key: string): Promise<Change[]> {
    const s = await this.need(key);
    return overlayChanges(join(this.dir(key), 'diff'), await this.lowerDirs(s.parent));
  }

  diff(key: string): AsyncIterable<Buffer> {
    return overlayDiff(join(this.dir(key), 'diff'));
  }

  async usage(key: string): Promise<Usage> {
    return usageOf(join(this.dir(key), 'diff'));
  }

  async list(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const name of await readdir(this.home)) {
      if (name === 'l') continue;
      const s = await this.stat(name).catch(() => null);
      out.push(s ?? { key: name, parent: null, kind: 'active' });
    }
    return out;
  }

  /** For the layer store's clean-up of half-made snapshots (no `kind` yet). */
  async purge(key: string): Promise<void> {
    const link = await readFile(join(this.dir(key), 'link'), 'utf8').catch(() => null);
    if (link) await unlink(join(this.home, 'l', link.trim())).catch(() => {});
    await rm(this.dir(key), { recursive: true, force: true });
  }
}
