/**
 * The pidfile (-p/--pidfile): refuse to start while a live berthd holds it, replace a stale
 * one, remove it at exit. Written with O_EXCL, so two daemons starting at once cannot both win.
 * Contents are the pid with no newline, as dockerd writes it.
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { mkdirs } from '../fs/mkdirs.js';
import { dirname } from 'node:path';

export class PidfileError extends Error {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** isBerthd checks /proc/<pid>/cmdline, so a recycled pid does not block a start. */
async function isBerthd(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('berthd');
  } catch {
    return false;
  }
}

export interface Pidfile {
  path: string;
  remove(): Promise<void>;
}

export async function createPidfile(path: string): Promise<Pidfile> {
  const found = await readFile(path, 'utf8').catch(() => null);
  if (found !== null) {
    const pid = Number.parseInt(found.trim(), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid) && (await isBerthd(pid))) {
      throw new PidfileError(`failed to start daemon: pid file found, ensure berthd is not running or delete ${path}`);
    }
    await unlink(path).catch(() => {}); // stale
  }
  await mkdirs(dirname(path), 0o755);
  let fh;
  try {
    fh = await open(path, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new PidfileError(`failed to start daemon: pid file found, ensure berthd is not running or delete ${path}`);
    }
    throw new PidfileError(`failed to start daemon: cannot write pid file ${path}: ${(err as Error).message}`);
  }
  await fh.writeFile(String(process.pid));
  await fh.close();
  return {
    path,
    remove: async () => {
      const now = await readFile(path, 'utf8').catch(() => null);
      if (now !== null && now.trim() === String(process.pid)) await unlink(path).catch(() => {});
    },
  };
}
