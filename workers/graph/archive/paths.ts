/**
 * dockerd's path rules for the archive endpoints (daemon/archive.go, pkg/archive copy.go):
 * the client's path taken as absolute in the container, cleaned but keeping a trailing "/" or
 * "/." (they mean "the directory itself" / "its contents"), its base name (the stat's name and
 * the archive's top entry), the stat document, and the errors as dockerd words them.
 */
import { posix } from 'node:path';
import { BerthError, NotFoundError, SystemError } from '../../../src/errdefs/errors.js';
import type { NativeStat } from '../../../src/native/native.js';
import type { ContainerPathStat } from '../../../src/protocol/types/archive.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFSOCK } from './containerfs.js';

/** Go's filepath.Clean of an absolute path. */
function clean(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** absPath is "/" + path, cleaned, with a trailing "/" or "/." kept (PreserveTrailingDotOrSeparator). */
export function absPath(path: string): string {
  let p = clean('/' + path);
  if (p !== '/.' && posix.basename(p) !== '.' && (path === '.' || path.endsWith('/.'))) p = (p.endsWith('/') ? p : p + '/') + '.';
  if (!p.endsWith('/') && path.endsWith('/')) p += '/';
  return p;
}

/** Go's filepath.Base: the last element, trailing slashes dropped; "/" for the root. */
export function goBase(p: string): string {
  const t = p.replace(/\/+$/, '');
  if (t === '') return '/';
  return t.slice(t.lastIndexOf('/') + 1);
}

/** split is Go's filepath.Split: the directory (with its trailing slash) and the last element. */
export function split(p: string): { dir: string; base: string } {
  const i = p.lastIndexOf('/');
  return { dir: p.slice(0, i + 1), base: p.slice(i + 1) };
}

/** goMode turns a Linux st_mode into Go's os.FileMode bits (what dockerd's stat carries). */
export function goMode(mode: number): number {
  let m = mode & 0o777;
  switch (mode & S_IFMT) {
    case S_IFDIR: m += 2 ** 31; break;
    case S_IFLNK: m += 2 ** 27; break;
    case S_IFIFO: m += 2 ** 25; break;
    case S_IFSOCK: m += 2 ** 24; break;
    case S_IFCHR: m += 2 ** 26 + 2 ** 21; break;
    case S_IFBLK: m += 2 ** 26; break;
  }
  if (mode & 0o4000) m += 2 ** 23;
  if (mode & 0o2000) m += 2 ** 22;
  if (mode & 0o1000) m += 2 ** 20;
  return m;
}

/** RFC 3339 with nanoseconds (trailing zeros dropped), UTC, as Go marshals a time.Time. */
export function rfc3339Nano(sec: number, nsec: number): string {
  const base = new Date(sec * 1000).toISOString().slice(0, 19);
  const frac = nsec ? '.' + String(nsec).padStart(9, '0').replace(/0+$/, '') : '';
  return `${base}${frac}Z`;
}

export function pathStat(name: string, st: NativeStat, linkTarget: string): ContainerPathStat {
  return { name, size: st.size, mode: goMode(st.mode), mtime: rfc3339Nano(st.mtimeSec, st.mtimeNsec), linkTarget };
}

/**
 * archiveError turns a walk's failure into dockerd's answer: a missing path is a 404 naming the
 * path and the container as the client wrote them; anything else a 500 (with the container
 * path, where dockerd leaks its host path).
 */
export function archiveError(err: unknown, path: string, container: string, abs: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new NotFoundError(`Could not find the file ${path} in container ${container}`);
  if (code === 'ENOTDIR') return new SystemError(`lstat ${abs}: not a directory`);
  if (code === 'ELOOP') return new SystemError(`lstat ${abs}: too many levels of symbolic links`);
  if (err instanceof BerthError) return err;
  return new SystemError((err as Error).message ?? String(err));
}
