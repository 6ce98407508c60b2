/**
 * vfs: every snapshot is a full copy of its parent (cp -a, with reflinks where the filesystem
 * has them). Slow and large, but it works on any filesystem, which is why it is the fallback
 * when overlayfs is not available. Trees live in <home>/dir/<key> (dockerd's layout), berth's
 * metadata in <home>/meta/<key>.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConflictError, InvalidParameterError, NotFoundError, SystemError } from '../../../src/errdefs/errors.js';
import { mkdirs } from '../../../src/fs/mkdirs.js';
import type { Change, DriverStatus, GraphDriver, Mount, SnapshotInfo, Usage } from '../driver.js';
import { naiveChanges, naiveDiff, usageOf } from '../layer/changes.js';

const run = promisify(execFile);

export class VfsDriver implements GraphDriver {
  readonly name = 'vfs';
  readonly format = 'naive' as const;
  private home = '';

  async init(home: string, options: string[]): Promise<void> {
    for (const opt of options) {
      throw new InvalidParameterError(`vfs: unknown option ${opt.split('=')[0]}`);
    }
    await mkdirs(join(home, 'dir'), 0o710);
    await mkdirs(join(home, 'meta'), 0o700);
    this.home = home;
  }

  async status(): Promise<DriverStatus> {
    return { driver: this.name, home: this.home, driverStatus: [], warnings: [] };
  }

  private tree(key: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw new InvalidParameterError(`invalid snapshot key ${JSON.stringify(key)}`);
    return join(this.home, 'dir', key);
  }

  private meta(key: string): string {
    this.tree(key);
    return join(this.home, 'meta', key);
  }

  async stat(key: string): Promise<SnapshotInfo | null> {
    const text = await readFile(this.meta(key), 'utf8').catch(() => null);
    if (!text) return null;
    const m = JSON.parse(text) as { parent: string | null; kind: SnapshotInfo['kind'] };
    return { key, parent: m.parent, kind: m.kind };
  }

  private async need(key: string): Promise<SnapshotInfo> {
    const s = await this.stat(key);
    if (!s) throw new NotFoundError(`snapshot ${key} does not exist`);
    return s;
  }

  private async create(key: string, parent: string | null, kind: SnapshotInfo['kind']): Promise<void> {
    if (await this.stat(key)) throw new ConflictError(`snapshot ${key} already exists`);
    if (parent && (await this.need(parent)).kind !== 'committed') {
      throw new InvalidParameterError(`snapshot ${parent} is not committed and cannot be a parent`);
    }
    if (kind === 'active') {
      if (parent) {
        try {
          await run('cp', ['-a', '--reflink=auto', this.tree(parent), this.tree(key)]);
        } catch (err) {
          await rm(this.tree(key), { recursive: true, force: true });
          throw new SystemError(`vfs: cannot copy ${parent}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
        }
      } else {
        await mkdir(this.tree(key), { mode: 0o755 });
      }
    }
    // Written last: a tree without metadata is half-made, and the layer store removes it.
    await writeFile(this.meta(key), JSON.stringify({ parent, kind }));
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
    await writeFile(this.meta(key), JSON.stringify({ parent: s.parent, kind: 'committed' }));
  }

  async remove(key: string): Promise<void> {
    for (const s of await this.list()) {
      if (s.parent === key) throw new ConflictError(`snapshot ${key} is the parent of ${s.key}`);
    }
    await rm(this.meta(key), { force: true });
    await rm(this.tree(key), { recursive: true, force: true });
  }

  async mounts(key: string): Promise<Mount[]> {
    const s = await this.need(key);
    if (s.kind === 'view') return [{ type: 'bind', source: this.tree(s.parent!), options: ['rbind', 'ro'] }];
    return [{ type: 'bind', source: this.tree(key), options: ['rbind', s.kind === 'active' ? 'rw' : 'ro'] }];
  }

  applyDir(key: string): string {
    return this.tree(key);
  }

  async changes(key: string): Promise<Change[]> {
    const s = await this.need(key);
    return naiveChanges(this.tree(key), s.parent ? this.tree(s.parent) : null);
  }

  async *diff(key: string): AsyncIterable<Buffer> {
    yield* naiveDiff(this.tree(key), await this.changes(key));
  }

  async usage(key: string): Promise<Usage> {
    return usageOf(this.tree(key));
  }

  async list(): Promise<SnapshotInfo[]> {
    const keys = new Set([...(await readdir(join(this.home, 'dir'))), ...(await readdir(join(this.home, 'meta')))]);
    const out: SnapshotInfo[] = [];
    for (const key of keys) out.push((await this.stat(key).catch(() => null)) ?? { key, parent: null, kind: 'active' });
    return out;
  }

  async purge(key: string): Promise<void> {
    await rm(this.meta(key), { force: true });
    await rm(this.tree(key), { recursive: true, force: true });
  }
}
