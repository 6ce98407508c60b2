/**
 * Containers' root filesystems, as dockerd makes them: the image's top layer, then an "init"
 * snapshot `<mount-id>-init` holding the stubs runc mounts over (/dev, /proc, /etc/hosts, …,
 * see initLayer), then the container's own writable snapshot. The stubs therefore never show
 * in `docker diff` or a commit, but do in an export. Recorded as dockerd records it
 * (layerdb/mounts/<container>/{mount-id, init-id, parent}) so the layer store's start-up
 * clean-up keeps both snapshots and the image's layers. Mounting is done here, with mount(8):
 * overlay2 mounts on <home>/<key>/merged; vfs needs no mount, its tree is the rootfs.
 */
import { randomBytes } from 'node:crypto';
import { chown, lstat, mkdir, open, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { NotFoundError, SystemError } from '../../src/errdefs/errors.js';
import type { Change, GraphDriver } from './driver.js';
import { diffOrder } from './layer/changes.js';
import { mountAll, unmount } from './mount.js';
import type { ImageService } from './images/service.js';

/**
 * INIT_PATHS are what dockerd's initlayer.Setup puts in every container's init layer: mount
 * points runc needs whatever the image has, and /etc/mtab for tools that read it.
 */
const INIT_PATHS: ReadonlyArray<readonly [string, 'dir' | 'file' | { symlink: string }]> = [
  ['/dev/pts', 'dir'],
  ['/dev/shm', 'dir'],
  ['/proc', 'dir'],
  ['/sys', 'dir'],
  ['/.dockerenv', 'file'],
  ['/etc/resolv.conf', 'file'],
  ['/etc/hosts', 'file'],
  ['/etc/hostname', 'file'],
  ['/dev/console', 'file'],
  ['/etc/mtab', { symlink: '/proc/mounts' }],
];

/**
 * initLayer fills a mounted init snapshot (its merged view, so the image's files count) as
 * dockerd's initlayer.Setup: each path's components that are not directories are unlinked
 * (an image's /etc/hosts file, a /dev symlink), then what is missing is made, 0755 root.
 */
export async function initLayer(root: string): Promise<void> {
  for (const [path, type] of INIT_PATHS) {
    const parts = path.split('/').slice(1);
    for (let i = 1; i <= parts.length; i++) {
      await unlink(join(root, ...parts.slice(0, i))).catch(() => {}); // EISDIR for directories, as dockerd ignores
    }
    if (await lstat(join(root, path)).catch(() => null)) continue;
    await mkdirAll(root, dirname(path));
    if (type === 'dir') await mkdirAll(root, path);
    else if (type === 'file') await (await open(join(root, path), 'a', 0o755)).close();
    else await symlink(type.symlink, join(root, path));
  }
}

/** mkdirAll makes the missing directories of `rel` under root, 0755 and owned by root. */
async function mkdirAll(root: string, rel: string): Promise<void> {
  let cur = root;
  for (const p of rel.split('/').filter(Boolean)) {
    cur = join(cur, p);
    if (await lstat(cur).catch(() => null)) continue;
    await mkdir(cur, { mode: 0o755 });
    await chown(cur, 0, 0);
  }
}

async function mountedAt(target: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => l.split(' ')[4] === target);
}

export interface RootfsInfo {
  mountId: string;
  graphDriver: { Data: Record<string, string> | null; Name: string };
}

export class Rootfs {
  constructor(
    private readonly s: ImageService,
    private readonly driver: GraphDriver,
    private readonly layerdb: string,
  ) {}

  private dir(id: string) {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new NotFoundError(`no root filesystem for ${id}`);
    return join(this.layerdb, 'mounts', id);
  }

  async mountID(id: string): Promise<string> {
    try {
      return (await readFile(join(this.dir(id), 'mount-id'), 'utf8')).trim();
    } catch {
      throw new NotFoundError(`container ${id} has no root filesystem`);
    }
  }

  /** create makes the init layer and the writable layer of container `id` on `image` (an image ID). */
  async create(id: string, image: string): Promise<RootfsInfo> {
    const img = this.s.resolve(image);
    const chain = this.s.chain(img);
    const top = chain[chain.length - 1];
    const mountId = randomBytes(32).toString('hex');
    const initId = `${mountId}-init`;
    // What inspect shows as GraphDriver.Data (overlay2's directories; vfs has none).
    let data: Record<string, string> | null = null;
    if (this.driver.name === 'overlay2') {
      const dir = (key: string) => this.driver.applyDir(key).replace(/\/diff$/, '');
      data = {};
      data.LowerDir = [`${dir(initId)}/diff`, ...[...chain].reverse().map((l) => `${dir(l.cacheID)}/diff`)].join(':');
      data.MergedDir = `${dir(mountId)}/merged`;
      data.UpperDir = `${dir(mountId)}/diff`;
      data.WorkDir = `${dir(mountId)}/work`;
    }
    const tmp = join(this.layerdb, 'tmp', `mount-${randomBytes(8).toString('hex')}`);
    try {
      await this.driver.prepare(initId, top?.cacheID ?? null);
      const root = await this.mountKey(initId);
      try {
        await initLayer(root);
      } finally {
        await this.unmountKey(initId);
      }
      // Committed, so it can be the parent of the container's snapshot (dockerd keeps it a
      // read-write layer that nothing writes to again: the same thing).
      await this.driver.commit(initId);
      await this.driver.prepare(mountId, initId);
      await mkdir(tmp, { mode: 0o700 });
      await writeFile(join(tmp, 'mount-id'), mountId);
      await writeFile(join(tmp, 'init-id'), initId);
      if (top) await writeFile(join(tmp, 'parent'), top.chainID);
      await rename(tmp, this.dir(id));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      await this.driver.purge(mountId);
      await this.unmountKey(initId).catch(() => {});
      await this.driver.purge(initId);
      throw new SystemError(`cannot make the root filesystem of ${id}: ${(err as Error).message}`);
    }
    return { mountId, graphDriver: { Data: data, Name: this.driver.name } };
  }

  /** The init snapshot of container `id` (null for one made before berth had init layers). */
  async initID(id: string): Promise<string | null> {
    return (await readFile(join(this.dir(id), 'init-id'), 'utf8').catch(() => '')).trim() || null;
  }

  private mergedDir(key: string): string {
    return join(this.driver.applyDir(key), '..', 'merged');
  }

  /** mountKey makes a snapshot's tree available and returns its path (mounting twice is a no-op). */
  private async mountKey(key: string): Promise<string> {
    const mounts = await this.driver.mounts(key);
    if (mounts.length === 1 && mounts[0]!.type === 'bind' && mounts[0]!.options.includes('rw')) {
      return mounts[0]!.source; // vfs, or an overlay snapshot with no parent: the directory itself
    }
    const target = this.mergedDir(key);
    await mkdir(target, { recursive: true, mode: 0o755 });
    if (!(await mountedAt(target))) await mountAll(mounts, target);
    return target;
  }

  private async unmountKey(key: string): Promise<void> {
    const target = this.mergedDir(key);
    if (await mountedAt(target)) await unmount(target);
  }

  /** mount makes the root filesystem available and returns its path (mounting twice is a no-op). */
  async mount(id: string): Promise<{ path: string }> {
    return { path: await this.mountKey(await this.mountID(id)) };
  }

  async unmount(id: string): Promise<void> {
    const mountId = await this.mountID(id).catch(() => null);
    if (!mountId) return;
    await this.unmountKey(mountId);
  }

  async remove(id: string): Promise<void> {
    const mountId = await this.mountID(id).catch(() => null);
    const initId = await this.initID(id).catch(() => null);
    const parent = (await readFile(join(this.dir(id), 'parent'), 'utf8').catch(() => '')).trim();
    if (mountId) {
      await this.unmount(id);
      await this.driver.purge(mountId);
    }
    if (initId) await this.driver.purge(initId);
    await rm(this.dir(id), { recursive: true, force: true });
    // Its image may have been deleted (rmi -f) while it lived: the layers go with it now.
    if (parent) await this.s.releaseChain(parent);
  }

  /** changes is `docker diff`: the container's own layer against the init layer, in dockerd's order. */
  async changes(id: string): Promise<Change[]> {
    return diffOrder(await this.driver.changes(await this.mountID(id)));
  }

  /** diff is the container's own layer as a layer tarball (for a commit). */
  async diff(id: string): Promise<AsyncIterable<Buffer>> {
    return this.driver.diff(await this.mountID(id));
  }

  /** The size of the writable layer. */
  async usage(id: string): Promise<number> {
    return (await this.driver.usage(await this.mountID(id))).size;
  }
}
