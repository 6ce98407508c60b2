/**
 * applyLayer extracts one uncompressed layer tarball into a layer directory, safely, and
 * returns its diffID (the sha256 of the tarball), its size and its tar-split.
 *
 * Two formats, as the drivers store layers:
 *   overlay  the layer's own directory (an overlayfs upper): a whiteout ".wh.x" becomes a
 *            0/0 character device x, an opaque marker ".wh..wh..opq" the xattr
 *            trusted.overlay.opaque=y on its directory;
 *   naive    a full copy of the parent (vfs): whiteouts delete, an opaque marker empties the
 *            directory of what the parent had there.
 *
 * Safety (reliability-anchors.md, tar and layer cases): names are cleaned and resolved inside
 * the root (rootpath.ts), so absolute names, "..", symlink-then-write and hardlinks to paths
 * outside cannot reach the host; device nodes are not created (the runtime provides /dev);
 * only user.* and security.capability xattrs are kept (trusted.overlay.* from a tarball could
 * steer overlayfs). A layer past `maxBytes` stops with an error; the caller removes the
 * directory on any error, so nothing half-made remains.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { native } from '../../../src/native/native.js';
import { readTar } from '../../../src/tar/reader.js';
import { cleanName, resolveInRootSync } from '../../../src/fs/rootpath.js';
import { TarSplitRecorder } from './tarsplit.js';

const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

export type LayerFormat = 'overlay' | 'naive';

export interface ApplyOptions {
  root: string;
  format: LayerFormat;
  /** Refuse layers larger than this (uncompressed bytes). */
  maxBytes?: number;
  /** Called with the uncompressed bytes read so far. */
  onProgress?: (bytes: number) => void;
}

export interface ApplyResult {
  diffID: string;
  /** Bytes of file contents in the layer (dockerd's layer size). */
  size: number;
  tarSplit: Buffer;
  /** Entries not created (device nodes), by name. */
  skipped: string[];
}

export class LayerTooLargeError extends Error {}

function keepXattr(name: string): boolean {
  return name.startsWith('user.') || name === 'security.capability';
}

function exists(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

export async function applyLayer(tar: AsyncIterable<Buffer>, opts: ApplyOptions): Promise<ApplyResult> {
  const { root, format } = opts;
  const hash = createHash('sha256');
  let total = 0;
  const max = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const c of tar) {
      total += c.length;
      if (total > max) throw new LayerTooLargeError(`the layer does not fit: it is larger than the ${max} bytes the data root has free`);
      hash.update(c);
      opts.onProgress?.(total);
      yield c;
    }
  }

  const split = new TarSplitRecorder();
  const created = new Set<string>();
  const dirTimes: Array<[string, number]> = [];
  const skipped: string[] = [];
  let size = 0;

  // The stream is read asynchronously; each entry is written with synchronous calls. This runs
  // in a pool thread that does nothing else, and a small file costs a fraction of what it would
  // with a thread-pool round trip per system call.
  for await (const entry of readTar(counted(), { onSegment: (b) => split.segment(b) })) {
    const h = entry.header;
    const parts = cleanName(h.name);
    if (parts.length === 0) {
      await entry.skip();
      continue;
    }
    const base = parts[parts.length - 1]!;
    const rel = parts.join('/');

    if (base.startsWith(WHITEOUT)) {
      if (h.size > 0) throw new Error(`invalid whiteout ${h.name}: it has contents`);
      await entry.skip();
      const dir = resolveInRootSync(root, parts.slice(0, -1), { createParents: true, followFinal: true });
      if (!exists(dir)) {
        // Nothing below to hide (naive), but overlay needs the directory to carry the marker.
        if (format === 'naive') continue;
        mkdirSync(dir, { mode: 0o755 });
      }
      if (base === OPAQUE) {
        if (format === 'overlay') {
          native().lsetxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
        } else {
          const prefix = parts.slice(0, -1).join('/');
          for (const child of readdirSync(dir)) {
            if (!created.has(prefix ? `${prefix}/${child}` : child)) rmSync(join(dir, child), { recursive: true, force: true });
          }
        }
      } else if (!base.startsWith('.wh..wh.')) {
        const victim = join(dir, base.slice(WHITEOUT.length));
        rmSync(victim, { recursive: true, force: true });
        if (format === 'overlay') native().mknod(victim, S_IFCHR, 0, 0);
      }
      continue;
    }

    const target = resolveInRootSync(root, parts, { createParents: true });
    const existing = exists(target);
    if (existing && !(existing.isDirectory() && h.type === 'dir')) rmSync(target, { recursive: true, force: true });

    switch (h.type) {
      case 'dir':
        if (!existing?.isDirectory()) mkdirSync(target, { mode: 0o700 });
        dirTimes.push([target, h.mtime]);
        break;
      case 'file': {
        if (h.size > 0) split.file(h.name, h.size);
        const fd = openSync(target, 'wx', 0o600);
        try {
          for await (const chunk of entry.body) writeSync(fd, chunk);
        } finally {
          closeSync(fd);
        }
        size += h.size;
        break;
      }
      case 'symlink':
        symlinkSync(h.linkname, target);
        break;
      case 'link': {
        let source: string | null = null;
        try {
          source = resolveInRootSync(root, h.linkname);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EBREAKOUT') throw err;
          // a path through something missing: there is no such entry
        }
        if (!source || !exists(source)) throw new Error(`invalid hardlink ${h.name} -> ${h.linkname}: no such entry in the layer`);
        linkSync(source, target);
        created.add(rel);
        continue; // a hardlink shares its target's metadata
      }
      case 'fifo':
        native().mknod(target, S_IFIFO | (h.mode & 0o7777), 0, 0);
        break;
      case 'char':
      case 'block':
        skipped.push(h.name);
        continue;
      default:
        await entry.skip();
        continue;
    }
    created.add(rel);

    // Owner first: chown clears setuid/setgid, so the mode comes after it.
    lchownSync(target, h.uid, h.gid);
    if (h.type !== 'symlink') chmodSync(target, h.mode & 0o7777);
    for (const [name, value] of Object.entries(h.xattrs)) {
      if (keepXattr(name)) native().lsetxattr(target, name, value);
    }
    if (h.type !== 'dir') lutimesSync(target, h.mtime, h.mtime);
  }
  // Directory times last: writing into a directory changes its mtime.
  for (const [dir, mtime] of dirTimes.reverse()) utimesSync(dir, mtime, mtime);
  return { diffID: `sha256:${hash.digest('hex')}`, size, tarSplit: split.finish(), skipped };
}
