/**
 * The container's user, looked up in its own /etc/passwd and /etc/group, as dockerd does:
 * "", "name", "uid", "name:group", "uid:gid" (and group names); supplementary groups come
 * from /etc/group membership. Files are read through resolveInRootSync, so a container's
 * symlinked /etc/passwd cannot point berthd at the host's.
 */
import { readFileSync } from 'node:fs';
import { SystemError } from '../../src/errdefs/errors.js';
import { resolveInRootSync } from '../../src/fs/rootpath.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

function readDb(rootfs: string, file: string): string[][] {
  try {
    const text = readFileSync(resolveInRootSync(rootfs, file, { followFinal: true }), 'utf8');
    return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch {
    return [];
  }
}

export function resolveUser(rootfs: string, spec: string): ResolvedUser {
  const [userPart = '', groupPart] = spec.split(':', 2);
  const passwd = readDb(rootfs, 'etc/passwd');
  const groups = readDb(rootfs, 'etc/group');
  let uid: number;
  let gid: number;
  let home = '/';
  let name = '';
  if (userPart === '') {
    uid = 0;
    const root = passwd.find((p) => p[2] === '0');
    gid = root ? Number(root[3]) : 0;
    home = root?.[5] || '/';
    name = root?.[0] ?? 'root';
  } else {
    const entry = /^\d+$/.test(userPart) ? passwd.find((p) => p[2] === userPart) : passwd.find((p) => p[0] === userPart);
    if (!entry && !/^\d+$/.test(userPart)) throw new SystemError(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = entry ? Number(entry[2]) : Number(userPart);
    gid = entry ? Number(entry[3]) : 0;
    home = entry?.[5] || '/';
    name = entry?.[0] ?? '';
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x[0] === groupPart);
      if (!g) throw new SystemError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = Number(g[2]);
    }
  }
  // dockerd passes the primary group among the additional ones (`id` shows groups=<gid>), then
  // the groups of /etc/group that list the user.
  const member = name ? groups.filter((g) => (g[3] ?? '').split(',').includes(name)).map((g) => Number(g[2])).filter((g) => g !== gid) : [];
  return { uid, gid, additionalGids: [gid, ...member], home };
}
