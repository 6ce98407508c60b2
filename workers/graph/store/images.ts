/**
 * The image store, as dockerd's imagedb (image/<driver>/imagedb):
 *
 *   content/sha256/<id>                 the image config, exactly as received; id = its sha256
 *   metadata/sha256/<id>/lastUpdated    when a tag last changed (RFC 3339)
 *   metadata/sha256/<id>/parent         the parent image (commit/build)
 *   pending/<id>                        an image being loaded or imported, not yet tagged
 *
 * A config is written only after all its layers are published; a load or import marks its new
 * image pending until the tags are stored, so an interrupted one is removed at the next start
 * instead of lingering untagged.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile } from '../../../src/fs/atomic.js';
import { mkdirs } from '../../../src/fs/mkdirs.js';

/** The image config, as the image spec and dockerd define it (the fields berth reads). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  author?: string;
  comment?: string;
  container?: string;
  container_config?: Record<string, unknown>;
  docker_version?: string;
  config?: ContainerConfig;
  rootfs: { type: string; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }>;
}

/** The part of a container config an image carries (Config in the API). */
export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Image?: string;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  OnBuild?: string[] | null;
  Labels?: Record<string, string> | null;
  [key: string]: unknown;
}

export interface ImageRecord {
  id: string;
  config: ImageConfig;
  raw: Buffer;
  parent: string | null;
  lastUpdated: string | null;
}

export class AmbiguousIDError extends Error {}

const hex = (id: string) => id.replace(/^sha256:/, '');

export function imageID(raw: Buffer): string {
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

export class ImageStore {
  private readonly images = new Map<string, ImageRecord>();

  constructor(private readonly root: string) {}

  private content(id: string) {
    return join(this.root, 'content', 'sha256', hex(id));
  }

  private meta(id: string) {
    return join(this.root, 'metadata', 'sha256', hex(id));
  }

  /** load reads every config; one that does not hash to its name, or does not parse, is dropped. */
  async load(log: (msg: string) => void): Promise<string[]> {
    await mkdirs(join(this.root, 'content', 'sha256'), 0o700);
    await mkdirs(join(this.root, 'metadata', 'sha256'), 0o700);
    await mkdirs(join(this.root, 'pending'), 0o700);
    for (const name of await readdir(join(this.root, 'content', 'sha256'))) {
      const id = `sha256:${name}`;
      try {
        const raw = await readFile(this.content(id));
        if (imageID(raw) !== id) throw new Error('content does not match its digest');
        const config = JSON.parse(raw.toString('utf8')) as ImageConfig;
        const parent = (await readFile(join(this.meta(id), 'parent'), 'utf8').catch(() => '')).trim() || null;
        const lastUpdated = (await readFile(join(this.meta(id), 'lastUpdated'), 'utf8').catch(() => '')).trim() || null;
        this.images.set(id, { id, config, raw, parent, lastUpdated });
      } catch (err) {
        log(`removing the unreadable image ${id}: ${(err as Error).message}`);
        await this.delete(id);
      }
    }
    return (await readdir(join(this.root, 'pending'))).map((n) => `sha256:${n}`);
  }

  get(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }

  list(): ImageRecord[] {
    return [...this.images.values()];
  }

  /** search finds an image by an ID prefix (with or without sha256:); null if none. */
  search(prefix: string): string | null {
    const p = prefix.replace(/^sha256:/, '');
    if (!/^[a-f0-9]+$/.test(p)) return null;
    const hits = [...this.images.keys()].filter((id) => hex(id).startsWith(p));
    if (hits.length > 1) throw new AmbiguousIDError(`multiple IDs found with provided prefix: ${prefix}`);
    return hits[0] ?? null;
  }

  /** create stores a config (if new); `pending` marks it until its tags are stored. */
  async create(raw: Buffer, pending: boolean): Promise<{ image: ImageRecord; existed: boolean }> {
    const id = imageID(raw);
    const existing = this.images.get(id);
    if (existing) return { image: existing, existed: true };
    const config = JSON.parse(raw.toString('utf8')) as ImageConfig;
    if (pending) await writeFile(join(this.root, 'pending', hex(id)), '');
    await atomicWriteFile(this.content(id), raw, 0o600);
    const image: ImageRecord = { id, config, raw, parent: null, lastUpdated: null };
    this.images.set(id, image);
    return { image, existed: false };
  }

  /** settle clears an image's pending mark: its load or import finished. */
  async settle(id: string): Promise<void> {
    await unlink(join(this.root, 'pending', hex(id))).catch(() => {});
  }

  async setLastUpdated(id: string, when: string): Promise<void> {
    const img = this.images.get(id);
    if (!img) return;
    await mkdirs(this.meta(id), 0o700);
    await atomicWriteFile(join(this.meta(id), 'lastUpdated'), when);
    img.lastUpdated = when;
  }

  async setParent(id: string, parent: string): Promise<void> {
    const img = this.images.get(id);
    if (!img) return;
    await mkdirs(this.meta(id), 0o700);
    await atomicWriteFile(join(this.meta(id), 'parent'), parent);
    img.parent = parent;
  }

  /** children are the images whose parent is `id`. */
  children(id: string): string[] {
    return [...this.images.values()].filter((i) => i.parent === id).map((i) => i.id);
  }

  async delete(id: string): Promise<void> {
    this.images.delete(id);
    await rm(this.content(id), { force: true });
    await rm(this.meta(id), { recursive: true, force: true });
    await this.settle(id);
  }
}
