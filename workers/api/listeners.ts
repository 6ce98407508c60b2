/**
 * Listeners for every -H host: unix sockets, plain tcp (loopback only: config refuses the
 * rest) and tls.
 *
 * A unix socket is never reachable with looser permissions than 0660 and its group, not even
 * for an instant: it is bound inside a fresh 0700 directory next to its final path, chmod'ed
 * and chown'ed there, then renamed into place (moby does the same between bind(2) and
 * listen(2); Node offers no such gap). A path where a live daemon answers is refused; a stale
 * socket left by a crash is replaced.
 */
import { createConnection, type Server } from 'node:net';
import { mkdirs } from '../../src/fs/mkdirs.js';
import { chmod, chown, lstat, mkdtemp, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SystemError } from '../../src/errdefs/errors.js';

/** lookupGroup reads /etc/group: the gid of a group name (or numeric gid), or null. */
export async function lookupGroup(name: string): Promise<number | null> {
  if (/^\d+$/.test(name)) return Number(name);
  let text = '';
  try {
    text = await readFile('/etc/group', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return null;
}

/** socketGid decides the group of the unix sockets: -G, else docker if it exists, else root. */
export async function socketGid(group: string, explicit: boolean): Promise<{ gid: number; group: string }> {
  const name = group || 'docker';
  const gid = await lookupGroup(name);
  if (gid !== null) return { gid, group: name };
  if (explicit) throw new SystemError(`failed to load listeners: group ${name} not found`);
  return { gid: 0, group: 'root' };
}

/** probe says whether something accepts connections on a unix socket path. */
function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    const done = (alive: boolean) => {
      c.destroy();
      resolve(alive);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.setTimeout(1_000, () => done(false));
  });
}

function listen(server: Server, target: string | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if (typeof target === 'string') server.listen(target, done);
    else server.listen(target.port, target.host, done);
  });
}

export interface UnixListener {
  path: string;
  /** Remove the socket file if it is still ours. */
  cleanup(): Promise<void>;
}

/** listenUnix binds `server` at `path`, 0660 root:gid, atomically (see the file comment). */
export async function listenUnix(server: Server, path: string, gid: number): Promise<UnixListener> {
  const dir = dirname(path);
  await mkdirs(dir, 0o711);
  const existing = await lstat(path).catch(() => null);
  if (existing) {
    if (!existing.isSocket()) throw new SystemError(`cannot listen on ${path}: it exists and is not a socket`);
    if (await probe(path)) {
      throw new SystemError(`cannot listen on ${path}: another daemon is already listening there (is berthd already running with this -H?)`);
    }
    // A stale socket from a daemon that died: the rename below replaces it.
  }
  const tmp = await mkdtemp(join(dir, '.berth-sock-'));
  try {
    const tmpSock = join(tmp, 's');
    await listen(server, tmpSock);
    await chmod(tmpSock, 0o660);
    await chown(tmpSock, 0, gid);
    await rename(tmpSock, path);
  } catch (err) {
    server.close();
    throw new SystemError(`cannot listen on ${path}: ${(err as Error).message}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const ino = (await stat(path)).ino;
  return {
    path,
    cleanup: async () => {
      const s = await stat(path).catch(() => null);
      if (s && s.ino === ino) await unlink(path).catch(() => {});
    },
  };
}

/** listenTcp binds host:port. */
export async function listenTcp(server: Server, host: string, port: number): Promise<{ host: string; port: number }> {
  try {
    await listen(server, { host, port });
  } catch (err) {
    throw new SystemError(`cannot listen on tcp://${host.includes(':') ? `[${host}]` : host}:${port}: ${(err as Error).message}`);
  }
  const a = server.address();
  return typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port };
}
