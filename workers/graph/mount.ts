/**
 * Realising a driver's mount description: the graph driver only describes mounts; whoever
 * needs the filesystem (a container start, a test, an export) mounts it here. mount(2) and
 * umount2(2) through the native addon, on a pool thread — every container's create, start and
 * exit mounts or unmounts, and a mount(8) process for each cost several milliseconds of it.
 */
import { SystemError } from '../../src/errdefs/errors.js';
import { MS, native } from '../../src/native/native.js';
import type { Mount } from './driver.js';

export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  for (const m of mounts) {
    try {
      if (m.type === 'bind') {
        const rec = m.options.includes('rbind') ? MS.REC : 0;
        await native().mount(m.source, target, '', MS.BIND | rec, '');
        // A read-only bind takes a second call, as mount(8) makes it.
        if (m.options.includes('ro')) await native().mount('', target, '', MS.REMOUNT | MS.BIND | MS.RDONLY | rec, '');
      } else {
        await native().mount(m.source, target, m.type, 0, m.options.join(','));
      }
    } catch (err) {
      throw new SystemError(`mount ${m.type} on ${target}: ${(err as Error).message}`);
    }
  }
}

export async function unmount(target: string): Promise<void> {
  try {
    await native().umount2(target, 0);
  } catch (err) {
    throw new SystemError(`umount ${target}: ${(err as Error).message}`);
  }
}
