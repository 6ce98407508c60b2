/**
 * HEAD and GET /containers/{id}/archive, as dockerd's ContainerStatPath / ContainerArchivePath:
 * the directory part of the path is resolved with every symlink followed (inside the
 * container), the last element is not (a symlink is archived as a symlink; `docker cp -L` asks
 * for its linkTarget instead), "/." archives a directory's contents under ".", and the
 * archive's top entry is the path's base name whatever it resolved to.
 *
 * The tree is read through fds only (ContainerFs): each entry is opened O_PATH|O_NOFOLLOW
 * relative to its directory's fd, a regular file's contents are read through its own
 * /proc/self/fd link (the inode we stat'ed, never a name the container can swap), and devices
 * are never opened. Contents are read with async I/O, so other graph jobs keep running.
 */
import { open } from 'node:fs/promises';
import type { JobContext } from '../../../src/actor/runtime.js';
import { CancelledError } from '../../../src/errdefs/errors.js';
import { native } from '../../../src/native/native.js';
import type { ArchiveRoot, ContainerPathStat } from '../../../src/protocol/types/archive.js';
import type { PortWriter } from '../../../src/protocol/stream.js';
import { formatHeader, padding, type EntryInit } from '../../../src/tar/header.js';
import {
  ContainerFs,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  closeQuietly,
  errnoError,
  fstat,
  listDir,
  type Walk,
} from './containerfs.js';
import { absPath, archiveError, goBase, pathStat, split } from './paths.js';
import { hostIds } from './users.js';

const FRAME = 64 * 1024;

/** locate finds what a HEAD/GET path names: a walk whose top is it (unfollowed), and its stat. */
export function locate(cfs: ContainerFs, path: string): { walk: Walk; stat: ContainerPathStat } {
  const abs = absPath(path);
  const { dir, base } = split(abs);
  const w = cfs.walk(dir, { followFinal: true });
  try {
    if ((fstat(w.top.fd).mode & S_IFMT) !== S_IFDIR) throw errnoError('ENOTDIR', `${abs}: not a directory`);
    if (base !== '' && base !== '.') {
      const f = cfs.child(w, base);
      if (!f) throw errnoError('ENOENT', `${abs}: no such file or directory`);
      w.frames.push(f);
    }
    const st = fstat(w.top.fd);
    const linkTarget = (st.mode & S_IFMT) === S_IFLNK ? cfs.resolvedPath(abs) : '';
    return { walk: w, stat: pathStat(goBase(abs), st, linkTarget) };
  } catch (err) {
    w.close();
    throw err;
  }
}

export async function archiveStat(args: ArchiveRoot): Promise<ContainerPathStat> {
  const cfs = ContainerFs.open(args.rootfs, args.mounts);
  try {
    const { walk, stat } = locate(cfs, args.path);
    walk.close();
    return stat;
  } catch (err) {
    throw archiveError(err, args.path, args.container, absPath(args.path));
  } finally {
    cfs.close();
  }
}

/** TarOut batches headers and contents into frames of up to 64 KiB. */
class TarOut {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly out: PortWriter, private readonly signal: AbortSignal) {}

  async push(b: Buffer): Promise<void> {
    if (this.signal.aborted || this.out.closed.aborted) throw new CancelledError('the client went away');
    this.parts.push(b);
    this.size += b.length;
    if (this.size >= FRAME) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.size === 0) return;
    const b = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    await this.out.write(b);
  }
}

function childName(name: string, child: string): string {
  return name.endsWith('/') ? name + child : `${name}/${child}`;
}

async function writeContents(fd: number, size: number, out: TarOut): Promise<void> {
  const fh = await open(`/proc/self/fd/${fd}`, 'r');
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(left, FRAME));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead <= 0) break;
      left -= bytesRead;
      await out.push(buf.subarray(0, bytesRead));
    }
    // A file that shrank while it was read: the header's size holds, so zeros fill it (as Go's
    // tar writer would refuse to; an archive cut short would be worse).
    if (left > 0) await out.push(Buffer.alloc(left));
  } finally {
    await fh.close();
  }
  await out.push(Buffer.alloc(padding(size)));
}

/** writeTree archives the walk's top under `name`, and a directory's entries below it, sorted. */
async function writeTree(cfs: ContainerFs, w: Walk, name: string, out: TarOut, seen: Map<string, string>): Promise<void> {
  const fd = w.top.fd;
  const st = fstat(fd);
  const ids = hostIds();
  const e: EntryInit = {
    name,
    type: 'file',
    mode: st.mode & (S_IFMT | 0o7777),
    uid: st.uid,
    gid: st.gid,
    mtime: st.mtimeSec,
    uname: ids.users.get(st.uid) ?? '',
    gname: ids.groups.get(st.gid) ?? '',
  };
  switch (st.mode & S_IFMT) {
    case S_IFDIR: {
      await out.push(formatHeader({ ...e, name: name.endsWith('/') ? name : name + '/', type: 'dir' }));
      for (const child of listDir(fd)) {
        const f = cfs.child(w, child);
        if (!f) continue; // gone since the listing
        w.frames.push(f);
        try {
          await writeTree(cfs, w, childName(name, child), out, seen);
        } finally {
          w.frames.pop();
          closeQuietly(f.fd);
        }
      }
      return;
    }
    case S_IFREG: {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = seen.get(key);
        if (first !== undefined) {
          await out.push(formatHeader({ ...e, type: 'link', linkname: first, size: 0 }));
          return;
        }
        seen.set(key, name);
      }
      await out.push(formatHeader({ ...e, type: 'file', size: st.size }));
      await writeContents(fd, st.size, out);
      return;
    }
    case S_IFLNK:
      await out.push(formatHeader({ ...e, type: 'symlink', linkname: native().readlinkat(fd, '') }));
      return;
    case S_IFIFO:
      await out.push(formatHeader({ ...e, type: 'fifo' }));
      return;
    case S_IFCHR:
    case S_IFBLK:
      await out.push(formatHeader({ ...e, type: (st.mode & S_IFMT) === S_IFCHR ? 'char' : 'block', devmajor: st.rdevMajor, devminor: st.rdevMinor }));
      return;
    default:
      return; // sockets are not archived (pkg/archive skips them)
  }
}

/**
 * archiveGet writes the stat (JSON) as the stream's first frame, for the API's
 * X-Docker-Container-Path-Stat header, then the tar. Errors before the first frame are
 * dockerd's answers (404 …); after it, the stream is cut.
 */
export async function archiveGet(args: ArchiveRoot, ctx: JobContext): Promise<void> {
  const cfs = ContainerFs.open(args.rootfs, args.mounts);
  try {
    let found;
    try {
      found = locate(cfs, args.path);
    } catch (err) {
      throw archiveError(err, args.path, args.container, absPath(args.path));
    }
    const { walk, stat } = found;
    try {
      const writer = ctx.stdout!;
      await writer.write(JSON.stringify(stat));
      const out = new TarOut(writer, ctx.signal);
      await writeTree(cfs, walk, stat.name, out, new Map());
      await out.push(Buffer.alloc(1024)); // end of archive: two zero blocks, as Go's tar writer
      await out.flush();
    } finally {
      walk.close();
    }
  } finally {
    cfs.close();
  }
}
