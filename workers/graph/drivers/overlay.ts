/**
 * overlay2: layers as overlayfs lower directories (dockerd's overlay2 layout under
 * <data-root>/overlay2). `overlay` is accepted as another name for it.
 * Here: the support check and status; layer operations come with #3.
 */
import { mkdirs } from '../../../src/fs/mkdirs.js';
import type { GraphStatus } from '../../../src/protocol/types/system.js';
import { InvalidParameterError } from '../../../src/errdefs/errors.js';
import type { GraphDriver, Support } from '../driver.js';
import { backingFs, kernelHasOverlay } from '../fs.js';

export class OverlayDriver implements GraphDriver {
  readonly name = 'overlay2';
  private home = '';
  private fs = '';

  static async supported(dataRoot: string): Promise<Support> {
    if (!(await kernelHasOverlay())) return { ok: false, reason: 'the kernel does not support overlay (no "overlay" in /proc/filesystems)' };
    const fs = await backingFs(dataRoot);
    if (fs === 'overlayfs') return { ok: false, reason: `the data root ${dataRoot} is itself on overlayfs, which overlay cannot stack on` };
    return { ok: true };
  }

  async init(home: string, options: string[]): Promise<void> {
    for (const opt of options) {
      const key = opt.split('=')[0]!.toLowerCase();
      // Accepted and ignored, as dockerd 20.10 does for this deprecated option.
      if (key === 'overlay2.override_kernel_check') continue;
      throw new InvalidParameterError(`overlay2: unknown option ${key}`);
    }
    await mkdirs(home, 0o710);
    this.home = home;
    this.fs = await backingFs(home);
  }

  async status(): Promise<GraphStatus> {
    return {
      driver: this.name,
      home: this.home,
      driverStatus: [
        ['Backing Filesystem', this.fs],
        ['Supports d_type', 'true'],
        ['Native Overlay Diff', 'true'],
        ['userxattr', 'false'],
      ],
      warnings: [],
    };
  }
}
