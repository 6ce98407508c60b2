/**
 * vfs: every layer a full copy of its parent. Slow and large, but it works on any filesystem,
 * which is why it is the fallback when overlayfs is not available.
 */
import { mkdirs } from '../../../src/fs/mkdirs.js';
import type { GraphStatus } from '../../../src/protocol/types/system.js';
import { InvalidParameterError } from '../../../src/errdefs/errors.js';
import type { GraphDriver } from '../driver.js';

export class VfsDriver implements GraphDriver {
  readonly name = 'vfs';
  private home = '';

  async init(home: string, options: string[]): Promise<void> {
    for (const opt of options) {
      throw new InvalidParameterError(`vfs: unknown option ${opt.split('=')[0]}`);
    }
    await mkdirs(home, 0o710);
    this.home = home;
  }

  async status(): Promise<GraphStatus> {
    return { driver: this.name, home: this.home, driverStatus: [], warnings: [] };
  }
}
