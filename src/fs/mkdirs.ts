/**
 * mkdirs creates a directory and its missing parents, one level at a time, each with `mode`.
 *
 * Not fs.mkdir({recursive: true}): where mkdir(2) answers ENOENT although the parent exists
 * (under /proc, for one), Node's recursive mkdir retries forever at full CPU instead of
 * failing. Walking down from the nearest existing ancestor turns that into a plain error.
 * Returns the topmost directory it created (null if the path already existed), so a caller
 * can undo exactly what it made.
 */
import { lstat, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function mkdirs(path: string, mode = 0o755): Promise<string | null> {
  const missing: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    const st = await lstat(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (st) {
      if (!st.isDirectory() && !(st.isSymbolicLink() && p !== path)) {
        throw Object.assign(new Error(`${p} exists and is not a directory`), { code: 'ENOTDIR' });
      }
      break;
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // EEXIST: another process won the race
    }
  }
  return missing.length ? missing[0]! : null;
}
