/**
 * PUT /containers/{id}/archive: extract a tar into a directory of the container, as dockerd's
 * ContainerExtractToDir (and pkg/archive's Unpack in its chroot) does:
 *  - the destination is the path with every symlink followed; it must exist (404) and be a
 *    directory ("extraction point is not a directory"); a read-only root filesystem or volume
 *    refuses ("container rootfs is marked read-only", "mounted volume is marked read-only");
 *  - entries land relative to it (absolute names too); symlinks in their parents are followed
 *    inside the container, missing parents made 0755; an existing entry is replaced unless both
 *    are directories, or noOverwriteDirNonDir refuses with dockerd's message;
 *  - owners are the tar's, or the container user's with copyUIDGID; then mode, then times
 *    (directories' last);
 *  - the body may be gzip, bzip2, xz or zstd: decompressed here, on the host side.
 *
 * Safety: the container may be running and racing us. Every name is created and changed
 * relative to the fd of its parent directory (reached through ContainerFs), with O_EXCL /
 * O_NOFOLLOW / AT_SYMLINK_NOFOLLOW, and contents, owners and modes are set on the created
 * file's own fd: a name swapped for a symlink can make an entry fail, never land outside.
 */
import { chmodSync, fchmodSync, futimesSync, write as writeCb } from 'node:fs';
import { posix } from 'node:path';
import { promisify } from 'node:util';
import type { JobContext } from '../../../src/actor/runtime.js';
import { BerthError, InvalidParameterError, SystemError } from '../../../src/errdefs/errors.js';
import { AT, native } from '../../../src/native/native.js';
import type { ArchiveMount, ArchivePutArgs } from '../../../src/protocol/types/archive.js';
import { TarFormatError } from '../../../src/tar/header.js';
import { readTar, type TarEntry } from '../../../src/tar/reader.js';
import { decompress } from '../layer/compression.js';
import {
  ContainerFs,
  IN_ROOT,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  O_WRONLY,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFMT,
  closeQuietly,
  errnoError,
  fstat,
  listDir,
  type Frame,
  type Walk,
} from './containerfs.js';
import { absPath, archiveError } from './paths.js';
import { containerUser } from './users.js';

const write = promisify(writeCb);

export const ROOTFS_READONLY = 'container rootfs is marked read-only';
export const VOLUME_READONLY = 'mounted volume is marked read-only';

/** The error dockerd gives for anything that fails while unpacking (its re-exec'd child's status). */
class TarProcessingError extends SystemError {
  constructor(message: string) {
    super(`Error processing tar file(exit status 1): ${message}`);
  }
}

/** writable refuses a write into a read-only root filesystem or mount. */
function checkWritable(mount: ArchiveMount | null, readonlyRootfs: boolean): void {
  if (mount ? !mount.rw : readonlyRootfs) throw new SystemError(mount ? VOLUME_READONLY : ROOTFS_READONLY);
}

/** removeAt removes a name of a directory fd, recursively, never following a symlink. */
function removeAt(dirfd: number, name: string): void {
  const st = native().fstatat(dirfd, name, AT.SYMLINK_NOFOLLOW);
  if (!st) return;
  if ((st.mode & S_IFMT) === S_IFDIR) {
    const fd = native().openat2(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0, IN_ROOT);
    try {
      for (const child of listDir(fd)) removeAt(fd, child);
    } finally {
      closeQuietly(fd);
    }
    native().unlinkat(dirfd, name, AT.REMOVEDIR);
  } else {
    native().unlinkat(dirfd, name, 0);
  }
}

/** Go's filepath.Clean of a relative name. */
function cleanRel(name: string): string {
  return posix.normalize(name).replace(/(.)\/+$/, '$1');
}

interface Extraction {
  cfs: ContainerFs;
  dest: Walk;
  /** The destination's container path (symlinks resolved): the chroot's extractDir. */
  destPath: string;
  readonlyRootfs: boolean;
  noOverwriteDirNonDir: boolean;
  owner: { uid: number; gid: number } | null;
  dirTimes: Array<{ path: string; mtime: number }>;
}

/** Parent directories of entries, kept open while a tar fills one directory after another. */
class ParentCache {
  private readonly map = new Map<string, Walk>();

  get(x: Extraction, rel: string): Walk {
    const hit = this.map.get(rel);
    if (hit) return hit;
    const w = x.cfs.walk(rel, {
      followFinal: true,
      mkdirMissing: (frame: Frame, path: string) => {
        checkWritable(frame.mount, x.readonlyRootfs);
        try {
          native().mkdirat(frame.fd, posix.basename(path), 0o755);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      },
    }, x.dest);
    if ((fstat(w.top.fd).mode & S_IFMT) !== S_IFDIR) {
      w.close();
      throw errnoError('ENOTDIR', `${posix.join(x.destPath, rel)}: not a directory`);
    }
    this.map.set(rel, w);
    return w;
  }

  /** trim closes the cache when it is full; called between entries, so no walk in use is closed. */
  trim(): void {
    if (this.map.size >= 32) this.clear();
  }

  /** Forget every cached parent under rel (it was replaced). */
  invalidate(rel: string): void {
    for (const [k, w] of this.map) {
      if (k === rel || k.startsWith(rel + '/') || rel === '.') {
        w.close();
        this.map.delete(k);
      }
    }
  }

  clear(): void {
    for (const w of this.map.values()) w.close();
    this.map.clear();
  }
}

async function extractEntry(x: Extraction, entry: TarEntry, parents: ParentCache): Promise<void> {
  const h = entry.header;
  const name = cleanRel(h.name.replace(/^\/+/, '') || '.');
  // pkg/archive: names are joined to the destination, and one that climbs out of it is refused.
  const path = posix.join(x.destPath, name);
  const rel = posix.relative(x.destPath, path);
  if (rel === '..' || rel.startsWith('../')) throw new TarProcessingError(`${JSON.stringify(h.name)} is outside of ${JSON.stringify(x.destPath)}`);
  if (name.startsWith('.wh..wh.')) return; // AUFS metadata, skipped as pkg/archive does
  const isDir = h.type === 'dir';
  if (name === '.') {
    if (!isDir && x.noOverwriteDirNonDir) throw new TarProcessingError(`cannot overwrite directory ${JSON.stringify(path)} with non-directory ${JSON.stringify(x.destPath)}`);
    return; // the destination itself exists: nothing to make
  }
  if (!['file', 'dir', 'symlink', 'link', 'fifo', 'char', 'block'].includes(h.type)) return;

  const parentRel = posix.dirname(name);
  const base = posix.basename(name);
  parents.trim();
  const parent = parents.get(x, parentRel);
  const pfd = parent.top.fd;
  checkWritable(parent.top.mount, x.readonlyRootfs);

  const existing = native().fstatat(pfd, base, AT.SYMLINK_NOFOLLOW);
  if (existing) {
    const exDir = (existing.mode & S_IFMT) === S_IFDIR;
    if (x.noOverwriteDirNonDir && exDir && !isDir) throw new TarProcessingError(`cannot overwrite directory ${JSON.stringify(path)} with non-directory ${JSON.stringify(x.destPath)}`);
    if (x.noOverwriteDirNonDir && !exDir && isDir) throw new TarProcessingError(`cannot overwrite non-directory ${JSON.stringify(path)} with directory ${JSON.stringify(x.destPath)}`);
    if (!(exDir && isDir)) {
      // A volume's or bind's destination (or a directory holding one) is busy, as it is for
      // dockerd, which has them mounted: replacing it would take the mount from the container.
      const cpath = posix.join(parent.path, base);
      if (x.cfs.mountAtOrUnder(cpath)) throw errnoError('EBUSY', `unlinkat ${cpath}: device or resource busy`);
      parents.invalidate(name);
      removeAt(pfd, base);
    }
  }
  const uid = x.owner?.uid ?? h.uid;
  const gid = x.owner?.gid ?? h.gid;
  const mode = h.mode & 0o7777;

  switch (h.type) {
    case 'dir': {
      if (!existing || (existing.mode & S_IFMT) !== S_IFDIR) native().mkdirat(pfd, base, mode & 0o777);
      const fd = native().openat2(pfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0, IN_ROOT);
      try {
        // Owner first: chown clears setuid/setgid, so the mode comes after it.
        native().fchownat(fd, '', uid, gid, AT.EMPTY_PATH);
        chmodFd(fd, mode);
      } finally {
        closeQuietly(fd);
      }
      x.dirTimes.push({ path: name, mtime: h.mtime });
      return;
    }
    case 'file': {
      let fd: number;
      try {
        fd = native().openat2(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600, IN_ROOT);
      } catch (err) {
        // Made again by the container since we removed it: once more, then give up.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        removeAt(pfd, base);
        fd = native().openat2(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600, IN_ROOT);
      }
      try {
        for await (const chunk of entry.body) {
          let off = 0;
          while (off < chunk.length) off += (await write(fd, chunk, off, chunk.length - off)).bytesWritten;
        }
        native().fchownat(fd, '', uid, gid, AT.EMPTY_PATH);
        fchmodSync(fd, mode);
        futimesSync(fd, h.mtime, h.mtime);
      } finally {
        closeQuietly(fd);
      }
      return;
    }
    case 'symlink': {
      // pkg/archive: a link that would point above the destination (relatively) is refused.
      const target = posix.join(posix.dirname(path), h.linkname);
      if (!target.startsWith(x.destPath)) throw new TarProcessingError(`invalid symlink ${JSON.stringify(path)} -> ${JSON.stringify(h.linkname)}`);
      native().symlinkat(h.linkname, pfd, base);
      native().fchownat(pfd, base, uid, gid, AT.SYMLINK_NOFOLLOW);
      native().utimensat(pfd, base, h.mtime, 0, h.mtime, 0, AT.SYMLINK_NOFOLLOW);
      return;
    }
    case 'link': {
      const targetPath = posix.join(x.destPath, h.linkname);
      if (!targetPath.startsWith(x.destPath)) throw new TarProcessingError(`invalid hardlink ${JSON.stringify(targetPath)} -> ${JSON.stringify(h.linkname)}`);
      const trel = posix.relative(x.destPath, targetPath) || '.';
      const tparent = parents.get(x, posix.dirname(trel));
      checkWritable(tparent.top.mount, x.readonlyRootfs);
      try {
        native().linkat(tparent.top.fd, posix.basename(trel), pfd, base, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EXDEV') throw new TarProcessingError(`invalid hardlink ${JSON.stringify(path)} -> ${JSON.stringify(h.linkname)}: across mounts`);
        throw err;
      }
      return;
    }
    case 'fifo':
    case 'char':
    case 'block': {
      const type = h.type === 'fifo' ? S_IFIFO : h.type === 'char' ? S_IFCHR : S_IFBLK;
      native().mknodat(pfd, base, type | (mode & 0o777), h.devmajor, h.devminor);
      native().fchownat(pfd, base, uid, gid, AT.SYMLINK_NOFOLLOW);
      const nfd = native().openat2(pfd, base, O_PATH | O_NOFOLLOW, 0, IN_ROOT);
      try {
        chmodFd(nfd, mode);
      } finally {
        closeQuietly(nfd);
      }
      native().utimensat(pfd, base, h.mtime, 0, h.mtime, 0, AT.SYMLINK_NOFOLLOW);
      return;
    }
  }
}

/**
 * chmodFd sets the mode of what an O_PATH fd names: fchmodat2(AT_EMPTY_PATH) where the kernel
 * has it (6.6+), else chmod through /proc/self/fd/N, which acts on that same inode (the fd was
 * opened without following a symlink, so no path is resolved again).
 */
function chmodFd(fd: number, mode: number): void {
  try {
    native().fchmodat(fd, '', mode, AT.EMPTY_PATH);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSYS') throw err;
    chmodSync(`/proc/self/fd/${fd}`, mode);
  }
}

/** The tar reader's words for a broken archive, as Go's archive/tar says them. */
function tarMessage(err: unknown): string {
  const msg = (err as Error).message ?? String(err);
  if (err instanceof TarFormatError) return /unexpected end/.test(msg) ? 'unexpected EOF' : 'archive/tar: invalid tar header';
  return msg;
}

export async function archivePut(args: ArchivePutArgs, ctx: JobContext): Promise<void> {
  const abs = absPath(args.path);
  const cfs = ContainerFs.open(args.rootfs, args.mounts);
  let dest: Walk | null = null;
  const parents = new ParentCache();
  try {
    try {
      // The last element is followed too: one can extract into a symlink to a directory.
      dest = cfs.walk(abs, { followFinal: true });
    } catch (err) {
      throw archiveError(err, args.path, args.container, abs);
    }
    if ((fstat(dest.top.fd).mode & S_IFMT) !== S_IFDIR) throw new SystemError('extraction point is not a directory');
    checkWritable(dest.top.mount, args.readonlyRootfs);
    const owner = args.copyUIDGID && args.user ? containerUser(cfs, args.user) : null;
    const x: Extraction = {
      cfs,
      dest,
      destPath: dest.path,
      readonlyRootfs: args.readonlyRootfs,
      noOverwriteDirNonDir: args.noOverwriteDirNonDir,
      owner,
      dirTimes: [],
    };
    const input = ctx.stdin;
    if (!input) throw new InvalidParameterError('the archive is missing');
    const body = (async function* () {
      for await (const c of input) yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    })();
    try {
      for await (const entry of readTar(decompress(body))) {
        if (ctx.signal.aborted) throw new SystemError('cancelled');
        await extractEntry(x, entry, parents);
      }
      // Directory times last: creating entries in them changed their mtimes.
      for (const { path, mtime } of x.dirTimes.reverse()) {
        const parent = parents.get(x, posix.dirname(path));
        native().utimensat(parent.top.fd, posix.basename(path), mtime, 0, mtime, 0, AT.SYMLINK_NOFOLLOW);
      }
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new TarProcessingError(tarMessage(err));
    }
  } finally {
    parents.clear();
    dest?.close();
    cfs.close();
  }
}
