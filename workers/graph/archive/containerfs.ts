/**
 * ContainerFs: paths inside a container, resolved the way the container itself would resolve
 * them, but through directory fds, so a container that swaps names for symlinks while berthd
 * works (CVE-2018-15664) can never steer a read or a write outside its root.
 *
 * Every step opens ONE name relative to the fd of the directory reached so far, with
 * openat2(O_PATH | O_NOFOLLOW, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): the kernel never
 * follows a symlink for us. A symlink is read (readlinkat on its own fd) and its target spliced
 * into the rest of the path: absolute targets restart at the container's root, relative ones at
 * the directory holding the link, and ".." pops the stack of directories walked (never above
 * the root, and never through the kernel's "..", which at a volume's root would be the host's
 * parent). Each fd pins the inode it names, so renames in the container cannot move us out.
 *
 * Volumes and binds are not mounted in the host's view of the root filesystem (runc mounts them
 * in the container's namespace), so the walk crosses into them itself: when the container path
 * reached is a mount's destination, the next fd is the mount's host Source. Deeper mounts are
 * met later in the walk, so the longest destination wins. tmpfs mounts have no host side.
 */
import { readdirSync } from 'node:fs';
import { posix } from 'node:path';
import { AT, RESOLVE, native, type NativeStat } from '../../../src/native/native.js';
import type { ArchiveMount } from '../../../src/protocol/types/archive.js';

export const O_PATH = 0o10000000;
export const O_NOFOLLOW = 0o400000;
export const O_DIRECTORY = 0o200000;
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
const AT_FDCWD = -100;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFSOCK = 0o140000;

/** Every open inside a container: anchored at the directory fd, no magic links (/proc/…/fd). */
export const IN_ROOT = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS;
const MAX_LINKS = 40;

export function errnoError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** One directory (or, last, any object) of a walk: its fd and its name in its parent. */
export interface Frame {
  fd: number;
  name: string;
  /** The mount it lies in (null: the root filesystem). */
  mount: ArchiveMount | null;
  /** Whether this frame closes its fd (the root's fd belongs to the ContainerFs). */
  owned: boolean;
}

/** A walk's result: the frames from the root down to what the path names. */
export class Walk {
  constructor(readonly frames: Frame[]) {}

  get top(): Frame {
    return this.frames[this.frames.length - 1]!;
  }

  /** The physical container path (symlinks resolved) of the top. */
  get path(): string {
    return pathOf(this.frames);
  }

  /** The frames of the top's parent, kept open; the top is the caller's to close (or not). */
  clone(): Walk {
    return new Walk(this.frames.map((f) => ({ ...f, owned: false })));
  }

  close(): void {
    for (const f of this.frames) if (f.owned) closeQuietly(f.fd);
    this.frames.length = 0;
  }
}

export function closeQuietly(fd: number): void {
  try {
    native().closeFd(fd); // opened by the addon: closed by it (Node's fs would warn)
  } catch {
    // already closed
  }
}

function pathOf(frames: Frame[]): string {
  return '/' + frames.slice(1).map((f) => f.name).join('/');
}

/** lstat of an fd (O_PATH fds included). */
export function fstat(fd: number): NativeStat {
  const st = native().fstatat(fd, '', AT.EMPTY_PATH | AT.SYMLINK_NOFOLLOW);
  if (!st) throw errnoError('ENOENT', 'fstat: no such file');
  return st;
}

/** The names in a directory (its fd, O_PATH or not), sorted as Go's filepath.Walk reads them. */
export function listDir(fd: number): string[] {
  // /proc/self/fd/N is the very directory the fd pins (not a path lookup in the container).
  const names = readdirSync(`/proc/self/fd/${fd}`);
  return names.sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
}

export interface WalkOptions {
  /** Follow a symlink in the last component too (PUT's destination, a trailing "/"). */
  followFinal?: boolean;
  /** Create missing directories on the way (0755, root-owned, as tar extractors do). */
  mkdirMissing?: (frame: Frame, path: string) => void;
}

export class ContainerFs {
  private readonly rootFd: number;
  private readonly mounts = new Map<string, ArchiveMount>();

  private constructor(rootFd: number, mounts: ArchiveMount[]) {
    this.rootFd = rootFd;
    for (const m of mounts) {
      if (!m.source || !m.destination.startsWith('/')) continue;
      this.mounts.set(posix.normalize(m.destination).replace(/(.)\/+$/, '$1'), m);
    }
  }

  /** open takes an fd on the root filesystem (a host path berth made, so trusted). */
  static open(rootfs: string, mounts: ArchiveMount[]): ContainerFs {
    const fd = native().openat2(AT_FDCWD, rootfs, O_PATH | O_DIRECTORY, 0, 0);
    return new ContainerFs(fd, mounts);
  }

  close(): void {
    closeQuietly(this.rootFd);
  }

  /** The mount whose destination is exactly this container path, if any. */
  mountAt(path: string): ArchiveMount | undefined {
    return path === '/' ? undefined : this.mounts.get(path);
  }

  /** Whether a mount's destination is this container path or lies under it. */
  mountAtOrUnder(path: string): boolean {
    if (path === '/') return this.mounts.size > 0;
    for (const d of this.mounts.keys()) if (d === path || d.startsWith(path + '/')) return true;
    return false;
  }

  /** openMount opens a mount's host Source (a host path from the record, so trusted). */
  openMount(m: ArchiveMount): number {
    return native().openat2(AT_FDCWD, m.source, O_PATH, 0, 0);
  }

  /** A walk at the root. */
  root(): Walk {
    const rootMount = this.mounts.get('/') ?? null;
    return new Walk([{ fd: this.rootFd, name: '', mount: rootMount, owned: false }]);
  }

  /**
   * child opens one name of the directory `dir` (without following it), crossing into a mount
   * whose destination it is. Returns null when it does not exist.
   */
  child(dir: Walk, name: string): Frame | null {
    const path = posix.join(dir.path, name);
    const m = this.mountAt(path);
    if (m) return { fd: this.openMount(m), name, mount: m, owned: true };
    try {
      const fd = native().openat2(dir.top.fd, name, O_PATH | O_NOFOLLOW, 0, IN_ROOT);
      return { fd, name, mount: dir.top.mount, owned: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /**
   * walk resolves `path` (a container path; relative means from `from`, absolute from the
   * root) component by component. A missing component throws ENOENT, a non-directory in the
   * middle ENOTDIR (errors carry the component reached in `at`). The last component's symlink
   * is followed only with followFinal. The caller closes the returned walk.
   */
  walk(path: string, opts: WalkOptions = {}, from?: Walk): Walk {
    const frames: Frame[] = path.startsWith('/') || !from ? [this.root().frames[0]!] : from.clone().frames;
    const w = new Walk(frames);
    let todo = path.split('/');
    let links = 0;
    try {
      while (todo.length > 0) {
        const c = todo.shift()!;
        if (c === '' || c === '.') continue;
        if (c === '..') {
          if (frames.length > 1) {
            const f = frames.pop()!;
            if (f.owned) closeQuietly(f.fd);
          }
          continue;
        }
        const last = todo.every((x) => x === '' || x === '.');
        let f = this.child(w, c);
        if (!f && opts.mkdirMissing) {
          opts.mkdirMissing(w.top, posix.join(w.path, c));
          f = this.child(w, c);
        }
        if (!f) throw Object.assign(errnoError('ENOENT', `${posix.join(w.path, c)}: no such file or directory`), { reached: w.path, rest: [c, ...todo] });
        let st: NativeStat;
        try {
          st = fstat(f.fd);
        } catch (err) {
          closeQuietly(f.fd);
          throw err;
        }
        const type = st.mode & S_IFMT;
        if (type === S_IFLNK && (!last || opts.followFinal)) {
          let target: string;
          try {
            target = native().readlinkat(f.fd, '');
          } finally {
            closeQuietly(f.fd);
          }
          if (++links > MAX_LINKS) throw errnoError('ELOOP', `${posix.join(w.path, c)}: too many levels of symbolic links`);
          if (target.startsWith('/')) {
            while (frames.length > 1) {
              const p = frames.pop()!;
              if (p.owned) closeQuietly(p.fd);
            }
          }
          todo = [...target.split('/'), ...todo];
          continue;
        }
        frames.push(f);
        if (type !== S_IFDIR && !last) {
          // What follows needs a directory (a trailing "/" too).
          throw errnoError('ENOTDIR', `${w.path}: not a directory`);
        }
      }
      return w;
    } catch (err) {
      w.close();
      throw err;
    }
  }

  /**
   * resolvedPath is the container path `path` names with every symlink followed; where a
   * component is missing the rest is taken as written (dockerd's FollowSymlinkInScope), so a
   * dangling link still has a target.
   */
  resolvedPath(path: string): string {
    let w: Walk | null = null;
    try {
      w = this.walk(path, { followFinal: true });
      return w.path;
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { reached?: string; rest?: string[] };
      if (e.code === 'ENOENT' && e.reached !== undefined) return posix.normalize(posix.join(e.reached, ...(e.rest ?? [])));
      return posix.normalize('/' + path);
    } finally {
      w?.close();
    }
  }
}
