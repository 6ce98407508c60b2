/**
 * ImageService holds the graph actor's stores and the rules every image command shares:
 * finding an image by what a user typed (dockerd's GetImage), telling the events bus, and
 * releasing the layers an image no longer needs. One file per command sits next to it
 * (list, inspect, history, tag, remove, prune, import, load, save), as moby's daemon/images.
 */
import { join } from 'node:path';
import { rm, statfs } from 'node:fs/promises';
import { NotFoundError } from '../../../src/errdefs/errors.js';
import { mkdirs } from '../../../src/fs/mkdirs.js';
import type { ActorLogger, EngineClient } from '../../../src/actor/runtime.js';
import type { ImageSummary } from '../../../src/protocol/types/images.js';
import type { GraphDriver } from '../driver.js';
import type { TaskPool } from '../pool.js';
import { AmbiguousIDError, ImageStore, type ImageRecord } from '../store/images.js';
import { LayerStore, chainIDs, type Layer } from '../store/layers.js';
import { ReferenceStore } from '../store/references.js';
import { familiarString, parseAny, withDefaultTag, type Reference } from '../reference.js';
import { nowRfc3339Nano } from '../../../src/protocol/time.js';

export class ImageService {
  readonly layers: LayerStore;
  readonly images: ImageStore;
  readonly refs: ReferenceStore;

  private constructor(
    readonly dataRoot: string,
    readonly driver: GraphDriver,
    readonly pool: TaskPool,
    readonly engine: EngineClient,
    readonly log: ActorLogger,
  ) {
    const base = join(dataRoot, 'image', driver.name);
    this.layers = new LayerStore(join(base, 'layerdb'), driver);
    this.images = new ImageStore(join(base, 'imagedb'));
    this.refs = new ReferenceStore(join(base, 'repositories.json'));
  }

  /**
   * open loads the stores and finishes what a crash interrupted: temp files go, half-made
   * layers and snapshots go, an image whose load or import never got its tags goes.
   */
  static async open(dataRoot: string, driver: GraphDriver, pool: TaskPool, engine: EngineClient, log: ActorLogger): Promise<ImageService> {
    const s = new ImageService(dataRoot, driver, pool, engine, log);
    await rm(s.tmpRoot, { recursive: true, force: true });
    await mkdirs(s.tmpRoot, 0o700);
    const note = (msg: string) => log.info(msg);
    await s.layers.load(note);
    const pending = await s.images.load(note);
    await s.refs.load((m) => log.warn(m));
    for (const id of pending) {
      if (s.images.get(id) && s.refs.referencesOf(id).length === 0) {
        note(`removing ${id}: its load or import was interrupted`);
        const img = s.images.get(id)!;
        await s.images.delete(id);
        await s.releaseLayers(img);
      } else {
        await s.images.settle(id);
      }
    }
    // Layers no image and no container uses: a load interrupted after some of its layers.
    const keep = new Set<string>();
    const keepChain = (top: string | null) => {
      for (let c = top; c && !keep.has(c); c = s.layers.get(c)?.parent ?? null) keep.add(c);
    };
    for (const img of s.images.list()) keepChain(chainIDs(img.config.rootfs?.diff_ids ?? []).at(-1) ?? null);
    for (const p of await s.layers.mountParents()) keepChain(p);
    for (let removed = true; removed; ) {
      removed = false;
      for (const l of s.layers.list()) {
        if (!keep.has(l.chainID) && !s.layers.hasChildren(l.chainID)) {
          note(`removing the unused layer ${l.chainID}`);
          await s.layers.remove(l.chainID);
          removed = true;
        }
      }
    }
    // An image whose layers are gone cannot be used: drop it (never expected, but cheap to keep true).
    for (const img of s.images.list()) {
      const chain = chainIDs(img.config.rootfs?.diff_ids ?? []);
      if (chain.some((c) => !s.layers.get(c))) {
        note(`removing ${img.id}: a layer of it is missing`);
        await s.images.delete(img.id);
      }
    }
    return s;
  }

  /**
   * spaceLeft is what the data root's filesystem has free: the cap on one layer or archive,
   * so a decompression bomb stops with a clear error before the disk is full.
   */
  async spaceLeft(): Promise<number> {
    const st = await statfs(this.dataRoot);
    return Number(st.bavail) * Number(st.bsize);
  }

  /** Where loads stage archives (<data-root>/tmp, emptied at every start). */
  get tmpRoot(): string {
    return join(this.dataRoot, 'tmp');
  }

  /**
   * resolve finds an image as dockerd's GetImage does: an ID, a reference, or a unique ID prefix.
   * An ambiguous prefix is "No such image", as in dockerd 20.10.
   */
  resolve(name: string): ImageRecord {
    const r = parseAny(name);
    if (r.kind === 'id') {
      const img = this.images.get(r.id);
      if (img) return img;
      throw new NotFoundError(`No such image: ${r.id}`);
    }
    const id = this.refs.get(r.ref.digest ? r.ref : withDefaultTag(r.ref));
    if (id) {
      const img = this.images.get(id);
      if (img) return img;
    }
    try {
      const hit = this.images.search(name);
      if (hit) return this.images.get(hit)!;
    } catch (err) {
      if (!(err instanceof AmbiguousIDError)) throw err;
    }
    throw new NotFoundError(`No such image: ${familiarString(withDefaultTag(r.ref))}`);
  }

  /** The layers of an image, bottom first. */
  chain(img: ImageRecord): Layer[] {
    return chainIDs(img.config.rootfs?.diff_ids ?? []).map((c) => this.layers.get(c)!);
  }

  size(img: ImageRecord): number {
    return this.chain(img).reduce((n, l) => n + (l?.size ?? 0), 0);
  }

  repoTags(id: string): string[] {
    return this.refs.referencesOf(id).filter((r) => !r.digest).map((r) => familiarString(r));
  }

  repoDigests(id: string): string[] {
    return this.refs.referencesOf(id).filter((r) => r.digest).map((r) => familiarString(r));
  }

  /** summary is the /images/json entry of an image (dangling: <none> placeholders, API 1.41). */
  summary(img: ImageRecord): ImageSummary {
    const tags = this.repoTags(img.id);
    const digests = this.repoDigests(img.id);
    const size = this.size(img);
    const dangling = tags.length === 0 && digests.length === 0;
    return {
      Containers: -1,
      Created: Math.floor(Date.parse(img.config.created ?? '1970-01-01T00:00:00Z') / 1000) || 0,
      Id: img.id,
      Labels: img.config.config?.Labels ?? null,
      ParentId: img.parent ?? '',
      RepoDigests: dangling ? ['<none>@<none>'] : digests.length ? digests : null,
      RepoTags: dangling ? ['<none>:<none>'] : tags,
      SharedSize: -1,
      Size: size,
      VirtualSize: size,
    };
  }

  /** event publishes an image event (Attributes: name, plus the image's labels as dockerd adds). */
  async event(action: string, img: ImageRecord | null, name: string, withLabels = true): Promise<void> {
    const attrs: Record<string, string> = withLabels && img ? { ...(img.config.config?.Labels ?? {}) } : {};
    attrs.name = name;
    await this.engine.job('log', { Type: 'image', Action: action, Actor: { ID: img?.id ?? '', Attributes: attrs } }).catch((err) => {
      this.log.warn('could not publish an image event', { error: (err as Error).message });
    });
  }

  /** tag points a reference at an image, records the tag time and says so. */
  async tag(img: ImageRecord, ref: Reference): Promise<string | undefined> {
    const before = await this.refs.add(ref, img.id);
    await this.images.setLastUpdated(img.id, nowRfc3339Nano());
    await this.event('tag', img, familiarString(ref));
    return before;
  }

  /**
   * releaseLayers removes the layers of a deleted image that nothing uses any more (another
   * image's chain, a child layer, a container's layer), top down; it returns the removed
   * chainIDs and the bytes freed.
   */
  async releaseLayers(img: ImageRecord): Promise<{ removed: string[]; bytes: number }> {
    const used = await this.usedChains(img.id);
    const removed: string[] = [];
    let bytes = 0;
    for (const c of chainIDs(img.config.rootfs?.diff_ids ?? []).reverse()) {
      const layer = this.layers.get(c);
      if (!layer || used.has(c) || this.layers.hasChildren(c)) break;
      await this.layers.remove(c);
      removed.push(c);
      bytes += layer.size;
    }
    return { removed, bytes };
  }

  /** Layers jobs in flight count on (a pull between its first layer and its image): chainID → holders. */
  private readonly held = new Map<string, number>();

  /**
   * hold keeps layers from being released while a job that is not done yet counts on them (a
   * pull whose image does not exist yet sits on layers another pull made or found): the returned
   * function lets go (once). Held layers are "used" to releaseLayers and releaseChain.
   */
  hold(chains: string[]): () => void {
    for (const c of chains) this.held.set(c, (this.held.get(c) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const c of chains) {
        const n = (this.held.get(c) ?? 1) - 1;
        if (n > 0) this.held.set(c, n);
        else this.held.delete(c);
      }
    };
  }

  /** Whether a job in flight holds this layer (a pull whose image is not tagged yet). */
  isHeld(chainID: string): boolean {
    return this.held.has(chainID);
  }

  /** The chainIDs something still needs: other images' chains, containers' parents, and layers held by jobs in flight. */
  private async usedChains(exceptImage: string | null): Promise<Set<string>> {
    const used = new Set<string>(this.held.keys());
    for (const other of this.images.list()) {
      if (other.id === exceptImage) continue;
      for (const c of chainIDs(other.config.rootfs?.diff_ids ?? [])) used.add(c);
    }
    for (const p of await this.layers.mountParents()) used.add(p);
    return used;
  }

  /**
   * releaseChain removes, top down from `top`, the layers nothing uses any more: a container
   * removed after its image was force-deleted takes the image's layers with it, as dockerd's
   * reference counts do.
   */
  async releaseChain(top: string): Promise<void> {
    const used = await this.usedChains(null);
    let c: string | null = top;
    while (c) {
      const layer = this.layers.get(c);
      if (!layer || used.has(c) || this.layers.hasChildren(c)) return;
      await this.layers.remove(c);
      c = layer.parent;
    }
  }
}
