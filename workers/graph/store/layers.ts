/**
 * The layer store, content-addressed as dockerd's layerdb (image/<driver>/layerdb):
 *
 *   sha256/<chainID>/diff              the layer's diffID (sha256 of its tarball)
 *   sha256/<chainID>/size              bytes of its files
 *   sha256/<chainID>/cache-id          the driver snapshot holding it
 *   sha256/<chainID>/parent            the parent's chainID (absent for a base layer)
 *   sha256/<chainID>/tar-split.json.gz how to rebuild the tarball byte for byte
 *   mounts/<container>/mount-id        a container's writable snapshot (#4), kept by the GC
 *   mounts/<container>/init-id         its init snapshot (the mount stubs under it), kept too
 *   tmp/                               where a layer's metadata is written before it is published
 *
 * chainID(L1) = diffID(L1); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)). A layer
 * shared by several images is stored once. A layer is published by renaming its finished
 * metadata directory into sha256/ — the one atomic step — so a crash leaves either nothing or a
 * whole layer; at start-up tmp/ and snapshots no layer or mount names are removed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirs } from '../../../src/fs/mkdirs.js';
import type { GraphDriver } from '../driver.js';
import type { ApplyResult } from '../layer/apply.js';

export interface Layer {
  chainID: string;
  diffID: string;
  parent: string | null;
  cacheID: string;
  size: number;
}

export function chainID(parent: string | null, diffID: string): string {
  return parent ? `sha256:${createHash('sha256').update(`${parent} ${diffID}`).digest('hex')}` : diffID;
}

/** chainIDs gives the chain of an image's rootfs: one chainID per diffID, bottom first. */
export function chainIDs(diffIDs: string[]): string[] {
  const out: string[] = [];
  let parent: string | null = null;
  for (const d of diffIDs) {
    parent = chainID(parent, d);
    out.push(parent);
  }
  return out;
}

const hex = (id: string) => id.replace(/^sha256:/, '');

export class DiffIDMismatchError extends Error {}

export class LayerStore {
  private readonly layers = new Map<string, Layer>();

  constructor(
    private readonly root: string,
    private readonly driver: GraphDriver,
  ) {}

  /** load reads the store and removes what a crash left half-made. */
  async load(log: (msg: string) => void): Promise<void> {
    await mkdirs(join(this.root, 'sha256'), 0o700);
    await mkdirs(join(this.root, 'mounts'), 0o700);
    await rm(join(this.root, 'tmp'), { recursive: true, force: true });
    await mkdir(join(this.root, 'tmp'), { mode: 0o700 });
    for (const name of await readdir(join(this.root, 'sha256'))) {
      const dir = join(this.root, 'sha256', name);
      try {
        const diffID = (await readFile(join(dir, 'diff'), 'utf8')).trim();
        const cacheID = (await readFile(join(dir, 'cache-id'), 'utf8')).trim();
        const size = Number((await readFile(join(dir, 'size'), 'utf8')).trim());
        const parent = (await readFile(join(dir, 'parent'), 'utf8').catch(() => '')).trim() || null;
        await readFile(join(dir, 'tar-split.json.gz'));
        this.layers.set(`sha256:${name}`, { chainID: `sha256:${name}`, diffID, parent, cacheID, size });
      } catch {
        log(`removing the unreadable layer ${name}`);
        await rm(dir, { recursive: true, force: true });
      }
    }
    // Snapshots nothing names: a crash in the middle of an extraction.
    const keep = new Set([...this.layers.values()].map((l) => l.cacheID));
    for (const name of await readdir(join(this.root, 'mounts'))) {
      for (const f of ['mount-id', 'init-id']) {
        const id = (await readFile(join(this.root, 'mounts', name, f), 'utf8').catch(() => '')).trim();
        if (id) keep.add(id);
      }
    }
    for (const s of await this.driver.list()) {
      if (!keep.has(s.key)) {
        log(`removing the orphaned snapshot ${s.key}`);
        await this.driver.purge(s.key);
      }
    }
  }

  get(chainID: string): Layer | undefined {
    return this.layers.get(chainID);
  }

  list(): Layer[] {
    return [...this.layers.values()];
  }

  /**
   * register makes a new layer on `parent` with `extract` (which fills the snapshot directory and
   * returns what applyLayer does). A layer whose chainID exists already is not stored twice:
   * the new snapshot is dropped and the existing layer returned. With `expectDiffID`, bytes
   * that hash otherwise are an error and nothing is kept.
   */
  async register(parent: string | null, extract: (dir: string) => Promise<ApplyResult>, expectDiffID?: string): Promise<{ layer: Layer; existed: boolean; skipped: string[] }> {
    const parentLayer = parent ? this.layers.get(parent) : undefined;
    if (parent && !parentLayer) throw new Error(`parent layer ${parent} does not exist`);
    const cacheID = randomBytes(32).toString('hex');
    await this.driver.prepare(cacheID, parentLayer?.cacheID ?? null);
    let result: ApplyResult;
    try {
      result = await extract(this.driver.applyDir(cacheID));
      if (expectDiffID && result.diffID !== expectDiffID) {
        throw new DiffIDMismatchError(`layer digest mismatch: the layer's content hashes to ${result.diffID}, its image says ${expectDiffID}`);
      }
      await this.driver.commit(cacheID);
    } catch (err) {
      await this.driver.purge(cacheID);
      throw err;
    }
    const id = chainID(parent, result.diffID);
    const existing = this.layers.get(id);
    if (existing) {
      await this.driver.purge(cacheID);
      return { layer: existing, existed: true, skipped: result.skipped };
    }
    const layer: Layer = { chainID: id, diffID: result.diffID, parent, cacheID, size: result.size };
    const tmp = join(this.root, 'tmp', randomBytes(8).toString('hex'));
    try {
      await mkdir(tmp, { mode: 0o700 });
      await writeFile(join(tmp, 'diff'), layer.diffID);
      await writeFile(join(tmp, 'size'), String(layer.size));
      await writeFile(join(tmp, 'cache-id'), cacheID);
      if (parent) await writeFile(join(tmp, 'parent'), parent);
      await writeFile(join(tmp, 'tar-split.json.gz'), result.tarSplit, { flush: true });
      await rename(tmp, join(this.root, 'sha256', hex(id)));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      await this.driver.purge(cacheID);
      // Another job published the same layer meanwhile: use it.
      const raced = this.layers.get(id);
      if (raced) return { layer: raced, existed: true, skipped: result.skipped };
      throw err;
    }
    this.layers.set(id, layer);
    return { layer, existed: false, skipped: result.skipped };
  }

  /** The chainIDs containers' writable layers sit on (layerdb/mounts/<id>/parent, #4). */
  async mountParents(): Promise<string[]> {
    const out: string[] = [];
    for (const name of await readdir(join(this.root, 'mounts')).catch(() => [] as string[])) {
      const p = (await readFile(join(this.root, 'mounts', name, 'parent'), 'utf8').catch(() => '')).trim();
      if (p) out.push(p);
    }
    return out;
  }

  tarSplit(chainID: string): Promise<Buffer> {
    return readFile(join(this.root, 'sha256', hex(chainID), 'tar-split.json.gz'));
  }

  /** The directory a layer's files are read from when its tarball is rebuilt. */
  filesOf(layer: Layer): string {
    return this.driver.applyDir(layer.cacheID);
  }

  /** inUse says whether another layer is built on this one. */
  hasChildren(chainID: string): boolean {
    for (const l of this.layers.values()) if (l.parent === chainID) return true;
    return false;
  }

  /** remove unpublishes a layer (metadata first: then the snapshot is an orphan at worst). */
  async remove(chainID: string): Promise<void> {
    const layer = this.layers.get(chainID);
    if (!layer) return;
    this.layers.delete(chainID);
    await rm(join(this.root, 'sha256', hex(chainID)), { recursive: true, force: true });
    await this.driver.purge(layer.cacheID);
  }
}
