/**
 * tar-split: what a layer tarball had besides file contents (headers, padding, trailer), in
 * order, so the tarball can be rebuilt byte for byte from the layer's files — its sha256 must
 * still be the layer's diffID when it is saved or pushed. The format is dockerd's
 * (tar-split.json.gz): gzip'ed JSON lines, type 2 {payload: base64 bytes} for raw segments and
 * type 1 {name, size} for a file's contents, read back from the layer.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { resolveInRootSync } from '../../../src/fs/rootpath.js';

export class TarSplitRecorder {
  private lines: string[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  segment(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.pending.push(Buffer.from(bytes));
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= 1 << 16) this.flush();
  }

  file(name: string, size: number): void {
    this.flush();
    this.lines.push(JSON.stringify({ type: 1, name, size }));
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    this.lines.push(JSON.stringify({ type: 2, payload: Buffer.concat(this.pending).toString('base64') }));
    this.pending = [];
    this.pendingBytes = 0;
  }

  finish(): Buffer {
    this.flush();
    return gzipSync(this.lines.join('\n') + '\n');
  }
}

export class LayerReproductionError extends Error {}

/**
 * reassemble yields the layer's original tarball from its tar-split and files. If `diffID` is
 * given, a mismatch (a file changed since) is an error rather than a silently different layer.
 */
export async function* reassemble(tarSplit: Buffer, root: string, diffID?: string): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  const lines = gunzipSync(tarSplit).toString('utf8').split('\n');
  for (const line of lines) {
    if (!line) continue;
    const rec = JSON.parse(line) as { type: number; payload?: string; name?: string; size?: number };
    if (rec.type === 2) {
      const b = Buffer.from(rec.payload ?? '', 'base64');
      hash.update(b);
      yield b;
      continue;
    }
    // Synchronous reads: this runs in a pool thread, and small files dominate a layer.
    const path = resolveInRootSync(root, rec.name ?? '');
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw new LayerReproductionError(`cannot rebuild the layer: ${rec.name} is missing from it (${(err as NodeJS.ErrnoException).code})`);
    }
    try {
      let left = rec.size ?? 0;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(left, 1 << 20));
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) throw new LayerReproductionError(`cannot rebuild the layer: ${rec.name} is shorter than it was`);
        left -= n;
        const out = n === buf.length ? buf : buf.subarray(0, n);
        hash.update(out);
        yield out;
      }
    } finally {
      closeSync(fd);
    }
  }
  if (diffID && `sha256:${hash.digest('hex')}` !== diffID) {
    throw new LayerReproductionError(`cannot rebuild the layer ${diffID}: its files no longer match`);
  }
}
