/**
 * The file work of volumes, in the graph actor (DESIGN §1: the main thread does no bulk I/O):
 * filling a new volume from the image, and measuring volumes for `system df` and prune. The
 * daemon keeps the volume records and decides when; these jobs only copy and count.
 */
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, readdir, readlink, rename, rm, stat, symlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { resolveInRootSync } from '../../src/fs/rootpath.js';

let log: (msg: string) => void = () => {};
/** setVolumeLog routes the copy's warnings to the actor's log. */
export function setVolumeLog(fn: (msg: string) => void): void {
  log = fn;
}

/**
 * prefill copies the image's content at the destination into an empty volume, with owners,
 * modes and times (dockerd's CopyImagePathContent). The source is resolved inside the root
 * filesystem: a symlink cannot lead the copy out of it. The copy is made in a private staging
 * directory beside the volume's _data (no container can reach it) and its top-level entries
 * renamed in, so a container already using the volume cannot redirect the writes with
 * symlinks (rename replaces a name, it never follows one). A volume on its own device
 * (--opt device) cannot take a rename from outside it: it is filled in place only when no
 * other container has it mounted, and otherwise left as it is (a warning says so).
 */
export async function prefillVolume(rootfs: string, destination: string, volumePath: string, inUseElsewhere: boolean): Promise<void> {
  let src: string;
  try {
    src = resolveInRootSync(rootfs, destination, { followFinal: true });
  } catch {
    return;
  }
  const st = await stat(src).catch(() => null);
  if (!st || !st.isDirectory()) return;
  if ((await readdir(volumePath)).length > 0) return;
  const staging = join(dirname(volumePath), `.prefill-${randomBytes(6).toString('hex')}`);
  await mkdir(staging, { mode: 0o700 });
  try {
    await copyTree(src, staging, new Map());
    const names = await readdir(staging);
    for (const [i, name] of names.entries()) {
      try {
        await rename(join(staging, name), join(volumePath, name));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EXDEV' && i === 0) {
          if (inUseElsewhere) {
            log(`volume pre-fill: ${volumePath} is on another device and in use by another container: not filled`);
            return;
          }
          await copyTree(src, volumePath, new Map());
          break;
        }
        // Written meanwhile by a container that has the volume: its entry stays.
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY' && code !== 'ENOTDIR' && code !== 'EISDIR') throw err;
      }
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  await lchown(volumePath, st.uid, st.gid);
  await chmod(volumePath, st.mode & 0o7777);
  await utimes(volumePath, st.atime, st.mtime);
}

async function copyTree(src: string, dst: string, inodes: Map<string, string>): Promise<void> {
  for (const name of await readdir(src)) {
    const s = join(src, name);
    const d = join(dst, name);
    const st = await lstat(s);
    if (st.isDirectory()) {
      await mkdir(d, { mode: 0o700 });
      await copyTree(s, d, inodes);
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(s), d);
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? inodes.get(key) : undefined;
      if (first) {
        await link(first, d);
        continue;
      }
      await copyFile(s, d);
      if (st.nlink > 1) inodes.set(key, d);
    } else {
      // Devices, fifos and sockets: Node cannot mknod; dockerd copies them, berth skips them.
      log(`volume pre-fill: skipping special file ${s}`);
      continue;
    }
    await lchown(d, st.uid, st.gid);
    if (!st.isSymbolicLink()) await chmod(d, st.mode & 0o7777);
    await lutimes(d, st.atime, st.mtime);
  }
}

/**
 * dirSize is what dockerd's directory.Size counts: the bytes of everything but directories,
 * each inode once, without crossing into other filesystems (a volume's own mounts).
 */
export async function dirSize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  let dev: number | null = null;
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      const st = await lstat(p).catch(() => null);
      if (!st) continue;
      if (st.isDirectory()) {
        if (dev === null || st.dev === dev) await walk(p);
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += st.size;
    }
  };
  const root = await lstat(dir).catch(() => null);
  if (!root) return 0;
  dev = root.dev;
  await walk(dir);
  return total;
}
