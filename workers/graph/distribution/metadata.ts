/**
 * dockerd's v2 metadata (distribution/metadata), in its layout under
 * <data-root>/image/<driver>/distribution/:
 *
 *   diffid-by-digest/sha256/<blob hex>       the diffID of a compressed blob seen on a registry
 *   v2metadata-by-diffid/sha256/<diffID hex> [{"Digest","SourceRepository","HMAC"}]: where a layer
 *                                            is known to live (which blob, in which repository)
 *
 * A push reads it to say "Layer already exists" without uploading, or to mount a blob from
 * another repository of the same registry; a pull writes it. Entries are hints: a wrong one costs
 * a HEAD that answers 404, never a wrong layer. Every write is atomic.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile } from '../../../src/fs/atomic.js';
import { mkdirs } from '../../../src/fs/mkdirs.js';

export interface V2Metadata {
  Digest: string;
  /** The normalized repository name: "127.0.0.1:5000/x", "docker.io/library/busybox". */
  SourceRepository: string;
  HMAC: string;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const isDigest = (d: unknown): d is string => typeof d === 'string' && DIGEST.test(d);
/** The file name of a digest: only ever 64 hex characters (a registry's digest must not name a path). */
const hex = (d: string) => {
  if (!isDigest(d)) throw new Error(`invalid digest ${JSON.stringify(d)}: invalid checksum digest format`);
  return d.slice('sha256:'.length);
};
const MAX_ENTRIES = 50;

export class V2MetadataStore {
  constructor(private readonly root: string) {}

  private byDigest(digest: string) {
    return join(this.root, 'diffid-by-digest', 'sha256', hex(digest));
  }

  private byDiffID(diffID: string) {
    return join(this.root, 'v2metadata-by-diffid', 'sha256', hex(diffID));
  }

  async init(): Promise<void> {
    await mkdirs(join(this.root, 'diffid-by-digest', 'sha256'), 0o700);
    await mkdirs(join(this.root, 'v2metadata-by-diffid', 'sha256'), 0o700);
  }

  /** diffID of a blob, if a pull or push has seen it. */
  async diffID(digest: string): Promise<string | null> {
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) return null;
    const text = await readFile(this.byDigest(digest), 'utf8').catch(() => '');
    return /^sha256:[a-f0-9]{64}$/.test(text.trim()) ? text.trim() : null;
  }

  async list(diffID: string): Promise<V2Metadata[]> {
    if (!isDigest(diffID)) return [];
    const text = await readFile(this.byDiffID(diffID), 'utf8').catch(() => '');
    if (!text) return [];
    try {
      const doc = JSON.parse(text) as V2Metadata[];
      return Array.isArray(doc) ? doc.filter((m) => isDigest(m?.Digest) && typeof m?.SourceRepository === 'string') : [];
    } catch {
      return [];
    }
  }

  /** add records that `diffID`'s blob `digest` is in `repository` (most recent last, as dockerd). */
  async add(diffID: string, digest: string, repository: string): Promise<void> {
    // Both name files: refuse anything but sha256:<hex> before a path is made of them.
    const files = [this.byDigest(digest), this.byDiffID(diffID)] as const;
    await this.init();
    await atomicWriteFile(files[0], diffID);
    const list = (await this.list(diffID)).filter((m) => !(m.Digest === digest && m.SourceRepository === repository));
    list.push({ Digest: digest, SourceRepository: repository, HMAC: '' });
    await atomicWriteFile(files[1], JSON.stringify(list.slice(-MAX_ENTRIES)));
  }

  /** remove forgets one entry (a blob the registry no longer has). */
  async remove(diffID: string, digest: string, repository: string): Promise<void> {
    if (!isDigest(diffID) || !isDigest(digest)) return;
    const list = await this.list(diffID);
    const next = list.filter((m) => !(m.Digest === digest && m.SourceRepository === repository));
    if (next.length !== list.length) await atomicWriteFile(this.byDiffID(diffID), JSON.stringify(next));
  }
}
