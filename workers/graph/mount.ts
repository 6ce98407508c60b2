/**
 * Realising a driver's mount description with mount(8): the graph driver only describes
 * mounts; whoever needs the filesystem (a container start, a test, an export) mounts it here.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SystemError } from '../../src/errdefs/errors.js';
import type { Mount } from './driver.js';

const run = promisify(execFile);

export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  for (const m of mounts) {
    const args =
      m.type === 'bind'
        ? ['--bind', m.source, target]
        : ['-t', m.type, m.source, target, '-o', m.options.join(',')];
    try {
      await run('mount', args);
      if (m.type === 'bind' && m.options.includes('ro')) await run('mount', ['-o', 'remount,bind,ro', target]);
    } catch (err) {
      throw new SystemError(`mount ${m.type} on ${target}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
    }
  }
}

export async function unmount(target: string): Promise<void> {
  try {
    await run('umount', [target]);
  } catch (err) {
    throw new SystemError(`umount ${target}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
  }
}
