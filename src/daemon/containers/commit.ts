/**
 * docker diff, export and commit, the daemon's half (dockerd's daemon/changes.go, export.go,
 * commit.go): find the container, check it may be used, pause it for a commit, tell the events
 * bus. The file work is the graph actor's (rootfs_changes, rootfs_export, image_commit); the
 * export's bytes go from the graph actor straight to the caller's port.
 */
import type { Engine } from '../../engine/engine.js';
import type { Job } from '../../engine/job.js';
import { ConflictError, toWire } from '../../errdefs/errors.js';
import { logger } from '../../log/log.js';
import type { Containers } from './service.js';

type Change = { Path: string; Kind: 0 | 1 | 2 };

export interface CommitRequest {
  name: string;
  repo: string;
  tag: string;
  author: string;
  comment: string;
  pause: boolean;
  changes: string[];
  config: Record<string, unknown> | null;
}

/**
 * usingRootfs is Containers.withRootfs with dockerd's words for a container being removed
 * ("You cannot <verb> container <id> which is being removed").
 */
async function usingRootfs<T>(c: Containers, name: string, verb: string, fn: (rec: ReturnType<Containers['record']>) => Promise<T>): Promise<T> {
  let entered = false;
  try {
    return await c.withRootfs(name, (rec) => {
      entered = true;
      return fn(rec);
    });
  } catch (err) {
    if (!entered && err instanceof ConflictError) {
      throw new ConflictError(`You cannot ${verb} container ${c.record(name).ID} which is being removed`);
    }
    throw err;
  }
}

export class ContainerFiles {
  constructor(
    private readonly c: Containers,
    private readonly engine: Engine,
  ) {}

  /**
   * changes is GET /containers/{id}/changes: null when nothing changed, as dockerd 20.10 (a nil
   * slice) answers.
   */
  async changes(name: string): Promise<Change[] | null> {
    const rec = this.c.record(name);
    const list = await this.engine.call('rootfs_changes', { id: rec.ID });
    return list.length ? list : null;
  }

  /** export streams the root filesystem (running or not) to the job's stdout; the event comes first, as dockerd's. */
  async export(name: string, job: Job): Promise<void> {
    await usingRootfs(this.c, name, 'export', async (rec) => {
      this.c.publish(rec, 'export');
      const run = this.engine.job('rootfs_export', { id: rec.ID }, { stdoutPort: job.stdout.takePort(), signal: job.signal, from: 'daemon' });
      await this.engine.run(run);
    });
  }

  /**
   * commit is POST /commit. A running container is paused for it unless pause=false (events:
   * pause, the image's tag, commit, unpause); a pause or unpause that fails does not fail the
   * commit, as in dockerd. A bad `changes` line is a 400 after the pause, as there.
   */
  async commit(a: CommitRequest): Promise<{ Id: string }> {
    return usingRootfs(this.c, a.name, 'commit', async (rec) => {
      let paused = false;
      if (a.pause && rec.State.Running && !rec.State.Paused) {
        try {
          await this.c.pause(rec.ID);
          paused = true;
        } catch (err) {
          logger.warn(`cannot pause ${rec.ID} for a commit: ${toWire(err).message}`);
        }
      }
      try {
        const { id, imageRef } = await this.engine.call('image_commit', {
          id: rec.ID,
          parentImage: rec.Image,
          containerConfig: rec.Config as unknown as Record<string, unknown>,
          config: a.config,
          changes: a.changes,
          author: a.author,
          comment: a.comment,
          repo: a.repo,
          tag: a.tag,
        });
        this.c.publish(rec, 'commit', { comment: a.comment, imageID: id, imageRef });
        return { Id: id };
      } finally {
        if (paused) await this.c.unpause(rec.ID).catch((err) => logger.warn(`cannot unpause ${rec.ID} after a commit: ${toWire(err).message}`));
      }
    });
  }
}
