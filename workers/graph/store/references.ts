/**
 * The reference store: every tag and digest reference and the image it names, in one file
 * (image/<driver>/repositories.json, dockerd's format):
 *   {"Repositories":{"bb":{"bb:latest":"sha256:…","bb@sha256:…":"sha256:…"}}}
 * Names in the file are familiar ("bb", "127.0.0.1:5000/x"), as dockerd writes them. Every
 * change rewrites the file atomically.
 */
import { readFile } from 'node:fs/promises';
import { atomicWriteFile } from '../../../src/fs/atomic.js';
import { ConflictError } from '../../../src/errdefs/errors.js';
import { familiarName, familiarString, parseNormalized, type Reference } from '../reference.js';

/** key is the normalized form a reference is stored under. */
export function refKey(r: Reference): string {
  return r.digest ? `${r.name}@${r.digest}` : `${r.name}:${r.tag ?? 'latest'}`;
}

export class ReferenceStore {
  private readonly refs = new Map<string, { ref: Reference; id: string }>();

  constructor(private readonly file: string) {}

  /**
   * load reads the file. An entry that is no reference (or names no image ID) is skipped with a
   * warning, as dockerd's reload does: one bad entry must not keep the daemon from starting.
   */
  async load(warn: (msg: string) => void = (m) => console.warn(m)): Promise<void> {
    const text = await readFile(this.file, 'utf8').catch(() => null);
    if (!text) return;
    const doc = JSON.parse(text) as { Repositories?: Record<string, Record<string, unknown>> };
    for (const repo of Object.values(doc.Repositories ?? {})) {
      if (!repo || typeof repo !== 'object') continue;
      for (const [s, id] of Object.entries(repo)) {
        let ref: Reference;
        try {
          ref = parseNormalized(s);
          if (typeof id !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(id)) throw new Error(`invalid image ID ${JSON.stringify(id)}`);
        } catch (err) {
          warn(`${this.file}: skipping the reference ${JSON.stringify(s)}: ${(err as Error).message}`);
          continue;
        }
        this.refs.set(refKey(ref), { ref, id });
      }
    }
  }

  private async save(): Promise<void> {
    const repos: Record<string, Record<string, string>> = {};
    for (const { ref, id } of this.refs.values()) {
      (repos[familiarName(ref.name)] ??= {})[familiarString(ref)] = id;
    }
    await atomicWriteFile(this.file, JSON.stringify({ Repositories: repos }), 0o600);
  }

  get(ref: Reference): string | undefined {
    return this.refs.get(refKey(ref))?.id;
  }

  /**
   * add points a reference at an image. A tag moves (as `docker tag` does); a digest reference
   * cannot be pointed elsewhere. Returns the image the tag named before, if another.
   */
  async add(ref: Reference, id: string): Promise<string | undefined> {
    const key = refKey(ref);
    const before = this.refs.get(key)?.id;
    if (before === id) return undefined;
    if (ref.digest && before) throw new ConflictError(`Cannot overwrite digest ${ref.digest}`);
    this.refs.set(key, { ref, id });
    await this.save();
    return before;
  }

  async delete(ref: Reference): Promise<boolean> {
    const had = this.refs.delete(refKey(ref));
    if (had) await this.save();
    return had;
  }

  /** referencesOf lists an image's references, sorted as dockerd sorts them (by string). */
  referencesOf(id: string): Reference[] {
    return [...this.refs.values()]
      .filter((r) => r.id === id)
      .map((r) => r.ref)
      .sort((a, b) => (familiarString(a) < familiarString(b) ? -1 : 1));
  }

  all(): Array<{ ref: Reference; id: string }> {
    return [...this.refs.values()];
  }
}
