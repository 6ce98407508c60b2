/**
 * Containers' root filesystems: a writable snapshot on the image's top layer, recorded as
 * dockerd records it (layerdb/mounts/<container>/{mount-id, parent}) so the layer store's
 * start-up clean-up keeps it and its image's layers. Mounting is done here, with mount(8):
 * overlay2 mounts on <home>/<mount-id>/merged; vfs needs no mount, its tree is the rootfs.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError, SystemError } from '../../src/errdefs/errors.js';
import type { GraphDriver } from './driver.js';
import { mountAll, unmount } from './mount.js';
import type { ImageService } from './images/service.js';

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

  /** create makes the writable layer of container `id` on `image` (an image ID). */
  async create(id: string, image: string): Promise<RootfsInfo> {
    const img = this.s.resolve(image);
    const chain = this.s.chain(img);
    const top = chain[chain.length - 1];
    const mountId = randomBytes(32).toString('hex');
    // What inspect shows as GraphDriver.Data (overlay2's directories; vfs has none).
    let data: Record<string, string> | null = null;
    if (this.driver.name === 'overlay2') {
      const dir = (key: string) => this.driver.applyDir(key).replace(/\/diff$/, '');
      data = {};
      if (chain.length) data.LowerDir = [...chain].reverse().map((l) => `${dir(l.cacheID)}/diff`).join(':');
      data.MergedDir = `${dir(mountId)}/merged`;
      data.UpperDir = `${dir(mountId)}/diff`;
      data.WorkDir = `${dir(mountId)}/work`;
    }
    await this.driver.prepare(mountId, top?.cacheID ?? null);
    const tmp = join(this.layerdb, 'tmp', `mount-${randomBytes(8).toString('hex')}`);
    try {
      await mkdir(tmp, { mode: 0o700 });
      await writeFile(join(tmp, 'mount-id'), mountId);
      if (top) await writeFile(join(tmp, 'parent'), top.chainID);
      await rename(tmp, this.dir(id));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      await this.driver.purge(mountId);
      throw new SystemError(`cannot record the root filesystem of ${id}: ${(err as Error).message}`);
    }
    return { mountId, graphDriver: { Data: data, Name: this.driver.name } };
  }

  /** mount makes the root filesystem available and returns its path (mounting twice is a no-op). */
  async mount(id: string): Promise<{ path: string }> {
    const mountId = await this.mountID(id);
    const mounts = await this.driver.mounts(mountId);
    if (mounts.length === 1 && mounts[0]!.type === 'bind' && mounts[0]!.options.includes('rw')) {
      return { path: mounts[0]!.source }; // vfs, or an overlay snapshot with no parent: the directory itself
    }
    const target = join(this.driver.applyDir(mountId), '..', 'merged');
    await mkdir(target, { recursive: true, mode: 0o755 });
    if (!(await mountedAt(target))) await mountAll(mounts, target);
    return { path: target };
  }

  async unmount(id: string): Promise<void> {
    const mountId = await this.mountID(id).catch(() => null);
    if (!mountId) return;
    const target = join(this.driver.applyDir(mountId), '..', 'merged');
    if (await mountedAt(target)) await unmount(target);
  }

  async remove(id: string): Promise<void> {
    const mountId = await this.mountID(id).catch(() => null);
    const parent = (await readFile(join(this.dir(id), 'parent'), 'utf8').catch(() => '')).trim();
    if (mountId) {
      await this.unmount(id);
      await this.driver.purge(mountId);
    }
    await rm(this.dir(id), { recursive: true, force: true });
    // Its image may have been deleted (rmi -f) while it lived: the layers go with it now.
    if (parent) await this.s.releaseChain(parent);
  }

  /** changes, for `docker diff` (#6) and the size of the writable layer. */
  async usage(id: string): Promise<number> {
    return (await this.driver.usage(await this.mountID(id))).size;
  }
}
