/**
 * The graph drivers berth has, by name, and how one is chosen: the one asked for with
 * -s/--storage-driver, or else overlay2 where the host supports it, else vfs (dockerd's
 * priority order, cut to what berth implements).
 */
import { SystemError } from '../../../src/errdefs/errors.js';
import type { GraphDriver } from '../driver.js';
import { OverlayDriver } from './overlay.js';
import { VfsDriver } from './vfs.js';

/** Names -s accepts; `overlay` is another name for overlay2. */
export const GRAPH_DRIVERS = ['overlay2', 'overlay', 'vfs'] as const;

export async function chooseDriver(requested: string, dataRoot: string): Promise<GraphDriver> {
  const name = requested === 'overlay' ? 'overlay2' : requested;
  if (name === 'vfs') return new VfsDriver();
  const support = await OverlayDriver.supported(dataRoot);
  if (name === 'overlay2') {
    if (!support.ok) throw new SystemError(`error initializing graphdriver: overlay2: ${support.reason}`);
    return new OverlayDriver();
  }
  if (name !== '') throw new SystemError(`error initializing graphdriver: driver not supported: ${requested}`);
  return support.ok ? new OverlayDriver() : new VfsDriver();
}
