/**
 * docker cp, the daemon's part (dockerd's daemon/archive.go): find the container, keep its root
 * filesystem mounted (running or stopped) for the duration, and hand the graph actor the root,
 * the container's volumes and binds (their host Sources; tmpfs has none), and the rules
 * (read-only rootfs, the user for copyUIDGID). The graph resolves every path inside them.
 * Events as dockerd's: archive-path for a GET, extract-to-dir for a PUT.
 */
import { InvalidParameterError } from '../../errdefs/errors.js';
import type { Engine } from '../../engine/engine.js';
import type { Job } from '../../engine/job.js';
import type { ArchiveMount, ContainerPathStat } from '../../protocol/types/archive.js';
import type { Containers } from './service.js';
import type { ContainerRecord } from './store.js';

/** dockerd's archiveFormValues message (sic: no space, as 20.10 writes it). */
export const EMPTY_PATH = 'bad parameter: pathcannot be empty';

function mountsOf(rec: ContainerRecord): ArchiveMount[] {
  return Object.values(rec.MountPoints ?? {})
    .filter((m) => m.Type !== 'tmpfs' && m.Source)
    .map((m) => ({ destination: m.Destination, source: m.Source, rw: m.RW }));
}

export class ContainerArchives {
  constructor(private readonly containers: Containers, private readonly engine: Engine) {}

  async stat(name: string, path: string): Promise<ContainerPathStat> {
    if (!path) throw new InvalidParameterError(EMPTY_PATH);
    return this.containers.withRootfs(name, async (rec, rootfs) =>
      this.engine.call('archive_stat', { rootfs, mounts: mountsOf(rec), path, container: name }),
    );
  }

  /** get streams the stat (first frame) and the tar straight from the graph actor to the caller. */
  async get(name: string, path: string, job: Job): Promise<void> {
    if (!path) throw new InvalidParameterError(EMPTY_PATH);
    await this.containers.withRootfs(name, async (rec, rootfs) => {
      const run = this.engine.job('archive_get', { rootfs, mounts: mountsOf(rec), path, container: name }, {
        stdoutPort: job.stdout.takePort(),
        signal: job.signal,
        from: 'daemon',
      });
      await this.engine.run(run);
      this.containers.publish(rec, 'archive-path');
    });
  }

  /** put hands the request body (the tar) straight to the graph actor. */
  async put(a: { name: string; path: string; noOverwriteDirNonDir: boolean; copyUIDGID: boolean }, job: Job): Promise<void> {
    if (!a.path) throw new InvalidParameterError(EMPTY_PATH);
    await this.containers.withRootfs(a.name, async (rec, rootfs) => {
      const run = this.engine.job('archive_put', {
        rootfs,
        mounts: mountsOf(rec),
        path: a.path,
        container: a.name,
        readonlyRootfs: rec.HostConfig.ReadonlyRootfs === true,
        noOverwriteDirNonDir: a.noOverwriteDirNonDir,
        copyUIDGID: a.copyUIDGID,
        user: rec.Config.User ?? '',
      }, { stdinPort: job.stdin.takePort(), signal: job.signal, from: 'daemon' });
      await this.engine.run(run);
      this.containers.publish(rec, 'extract-to-dir');
    });
  }
}
