/**
 * Names and ids for docker cp:
 *  - uname/gname in GET's tar headers come from the host's user database, as Go's
 *    archive/tar fills them in dockerd (root, nobody…);
 *  - copyUIDGID chowns to the container's user, looked up in the container's own /etc/passwd
 *    and /etc/group, read through ContainerFs (a symlinked /etc/passwd stays inside it).
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { SystemError } from '../../../src/errdefs/errors.js';
import { S_IFMT, S_IFREG, fstat, type ContainerFs } from './containerfs.js';

let hostNames: { users: Map<number, string>; groups: Map<number, string>; at: number } | null = null;

function parseIds(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#')) continue;
    const id = Number(f[2]);
    if (Number.isInteger(id) && !out.has(id)) out.set(id, f[0]!);
  }
  return out;
}

function readHost(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The host's names for uids and gids (re-read at most once a minute). */
export function hostIds(): { users: Map<number, string>; groups: Map<number, string> } {
  if (!hostNames || Date.now() - hostNames.at > 60_000) {
    hostNames = { users: parseIds(readHost('/etc/passwd')), groups: parseIds(readHost('/etc/group')), at: Date.now() };
  }
  return hostNames;
}

/** readContainerFile reads a small regular file of the container ('' when absent or not a file). */
export function readContainerFile(cfs: ContainerFs, path: string, limit = 1 << 20): string {
  let w;
  try {
    w = cfs.walk(path, { followFinal: true });
  } catch {
    return '';
  }
  try {
    const top = w.top;
    if ((fstat(top.fd).mode & S_IFMT) !== S_IFREG) return '';
    // Reopened through the fd's own /proc link: the very inode the walk reached, nothing else.
    const fd = openSync(`/proc/self/fd/${top.fd}`, 'r');
    try {
      const buf = Buffer.alloc(limit);
      let n = 0;
      for (;;) {
        const r = readSync(fd, buf, n, limit - n, null);
        if (r <= 0) break;
        n += r;
        if (n >= limit) break;
      }
      return buf.toString('utf8', 0, n);
    } finally {
      closeSync(fd);
    }
  } finally {
    w.close();
  }
}

function rows(text: string): string[][] {
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}

/**
 * containerUser resolves Config.User ("name", "uid", "name:group", "uid:gid") to ids as dockerd's
 * getUser does for copyUIDGID.
 */
export function containerUser(cfs: ContainerFs, spec: string): { uid: number; gid: number } {
  const [userPart = '', groupPart] = spec.split(':', 2);
  const passwd = rows(readContainerFile(cfs, '/etc/passwd'));
  let uid = 0;
  let gid = 0;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const e = passwd.find((p) => p[2] === userPart);
    if (e) gid = Number(e[3]);
  } else if (userPart !== '') {
    const e = passwd.find((p) => p[0] === userPart);
    if (!e) throw new SystemError(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = Number(e[2]);
    gid = Number(e[3]);
  }
  if (groupPart) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = rows(readContainerFile(cfs, '/etc/group')).find((x) => x[0] === groupPart);
      if (!g) throw new SystemError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = Number(g[2]);
    }
  }
  return { uid, gid };
}
