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
import { createWriteStream } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, readdir, rm, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { native } from '../../../src/native/native.js';
import { readTar } from '../../../src/tar/reader.js';
import { cleanName, resolveInRoot } from './rootpath.js';
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

async function exists(path: string) {
  return lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
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
      const dir = await resolveInRoot(root, parts.slice(0, -1), { createParents: true, followFinal: true });
      if (!(await exists(dir))) {
        // Nothing below to hide (naive), but overlay needs the directory to carry the marker.
        if (format === 'naive') continue;
        await mkdir(dir, { mode: 0o755 });
      }
      if (base === OPAQUE) {
        if (format === 'overlay') {
          native().lsetxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
        } else {
          const prefix = parts.slice(0, -1).join('/');
          for (const child of await readdir(dir)) {
            if (!created.has(prefix ? `${prefix}/${child}` : child)) await rm(join(dir, child), { recursive: true, force: true });
          }
        }
      } else if (!base.startsWith('.wh..wh.')) {
        const victim = join(dir, base.slice(WHITEOUT.length));
        await rm(victim, { recursive: true, force: true });
        if (format === 'overlay') native().mknod(victim, S_IFCHR, 0, 0);
      }
      continue;
    }

    const target = await resolveInRoot(root, parts, { createParents: true });
    const existing = await exists(target);
    if (existing && !(existing.isDirectory() && h.type === 'dir')) await rm(target, { recursive: true, force: true });

    switch (h.type) {
      case 'dir':
        if (!existing?.isDirectory()) await mkdir(target, { mode: 0o700 });
        dirTimes.push([target, h.mtime]);
        break;
      case 'file':
        if (h.size > 0) split.file(h.name, h.size);
        await pipeline(Readable.from(entry.body), createWriteStream(target, { flags: 'wx', mode: 0o600 }));
        size += h.size;
        break;
      case 'symlink':
        await symlink(h.linkname, target);
        break;
      case 'link': {
        const source = await resolveInRoot(root, h.linkname).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'EBREAKOUT') throw err;
          return null; // a path through something missing: there is no such entry
        });
        if (!source || !(await exists(source))) throw new Error(`invalid hardlink ${h.name} -> ${h.linkname}: no such entry in the layer`);
        await link(source, target);
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
    await lchown(target, h.uid, h.gid);
    if (h.type !== 'symlink') await chmod(target, h.mode & 0o7777);
    for (const [name, value] of Object.entries(h.xattrs)) {
      if (keepXattr(name)) native().lsetxattr(target, name, value);
    }
    if (h.type !== 'dir') await lutimes(target, h.mtime, h.mtime);
  }
  // Directory times last: writing into a directory changes its mtime.
  for (const [dir, mtime] of dirTimes.reverse()) await utimes(dir, mtime, mtime);
  return { diffID: `sha256:${hash.digest('hex')}`, size, tarSplit: split.finish(), skipped };
}
