/**
 * Network namespaces of containers: for `--network none`, a new namespace with only its
 * loopback, up; for `host`, none (the container shares the host's). The namespace is kept by
 * a bind mount at <exec-root>/netns/<container> (made by the native addon's netnsCreate, as
 * `unshare --net=FILE` would, without its processes), so it lives independently of any
 * process, and berth's own directory keeps it apart from `ip netns`.
 * The network issue (#5) adds the bridge's veth to the same namespace.
 */
import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidParameterError, NotImplementedError, SystemError } from '../../src/errdefs/errors.js';
import { mkdirs } from '../../src/fs/mkdirs.js';
import { native } from '../../src/native/native.js';

export class Netns {
  constructor(private readonly execRoot: string) {}

  private path(id: string): string {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new InvalidParameterError(`invalid container id ${id}`);
    return join(this.execRoot, 'netns', id);
  }

  async create(id: string, mode: string): Promise<{ path: string | null }> {
    if (mode === 'host') return { path: null };
    if (mode !== 'none' && mode !== 'default' && mode !== 'bridge' && mode !== '') {
      throw new NotImplementedError(`berth does not support --network ${mode} yet (none and host work; bridge arrives with #5)`);
    }
    const path = this.path(id);
    await mkdirs(join(this.execRoot, 'netns'), 0o711);
    // One left by a run that was not cleaned up (a crash): unmount and replace it.
    if (await stat(path).then(() => true, () => false)) await this.remove(id);
    await writeFile(path, '', { mode: 0o644 });
    try {
      native().netnsCreate(path);
    } catch (err) {
      await this.remove(id);
      throw new SystemError(`cannot create the network namespace of ${id}: ${(err as Error).message}`);
    }
    return { path };
  }

  async remove(id: string): Promise<void> {
    const path = this.path(id);
    if (!(await stat(path).then(() => true, () => false))) return;
    try {
      await native().umount2(path, 0);
    } catch {
      // Not mounted (a create that failed half-way): the file goes all the same.
    }
    await rm(path, { force: true });
  }
}
