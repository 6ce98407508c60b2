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

export function resolveUser(rootfs: string, spec: string, groupAdd: string[] = []): ResolvedUser {
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
  return { uid, gid, additionalGids: [gid, ...member, ...additionalGroups(groups, groupAdd)], home };
}

const MAX_ID = 2 ** 31 - 1;

/**
 * --group-add as dockerd's getUser takes it (runc's user.GetAdditionalGroups): each name or
 * gid matched in the container's /etc/group, first match, a group once; a number not there
 * taken as is; a name not there fails the start.
 */
function additionalGroups(groups: string[][], wanted: string[]): number[] {
  const out: number[] = [];
  for (const ag of wanted) {
    const g = groups.find((x) => (x[0] === ag || x[2] === ag) && !out.includes(Number(x[2])));
    if (g) {
      out.push(Number(g[2]));
      continue;
    }
    if (!/^[+-]?\d+$/.test(ag)) throw new SystemError(`Unable to find group ${ag}`);
    const gid = Number(ag);
    if (gid < 0 || gid > MAX_ID) throw new SystemError(`uids and gids must be in range 0-${MAX_ID}`);
    if (!out.includes(gid)) out.push(gid);
  }
  return out;
}
