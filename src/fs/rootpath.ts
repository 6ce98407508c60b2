/**
 * Paths inside a root filesystem, resolved as a chroot would resolve them: symlinks in the
 * middle of a path are followed, but `..` and absolute link targets stop at the root, so no
 * name from a layer tarball can reach outside it (CVE-2018-15664's class, symlink-then-write).
 * Nothing else writes in a layer while it is being built, so resolving then acting is safe here.
 */
import { lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';

export class PathEscapeError extends Error {
  readonly code = 'EBREAKOUT';
}

/** cleanName turns a tar entry name into components inside the root; ".." escaping is refused. */
export function cleanName(name: string): string[] {
  const rel = posix.normalize(name.replace(/^\/+/, ''));
  if (rel === '..' || rel.startsWith('../')) throw new PathEscapeError(`invalid tar entry ${JSON.stringify(name)}: it would land outside the layer`);
  return rel === '.' ? [] : rel.split('/').filter((c) => c !== '' && c !== '.');
}

/** within turns any path (even one with "..") into components clamped at the root. */
function within(path: string): string[] {
  return posix.normalize('/' + path).split('/').filter(Boolean);
}

export interface ResolveOptions {
  /** Follow a symlink in the last component too (hardlink targets, reads). */
  followFinal?: boolean;
  /** Create missing parent directories (0755, as tar extractors do). */
  createParents?: boolean;
}

/**
 * resolveInRootSync returns the host path of `name` inside `root`. Every intermediate component
 * must be a directory (or a symlink to one, resolved inside the root). Synchronous: it runs in
 * the pool thread that extracts layers, where a file costs far less without a thread-pool
 * round trip per system call, and for the few names of an archive to load.
 */
export function resolveInRootSync(root: string, name: string | string[], opts: ResolveOptions = {}): string {
  let todo = typeof name === 'string' ? cleanName(name) : [...name];
  let done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    const last = todo.length === 0;
    const host = join(root, ...done, c);
    if (last && !opts.followFinal) {
      done.push(c);
      break;
    }
    const st: Stats | undefined = lstatSync(host, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) {
      if (++links > 255) throw Object.assign(new Error(`too many levels of symbolic links in ${JSON.stringify(name)}`), { code: 'ELOOP' });
      const target = readlinkSync(host);
      todo = [...(target.startsWith('/') ? within(target) : within([...done, target].join('/'))), ...todo];
      done = [];
      continue;
    }
    if (!st) {
      if (last) {
        done.push(c);
        break;
      }
      if (!opts.createParents) throw Object.assign(new Error(`${join(...done, c)}: no such directory`), { code: 'ENOENT' });
      mkdirSync(host, { mode: 0o755 });
    } else if (!st.isDirectory() && !last) {
      throw Object.assign(new Error(`${join(...done, c)}: not a directory`), { code: 'ENOTDIR' });
    }
    done.push(c);
  }
  return join(root, ...done);
}
