/**
 * Daemon is the seed's daemon object (§5.5.1–5.5.2): it initialises the drivers through their
 * actors' init jobs, holds the records (containers and images arrive with #3/#4), and installs
 * its jobs on the engine. It reaches the actors only through engine jobs.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DaemonConfig } from '../config/config.js';
import type { Engine, MainHandlers } from '../engine/engine.js';
import type { ExecStatus, GraphStatus, NetworkStatus } from '../protocol/types/system.js';
import type { RegistrySettingsArgs } from '../protocol/types/registry.js';
import { atomicWriteFile } from '../fs/atomic.js';
import type { Events } from '../events/events.js';
import { Containers } from './containers/service.js';
import { ContainerArchives } from './containers/archive.js';
import { volumeNames, volumeUsers } from './containers/mounts.js';
import { Volumes, volumeCreateArgs } from './volumes/service.js';
import { logger } from '../log/log.js';
import { ContainerFiles } from './containers/commit.js';
import { systemInfo } from './info.js';
import { daemonProfile, type DaemonProfile } from './containers/seccomp.js';
import { versionInfo } from './version.js';

/** What the graph actor needs of the daemon's registry flags. */
function registrySettingsOf(c: DaemonConfig): RegistrySettingsArgs {
  return {
    mirrors: c.registryMirrors,
    insecure: c.insecureRegistries,
    certsDir: c.registryCertsDir,
    timeoutMs: c.registryTimeoutMs || undefined,
    maxConcurrentDownloads: c.maxConcurrentDownloads,
    maxConcurrentUploads: c.maxConcurrentUploads,
  };
}

export interface DaemonDeps {
  engine: Engine;
  events: Events;
  config: DaemonConfig;
  eventListeners: () => number;
  threads: () => number;
}

/** engineId is the daemon's ID, stable across restarts (<data-root>/engine-id, as dockerd 23+). */
async function engineId(dataRoot: string): Promise<string> {
  const file = join(dataRoot, 'engine-id');
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (id) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  await atomicWriteFile(file, id, 0o600);
  return id;
}

export class Daemon {
  private constructor(
    private readonly deps: DaemonDeps,
    private config: DaemonConfig,
    readonly id: string,
    readonly network: NetworkStatus,
    readonly graph: GraphStatus,
    readonly exec: ExecStatus,
  ) {
    // The containers' seccomp profile, read once as dockerd's setupSeccompProfile (not reloaded).
    this.seccomp = daemonProfile(config.seccompProfile);
    if (this.seccomp.warning) logger.warn(this.seccomp.warning.replace(/^WARNING: /, ''));
    // Volumes are referenced by container records: it reads them from the container store.
    this.volumes = new Volumes({
      root: join(config.dataRoot, 'volumes'),
      events: deps.events,
      users: (name) => volumeUsers(this.containers.store.list(), name),
      log: (msg) => logger.warn(msg),
      sizes: (paths) => deps.engine.call('volume_usage', { paths }),
    });
    this.containers = new Containers({
      engine: deps.engine,
      events: deps.events,
      config: () => this.config,
      graphDriver: graph.driver,
      defaultRuntime: deps.config.defaultRuntime,
      volumes: this.volumes,
      seccomp: this.seccomp,
    });
  }

  readonly seccomp: DaemonProfile;
  readonly containers: Containers;
  readonly volumes: Volumes;
  private restored: Promise<void> = Promise.resolve();

  /**
   * create initialises the three drivers concurrently; the daemon starts only if all three
   * do (the first failure is the daemon's).
   */
  static async create(deps: DaemonDeps): Promise<Daemon> {
    const c = deps.config;
    const id = await engineId(c.dataRoot);
    const [network, graph, exec] = await Promise.all([
      deps.engine.call('init_networkdriver', {
        bridge: c.bridge,
        bip: c.bip,
        fixedCidr: c.fixedCidr,
        mtu: c.mtu || 1500,
        icc: c.icc,
        iptables: c.iptables,
        ipForward: c.ipForward,
        ipMasq: c.ipMasq,
        defaultIp: c.ip,
        dns: c.dns,
        dnsSearch: c.dnsSearch,
        dataRoot: c.dataRoot,
        execRoot: c.execRoot,
      }),
      deps.engine.call('init_graphdriver', { dataRoot: c.dataRoot, driver: c.storageDriver, options: c.storageOpts }),
      deps.engine.call('init_execdriver', { dataRoot: c.dataRoot, execRoot: c.execRoot, defaultRuntime: c.defaultRuntime, selinuxEnabled: c.selinuxEnabled, initPath: c.initPath }),
    ]);
    // The graph actor pulls, pushes, logs in and searches: it holds the registry flags (replayed after a crash).
    await deps.engine.call('registry_settings', registrySettingsOf(c));
    return new Daemon(deps, c, id, network, graph, exec);
  }

  /**
   * restore reconciles the container records with what runs (after a restart or a crash).
   * Exits reported meanwhile wait for it.
   */
  restore(): Promise<void> {
    this.restored = (async () => {
      await this.volumes.load();
      await this.containers.restore();
      // Runs that survived berthd hold their volumes; devices nobody running uses are unmounted.
      for (const rec of this.containers.store.list()) if (rec.State.Running) this.volumes.adopt(rec.ID, volumeNames(rec));
      await this.volumes.sweep();
    })();
    return this.restored;
  }

  /** handlers are the daemon's own jobs (the seed's d.Install). */
  handlers(): Omit<MainHandlers<'daemon'>, 'events' | 'log' | 'subscribers_count'> {
    const c = this.containers;
    const archives = new ContainerArchives(c, this.deps.engine);
    const files = new ContainerFiles(c, this.deps.engine);
    return {
      system_df: async () => {
        const images = await this.deps.engine.call('image_df', {});
        const containers = await c.list({ all: true, limit: 0, size: true });
        return { LayersSize: images.LayersSize, Images: images.Images, Containers: containers, Volumes: await this.volumes.usage(), BuildCache: null, BuilderSize: 0 };
      },
      volume_list: async ({ filters }) => this.volumes.list(filters),
      volume_create: async ({ body }) => this.volumes.create(...volumeCreateArgs(body)),
      volume_inspect: async ({ name }) => this.volumes.get(name),
      volume_remove: async ({ name, force }) => this.volumes.remove(name, force),
      volume_prune: async ({ filters }) => this.volumes.prune(filters),
      image_users: async ({ ids }) => c.imageUsers(ids),
      container_exited: async (report) => {
        await this.restored;
        await c.exited(report);
      },
      container_create: async (args) => c.create(args),
      container_start: async ({ name }) => c.start(name),
      container_stop: async (args) => c.stop(args),
      container_restart: async (args) => c.restart(args),
      container_kill: async ({ name, signal }) => c.kill(name, signal),
      container_wait: async ({ name, condition }, job) => c.wait(name, condition, job),
      container_attach: async (args, job) => c.attach(args, job),
      container_logs: async (args, job) => c.logs(args, job),
      container_list: async (args) => c.list(args),
      container_inspect: async ({ name, size }) => c.inspect(name, size),
      container_delete: async ({ name, force, link, volumes }) => c.remove(name, force, link, volumes),
      container_rename: async ({ name, newName }) => c.rename(name, newName),
      container_resize: async ({ name, height, width }) => c.resize(name, height, width),
      container_prune: async ({ filters }) => c.prune(filters),
      container_archive_stat: async ({ name, path }) => archives.stat(name, path),
      container_archive_get: async ({ name, path }, job) => archives.get(name, path, job),
      container_archive_put: async (args, job) => archives.put(args, job),
      container_exec_create: async ({ name, body }) => c.execs.create(name, body),
      container_exec_start: async ({ execId, detach, tty, consoleSize }, job) => c.execs.start(execId, detach, tty, consoleSize, job),
      container_exec_inspect: async ({ execId }) => c.execs.inspect(execId),
      container_exec_resize: async ({ execId, height, width }) => c.execs.resize(execId, height, width),
      container_pause: async ({ name }) => c.pause(name),
      container_unpause: async ({ name }) => c.unpause(name),
      container_top: async ({ name, psArgs }) => c.top(name, psArgs),
      container_stats: async ({ name, stream, oneShot }, job) => c.stats(name, stream, oneShot, job),
      container_update: async ({ name, body }) => c.update(name, body),
      exec_event: async ({ execId, pid, exitCode, failed }) => c.execs.event(execId, { pid, exitCode, failed }),
      container_changes: async ({ name }) => files.changes(name),
      container_export: async ({ name }, job) => files.export(name, job),
      container_commit: async (args) => files.commit(args),
      container_connect: async ({ network, container, aliases, ipv4 }) => c.connect(network, container, aliases, ipv4),
      container_disconnect: async ({ network, container, force }) => c.disconnect(network, container, force),
      version: async () => versionInfo(this.exec),
      info: async () =>
        systemInfo({
          engine: this.deps.engine,
          config: () => this.config,
          id: this.id,
          eventListeners: this.deps.eventListeners,
          threads: this.deps.threads,
          containers: () => this.containers.counts(),
          seccomp: this.seccomp,
        }),
    };
  }

  /** reload applies what can change without a restart (SIGHUP): log level, debug, labels, registry mirrors, insecure registries and the download/upload limits. */
  reload(next: DaemonConfig): void {
    this.config = {
      ...this.config,
      debug: next.debug,
      logLevel: next.logLevel,
      labels: next.labels,
      liveRestore: next.liveRestore,
      shutdownTimeout: next.shutdownTimeout,
      registryMirrors: next.registryMirrors,
      insecureRegistries: next.insecureRegistries,
      maxConcurrentDownloads: next.maxConcurrentDownloads,
      maxConcurrentUploads: next.maxConcurrentUploads,
    };
    this.deps.engine.call('registry_settings', registrySettingsOf(this.config)).catch((err: unknown) => logger.error(`Error reconfiguring the registries: ${(err as Error).message}`));
  }

  get current(): DaemonConfig {
    return this.config;
  }
}
