/**
 * Containers is the daemon's container layer (dockerd's daemon/{create,start,stop,kill,wait,
 * delete,rename}.go): it owns the records and the state machine on the main thread, and drives
 * the graph actor (root filesystems), the network actor (namespaces) and the exec actor
 * (runc through conmon) with jobs. Exits come back as `container_exited` jobs.
 *
 * State changes of one container are serialised (dockerd's container lock); the exit of a
 * container is handled outside that lock, so `stop` can wait for it while holding the lock.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { hostname as hostHostname } from 'node:os';
import { join } from 'node:path';
import type { DaemonConfig } from '../../config/config.js';
import type { Engine } from '../../engine/engine.js';
import type { Job } from '../../engine/job.js';
import type { ResultOf } from '../../protocol/jobs.js';
import { ConflictError, ForbiddenError, InvalidParameterError, NotFoundError, NotImplementedError, SystemError, toWire, withContext } from '../../errdefs/errors.js';
import type { Events } from '../../events/events.js';
import { logger } from '../../log/log.js';
import type {
  ContainerAttachArgs,
  ContainerLogsArgs,
  ContainersPruneReport,
  CreateArgs,
  ExitReport,
  ListArgs,
  RunLog,
  RunSpec,
  StopArgs,
  WaitCondition,
} from '../../protocol/types/containers.js';
import { nowRfc3339Nano, ZERO_TIME } from '../../protocol/time.js';
import { Filters } from '../../protocol/filters.js';
import { parseTimestamp } from '../../protocol/timestamps.js';
import { DEFAULT_SHM_SIZE, plan, type EndpointRequest } from './config.js';
import { MNT_DETACH, MS, native } from '../../native/native.js';
import { writeNetFiles } from './files.js';
import { parseSignal, validSignal } from './signals.js';
import { allCaps, effectiveCaps } from './caps.js';
import { noNewPrivileges } from './security.js';
import { LogOptError, jsonFileOptions } from '../../logdriver/options.js';
import { containerSeccomp, type DaemonProfile } from './seccomp.js';
import { ContainerStore, validName, zeroState, type ContainerRecord, type MountPoint } from './store.js';
import { planMounts, removeMounts, startMounts, stopMounts } from './mounts.js';
import type { Volumes } from '../volumes/service.js';
import { inspectDoc, select, summary } from './view.js';
import { Execs } from './exec.js';
import { HealthMonitor } from './health.js';
import { planUpdate, statsDoc } from './resources.js';
import { parseDetachKeys } from './detachKeys.js';
import type { EndpointSettings, PortMap } from '../../protocol/types/networks.js';

export interface ContainerDeps {
  engine: Engine;
  events: Events;
  config: () => DaemonConfig;
  graphDriver: string;
  defaultRuntime: string;
  volumes: Volumes;
  /** The daemon's seccomp profile (--seccomp-profile, else the distribution's). */
  seccomp: DaemonProfile;
}

/** What the daemon keeps in memory for a container, besides its record. */
interface Live {
  /** The tail of this container's queue of state changes (its lock). */
  queue: Promise<unknown>;
  /** Between exec_create and the record saying "running": an exit then waits for start. */
  starting: boolean;
  pendingExit: ExitReport | null;
  /** The runtime, namespace and mount clean-up after an exit (a start waits for it). */
  cleanup: Promise<void>;
  exitWaiters: Array<() => void>;
  removeWaiters: Array<() => void>;
  restartTimer: NodeJS.Timeout | null;
  /** The restart policy's back-off (dockerd: 100 ms doubling, reset after 10 s of running). */
  backoffMs: number;
  removing: boolean;
  /** Users of its root filesystem outside a run (cp, export, commit): an exit leaves it mounted. */
  rootfsUsers: number;
}

interface WaitResult {
  StatusCode: number;
  Error: { Message: string } | null;
}

const RUNNING_RESET_MS = 10_000;
const MAX_BACKOFF_MS = 60_000;

export class Containers {
  private readonly live = new Map<string, Live>();
  readonly execs: Execs;
  private readonly health: HealthMonitor;
  /** Set by shutdown: exits then are final (no restart policy until the next start). */
  private shuttingDown = false;
  readonly store: ContainerStore;

  constructor(private readonly d: ContainerDeps) {
    this.store = new ContainerStore(join(d.config().dataRoot, 'containers'));
    this.execs = new Execs({
      engine: d.engine,
      get: (ref) => this.store.get(ref),
      has: (id) => this.store.has(id),
      publish: (rec, action, extra) => this.publish(rec, action, extra),
    });
    this.health = new HealthMonitor({
      probe: (rec, cmd, ms) => this.execs.probe(rec, cmd, ms),
      publish: (rec, action) => this.publish(rec, action),
      save: (rec) => this.save(rec),
    });
  }

  private get engine(): Engine {
    return this.d.engine;
  }

  private rt(id: string): Live {
    let l = this.live.get(id);
    if (!l) {
      l = { queue: Promise.resolve(), starting: false, pendingExit: null, cleanup: Promise.resolve(), exitWaiters: [], removeWaiters: [], restartTimer: null, backoffMs: 0, removing: false, rootfsUsers: 0 };
      this.live.set(id, l);
    }
    return l;
  }

  /** locked runs fn after the container's earlier state changes (dockerd's container lock). */
  private locked<T>(rec: ContainerRecord, fn: () => Promise<T>): Promise<T> {
    const l = this.rt(rec.ID);
    // Queued behind a removal, an operation finds no container (and must not bring it back).
    const guarded = () => (this.store.has(rec.ID) ? fn() : Promise.reject(new NotFoundError(`No such container: ${rec.ID}`)));
    const run = l.queue.then(guarded, guarded);
    l.queue = run.catch(() => {});
    return run;
  }

  publish(rec: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.d.events.publish({
      Type: 'container',
      Action: action,
      Actor: { ID: rec.ID, Attributes: { ...(rec.Config.Labels ?? {}), image: rec.Config.Image, name: rec.Name.slice(1), ...extra } },
    });
  }

  /** save writes the record; one removed meanwhile (a late exit, a health probe) is not written back. */
  private async save(rec: ContainerRecord, isNew = false): Promise<void> {
    if (!isNew && !this.store.has(rec.ID)) return;
    await this.store.save(rec);
  }

  // ---- start-up: records against what the runtime has -------------------------------------

  /**
   * restore loads the records and reconciles them with the exec actor's containers: those
   * still running are adopted, those that ended while berthd was down get their real exit,
   * runtime leftovers without a record are removed, and restart policies are applied.
   */
  async restore(): Promise<void> {
    await this.store.load((msg) => logger.warn(msg));
    const runtime = new Map((await this.engine.call('exec_containers', {})).map((r) => [r.id, r]));
    const toStart: ContainerRecord[] = [];
    const leftNetns = new Set(await readdir(join(this.d.config().execRoot, 'netns')).catch(() => [] as string[]));
    const mounted = new Set((await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? ''));
    for (const rec of this.store.list()) {
      const r = runtime.get(rec.ID);
      runtime.delete(rec.ID);
      if (rec.State.Running || rec.State.Restarting) {
        if (r && r.status === 'running') {
          rec.State = { ...rec.State, Running: true, Restarting: false, Status: rec.State.Paused ? 'paused' : 'running', Pid: r.pid }; // still frozen if it was
          this.health.started(rec);
          await this.save(rec);
          continue;
        }
        // It ended while berthd was away: with its real exit code when conmon recorded one.
        const exit: ExitReport = r?.exitCode != null
          ? { id: rec.ID, exitCode: r.exitCode, oomKilled: r.oomKilled, finishedAt: r.finishedAt ?? nowRfc3339Nano() }
          : { id: rec.ID, exitCode: 255, oomKilled: false, finishedAt: nowRfc3339Nano() };
        rec.State.Running = true; // so the exit is processed as one
        await this.processExit(rec, exit, { restartPolicy: false });
      } else {
        // Stopped: whatever a crash left of its last run (runtime state, namespace, mount) goes.
        if (r) await this.engine.call('exec_delete', { id: rec.ID }).catch(() => {});
        if (leftNetns.has(rec.ID) || (rec.GraphDriver.Data?.MergedDir && mounted.has(rec.GraphDriver.Data.MergedDir)) || mounted.has(this.shmResourcePath(rec))) await this.releaseResources(rec);
      }
      if (this.shouldRestartOnBoot(rec)) toStart.push(rec);
    }
    for (const orphan of runtime.keys()) {
      logger.warn(`removing the runtime state of unknown container ${orphan}`);
      await this.engine.call('exec_delete', { id: orphan }).catch(() => {});
    }
    // Interfaces and ports of containers that no longer run (or no longer exist) go.
    for (const ep of await this.engine.call('network_endpoints', {}).catch(() => [])) {
      if (this.store.has(ep.containerId) && this.store.get(ep.containerId).State.Running) continue;
      await this.engine.call('release_interface', { containerId: ep.containerId, network: ep.networkId }).catch(() => {});
    }
    // Restart policies, in the background (dockerd starts them after its API is up).
    for (const rec of toStart) {
      void this.start(rec.ID).catch((err) => logger.error(`failed to start container ${rec.ID}: ${toWire(err).message}`));
    }
  }

  /**
   * shouldRestartOnBoot is dockerd's restart manager as a restarted daemon has it: a fresh one
   * (its count at 0), so `always` comes back even after a `docker stop` (the documented
   * difference from unless-stopped) and on-failure after any failure, retries used or not.
   */
  private shouldRestartOnBoot(rec: ContainerRecord): boolean {
    if (rec.State.Running) return false;
    const p = rec.HostConfig.RestartPolicy as { Name: string; MaximumRetryCount: number };
    if (p.Name === 'always') return true;
    if (p.Name === 'unless-stopped') return !rec.HasBeenManuallyStopped;
    if (p.Name === 'on-failure') return rec.State.ExitCode !== 0;
    return false;
  }

  /** shutdown stops the running containers (dockerd without --live-restore), concurrently. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    const cfg = this.d.config();
    for (const l of this.live.values()) if (l.restartTimer) clearTimeout(l.restartTimer);
    if (cfg.liveRestore) return;
    const running = this.store.list().filter((r) => r.State.Running);
    await Promise.all(
      running.map((rec) => {
        const t = Math.min((rec.Config.StopTimeout as number | undefined) ?? cfg.shutdownTimeout, cfg.shutdownTimeout);
        return this.stopContainer(rec, '', t, { manual: false }).catch((err) => logger.warn(`cannot stop container ${rec.ID}: ${toWire(err).message}`));
      }),
    );
    // Their namespaces and mounts go too, while the actors still take jobs.
    await Promise.all([...this.live.values()].map((l) => l.cleanup));
    // Nothing runs now: the bridges and rules go too (the next start makes them again).
    await this.engine.call('network_teardown', {}).catch((err) => logger.warn(`network teardown: ${toWire(err).message}`));
  }

  // ---- create -------------------------------------------------------------------------------

  async create(a: CreateArgs): Promise<{ Id: string; Warnings: string[] }> {
    if (!a.body || Object.keys(a.body).length === 0) throw new InvalidParameterError('Config cannot be empty in order to create a container');
    if (a.platform && !/^linux(\/|$)/.test(a.platform)) throw new InvalidParameterError(`"${a.platform}": unsupported platform: berth runs linux containers`);
    const imageName = typeof a.body.Image === 'string' ? a.body.Image : '';
    if (!imageName) {
      if (!a.body.Cmd || (Array.isArray(a.body.Cmd) && a.body.Cmd.length === 0)) throw new InvalidParameterError('No command specified');
      throw new NotImplementedError('berth does not create containers without an image');
    }
    const image = await this.engine.call('image_resolve', { name: imageName });
    const cfg = this.d.config();
    const p = plan(a.body, { Config: image.config }, this.d.defaultRuntime, { type: cfg.logDriver, config: cfg.logOpts });

    const id = randomBytes(32).toString('hex');
    const name = a.name ? validName(a.name) : this.store.generateName(id);
    this.store.reserve(name, id);
    try {
      if (!p.config.Hostname) p.config.Hostname = p.hostConfig.NetworkMode === 'host' ? hostHostname() : id.slice(0, 12);
      const mode = p.hostConfig.NetworkMode as string;
      if (mode.startsWith('container:') && this.store.has(this.idOf(mode.slice(10)))) {
        // dockerd records the other container by its ID, and gives this one its hostname.
        const other = this.store.get(mode.slice(10));
        p.hostConfig.NetworkMode = `container:${other.ID}`;
        p.config.Hostname = other.Config.Hostname;
        p.config.Domainname = other.Config.Domainname;
      }
      this.adaptNamespaceDonors(p.hostConfig);
      const networks = await this.plannedNetworks(p.hostConfig.NetworkMode as string, p.endpoint);
      p.hostConfig.Links = this.resolveLinks(p.hostConfig.Links as string[] | null, name);
      // --volumes-from, -v, --mount, --tmpfs and VOLUME checked; the volumes created (mounts.ts).
      // Its volumes are held for it until its record exists (or the create fails).
      let mountPoints: Record<string, MountPoint> = {};
      let rootfs: ResultOf<'rootfs_create'>;
      try {
        mountPoints = await planMounts(p.hostConfig, p.config, this.d.volumes, id, (ref) => this.store.get(ref));
        rootfs = await this.engine.call('rootfs_create', { id, image: image.id });
      } catch (err) {
        this.d.volumes.release(id);
        await this.dropAnonymousVolumes(id, mountPoints);
        throw err;
      }
      const rec: ContainerRecord = {
        ID: id,
        Created: nowRfc3339Nano(),
        Path: p.path,
        Args: p.args,
        Config: p.config,
        HostConfig: p.hostConfig as ContainerRecord['HostConfig'],
        State: zeroState(),
        Image: image.id,
        Name: name,
        RestartCount: 0,
        Driver: this.d.graphDriver,
        Platform: 'linux',
        LogPath: '',
        ResolvConfPath: '',
        HostnamePath: '',
        HostsPath: '',
        GraphDriver: rootfs.graphDriver,
        MountPoints: mountPoints,
        NetworkSettings: { Networks: networks, Ports: {}, SandboxKey: '' },
        HasBeenStartedBefore: false,
        HasBeenManuallyStopped: false,
      };
      try {
        await this.save(rec, true);
      } catch (err) {
        await this.engine.call('rootfs_remove', { id }).catch(() => {});
        this.d.volumes.release(id);
        await this.dropAnonymousVolumes(id, mountPoints);
        throw err;
      }
      this.store.add(rec);
      this.d.volumes.release(id);
      this.publish(rec, 'create');
      const warnings: string[] = [...p.warnings];
      if (p.hostConfig.NetworkMode === 'host' && (Object.keys(p.hostConfig.PortBindings as object).length || p.hostConfig.PublishAllPorts)) {
        warnings.push('Published ports are discarded when using host network mode');
      }
      return { Id: id, Warnings: warnings };
    } catch (err) {
      this.store.release(name);
      throw err;
    }
  }

  /** A create that failed removes the anonymous volumes it made (dockerd's cleanupContainer). */
  private async dropAnonymousVolumes(id: string, mountPoints: Record<string, MountPoint>): Promise<void> {
    const fake = { ID: id, MountPoints: mountPoints } as ContainerRecord;
    await removeMounts(this.d.volumes, fake, true).catch((err) => logger.warn(`volumes of the failed create ${id}: ${toWire(err).message}`));
  }

  /**
   * plannedNetworks is NetworkSettings.Networks of a new container: the network it will join,
   * with its endpoint settings still empty (a missing one fails the start, as in dockerd).
   */
  /** idOf is a reference's container ID, or '' when there is no such container. */
  private idOf(ref: string): string {
    try {
      return this.store.get(ref).ID;
    } catch {
      return '';
    }
  }

  private async plannedNetworks(mode: string, ep: EndpointRequest | null): Promise<Record<string, EndpointSettings>> {
    const empty = (aliases: string[] = [], ipv4 = ''): EndpointSettings => ({
      IPAMConfig: ipv4 ? { IPv4Address: ipv4 } : null, Links: null, Aliases: aliases.length ? aliases : null, NetworkID: '', EndpointID: '', Gateway: '',
      IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: '', DriverOpts: null,
    });
    if (mode === 'none' || mode === 'host') return { [mode]: empty() };
    if (mode.startsWith('container:')) return {};
    if (!ep) return {};
    let net;
    try {
      net = await this.engine.call('network_inspect', { name: ep.network });
    } catch (err) {
      // Networking off (-b none): the default is none, as there is no bridge.
      if (mode === 'default' && ep.network === 'bridge') return { none: empty() };
      // dockerd creates it anyway; the start says the network is not there.
      if (err instanceof NotFoundError) return { [ep.network]: empty(ep.aliases, ep.ipv4) };
      throw err;
    }
    if (ep.ipv4 && !net.IPAM.Config.some((c) => c.Subnet)) throw new InvalidParameterError('user specified IP address is supported only when connecting to networks with user configured subnets');
    return { [net.Name]: empty(ep.aliases, ep.ipv4) };
  }

  /**
   * resolveLinks turns --link "name[:alias]" into dockerd's stored form "/target:/self/alias";
   * a missing target is dockerd's 404.
   */
  private resolveLinks(links: string[] | null, self: string): string[] | null {
    if (!links || links.length === 0) return null;
    return links.map((l) => {
      const [target = '', alias] = l.split(':');
      let t: ContainerRecord;
      try {
        t = this.store.get(target);
      } catch (err) {
        // A 400, as dockerd (a 404 would send the docker CLI pulling the image).
        throw new InvalidParameterError(`could not get container for ${target}: ${toWire(err).message}`);
      }
      return `${t.Name}:${self}/${alias || t.Name.slice(1)}`;
    });
  }

  /**
   * linkInfo is what legacy links give a container on the default bridge (dockerd's): a hosts
   * line per target ("IP\talias id name") and the <ALIAS>_PORT… and _NAME variables. On a
   * user-defined network they give nothing here (names are the DNS server's there).
   */
  private linkInfo(rec: ContainerRecord): { hosts: string[]; env: string[] } {
    const links = (rec.HostConfig.Links as string[] | null) ?? [];
    const out = { hosts: [] as string[], env: [] as string[] };
    if (!links.length || !rec.NetworkSettings.Networks.bridge) return out;
    for (const l of links) {
      const [targetName = '', path = ''] = l.split(':');
      const alias = path.slice(path.lastIndexOf('/') + 1);
      const t = this.store.get(targetName);
      if (!t.State.Running) throw new InvalidParameterError(`Cannot link to a non running container: ${targetName} AS ${path}`);
      const ip = t.NetworkSettings.Networks.bridge?.IPAddress;
      if (!ip) throw new InvalidParameterError(`Cannot link to ${targetName}, as it does not belong to the default network`);
      const name = t.Name.slice(1);
      out.hosts.push(`${ip}\t${[alias, t.ID.slice(0, 12), name].filter((x, i, a) => a.indexOf(x) === i).join(' ')}`);
      const A = alias.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
      out.env.push(`${A}_NAME=${path}`);
      const ports = Object.keys((t.Config.ExposedPorts as Record<string, unknown> | undefined) ?? {})
        .map((k) => ({ port: Number(k.split('/')[0]), proto: k.split('/')[1] ?? 'tcp' }))
        .sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
      if (ports[0]) out.env.push(`${A}_PORT=${ports[0].proto}://${ip}:${ports[0].port}`);
      for (const p of ports) {
        const P = `${A}_PORT_${p.port}_${p.proto.toUpperCase()}`;
        out.env.push(`${P}=${p.proto}://${ip}:${p.port}`, `${P}_ADDR=${ip}`, `${P}_PORT=${p.port}`, `${P}_PROTO=${p.proto}`);
      }
      for (const e of t.Config.Env ?? []) {
        const [k, ...v] = e.split('=');
        if (k && v.length && k !== 'HOME' && k !== 'PATH') out.env.push(`${A}_ENV_${k}=${v.join('=')}`);
      }
    }
    return out;
  }

  // ---- start --------------------------------------------------------------------------------

  /** start resolves false when the container already runs (the API's 304). */
  async start(ref: string): Promise<boolean> {
    const rec = this.store.get(ref);
    return this.locked(rec, () => this.startLocked(rec, true));
  }

  /** resetCount: a start by the user (or at boot) begins the restart policy's count again, as dockerd's. */
  private async startLocked(rec: ContainerRecord, resetCount = false): Promise<boolean> {
    const l = this.rt(rec.ID);
    if (resetCount && !(rec.State.Running && !rec.State.Restarting)) {
      rec.RestartCount = 0;
      l.backoffMs = 0;
    }
    if (l.removing) throw new ConflictError(`container is marked for removal and cannot be started`);
    if (rec.State.Dead) throw new ConflictError(`cannot start a dead container`);
    if (rec.State.Running && !rec.State.Restarting) return false;
    if (l.restartTimer) {
      clearTimeout(l.restartTimer);
      l.restartTimer = null;
    }
    await l.cleanup;
    const dir = this.store.dir(rec.ID);
    const hc = rec.HostConfig;
    l.starting = true;
    let created = false;
    try {
      const { path: rootfs } = await this.engine.call('rootfs_mount', { id: rec.ID });
      const net = await this.joinNetworks(rec);
      const links = this.linkInfo(rec);
      await this.writeFiles(rec, net.addresses, net.embeddedDns, links.hosts);
      rec.LogPath = join(dir, `${rec.ID}-json.log`);
      const netns = net.netns;
      const spec = this.runSpec(rec, rootfs, netns);
      Object.assign(spec, await this.namespaceSpec(rec));
      Object.assign(spec, await startMounts(this.engine, this.d.volumes, rec, rootfs));
      spec.env.push(...links.env.filter((e) => !spec.env.some((x) => x.split('=')[0] === e.split('=')[0])));
      await this.engine.call('exec_create', { spec });
      created = true;
      const { pid } = await this.engine.call('exec_start', { id: rec.ID });
      rec.State = {
        ...rec.State,
        Status: 'running',
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: pid,
        ExitCode: 0,
        Error: '',
        StartedAt: nowRfc3339Nano(),
      };
      rec.HasBeenStartedBefore = true;
      rec.HasBeenManuallyStopped = false;
      this.health.started(rec);
      await this.save(rec);
      this.publish(rec, 'start');
    } catch (err) {
      l.starting = false;
      l.pendingExit = null;
      await this.startFailed(rec, err, created);
      throw this.translateStartError(rec, err);
    }
    l.starting = false;
    const pending = l.pendingExit;
    l.pendingExit = null;
    // Not awaited: its clean-up (--rm) takes this container's lock, which start holds.
    if (pending) void this.processExit(rec, pending).catch((err) => logger.error(`exit of container ${rec.ID}: ${toWire(err).message}`));
    return true;
  }

  /**
   * dockerd's translateContainerdStartErr: a command that is not there is 127 and a 400, one
   * that cannot be run is 126 and a 400; anything else keeps its kind (and exit code 128).
   */
  private translateStartError(rec: ContainerRecord, err: unknown): unknown {
    const msg = toWire(err).message;
    const lower = msg.toLowerCase();
    const code = startExitCode(rec, msg);
    if (code !== 128 || lower.includes('not a directory')) {
      return new InvalidParameterError(lower.includes('not a directory') ? `${msg}: Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type` : msg);
    }
    return err;
  }

  private async startFailed(rec: ContainerRecord, err: unknown, created: boolean): Promise<void> {
    this.health.stopped(rec, false);
    const msg = toWire(err).message;
    rec.State = { ...rec.State, Running: false, Restarting: false, Pid: 0, Error: msg, ExitCode: startExitCode(rec, msg), Status: rec.State.StartedAt === ZERO_TIME ? 'created' : 'exited' };
    if (created) await this.engine.call('exec_delete', { id: rec.ID }).catch(() => {});
    await this.releaseResources(rec);
    await this.save(rec).catch(() => {});
    // next-exit waiters go on waiting (dockerd's do: the CLI gives up on them after the start error).
    if (rec.HostConfig.AutoRemove) {
      await this.removeLocked(rec, true, true).catch((e) => logger.warn(`cannot remove container ${rec.ID}: ${toWire(e).message}`));
    }
  }

  private runSpec(rec: ContainerRecord, rootfs: string, netns: string | null): RunSpec {
    const hc = rec.HostConfig;
    const c = rec.Config;
    const n = (k: string) => Number(hc[k] ?? 0);
    // Privileged: every capability, whatever --cap-add/--cap-drop say (dockerd's TweakCapabilities).
    const capabilities = hc.Privileged ? allCaps() : effectiveCaps((hc.CapAdd as string[] | null) ?? [], (hc.CapDrop as string[] | null) ?? []);
    // dockerd's WithSeccomp: a profile's includes/excludes caps are checked against the bounding set.
    const seccomp = containerSeccomp(hc.SecurityOpt as string[] | null, Boolean(hc.Privileged), this.d.seccomp, { capabilities });
    return {
      id: rec.ID,
      rootfs,
      args: [rec.Path, ...rec.Args],
      env: processEnv(c.Env ?? [], c.Hostname, c.Tty),
      cwd: c.WorkingDir || '/',
      user: c.User,
      hostname: c.Hostname,
      domainname: c.Domainname,
      tty: c.Tty,
      openStdin: c.OpenStdin,
      stdinOnce: c.StdinOnce,
      readonlyRootfs: Boolean(hc.ReadonlyRootfs),
      hostsPath: rec.HostsPath,
      hostnamePath: rec.HostnamePath,
      resolvConfPath: rec.ResolvConfPath,
      netns,
      memory: n('Memory'),
      memorySwap: n('MemorySwap'),
      cpuShares: n('CpuShares'),
      nanoCpus: n('NanoCpus'),
      cpuQuota: n('CpuQuota'),
      cpuPeriod: n('CpuPeriod'),
      pidsLimit: n('PidsLimit'),
      // --memory-reservation, --kernel-memory, --oom-kill-disable, --cpuset-*, --cpu-rt-*, --blkio-*,
      // --device-*-bps/iops (the devices looked up by the exec actor), --cgroup-parent, --group-add.
      memoryReservation: n('MemoryReservation'),
      kernelMemory: n('KernelMemory'),
      oomKillDisable: hc.OomKillDisable === true,
      cpusetCpus: String(hc.CpusetCpus ?? ''),
      cpusetMems: String(hc.CpusetMems ?? ''),
      cpuRealtimePeriod: n('CpuRealtimePeriod'),
      cpuRealtimeRuntime: n('CpuRealtimeRuntime'),
      blkio: {
        weight: n('BlkioWeight'),
        weightDevice: (hc.BlkioWeightDevice as Array<{ Path: string; Weight: number }> | null) ?? [],
        readBps: (hc.BlkioDeviceReadBps as Array<{ Path: string; Rate: number }> | null) ?? [],
        writeBps: (hc.BlkioDeviceWriteBps as Array<{ Path: string; Rate: number }> | null) ?? [],
        readIOps: (hc.BlkioDeviceReadIOps as Array<{ Path: string; Rate: number }> | null) ?? [],
        writeIOps: (hc.BlkioDeviceWriteIOps as Array<{ Path: string; Rate: number }> | null) ?? [],
      },
      cgroupParent: String(hc.CgroupParent ?? ''),
      groupAdd: (hc.GroupAdd as string[] | null) ?? [],
      shmSize: n('ShmSize'),
      oomScoreAdj: n('OomScoreAdj'),
      maskedPaths: (hc.MaskedPaths as string[]) ?? [],
      readonlyPaths: (hc.ReadonlyPaths as string[]) ?? [],
      capabilities,
      privileged: Boolean(hc.Privileged),
      devices: (hc.Devices as RunSpec['devices'] | null) ?? [],
      deviceCgroupRules: (hc.DeviceCgroupRules as string[] | null) ?? [],
      sysctls: (hc.Sysctls as Record<string, string> | undefined) ?? {},
      noNewPrivileges: noNewPrivileges(hc.SecurityOpt as string[] | null),
      ...(seccomp ? { seccomp: seccomp as unknown as Record<string, unknown> } : {}),
      rlimits: ((hc.Ulimits as Array<{ Name: string; Hard: number; Soft: number }> | null) ?? []).map((u) => ({ type: `RLIMIT_${u.Name.toUpperCase()}`, hard: u.Hard, soft: u.Soft })),
      logPath: rec.LogPath,
      log: this.runLog(rec),
      labels: c.Labels ?? {},
      consoleSize: Array.isArray(hc.ConsoleSize) && (hc.ConsoleSize as number[])[0] ? [(hc.ConsoleSize as number[])[0]!, (hc.ConsoleSize as number[])[1]!] : null,
      ...(this.wantsInit(hc) ? { init: { path: this.d.config().initPath } } : {}),
    };
  }

  /**
   * runLog is the container's logging as the exec actor applies it: the json-file logger's
   * options checked as its New checks them (a bad one fails the start: dockerd's
   * "failed to initialize logging driver: …", a 500), its attributes made.
   */
  private runLog(rec: ContainerRecord): RunLog {
    const lc = (rec.HostConfig.LogConfig as { Type?: string; Config?: Record<string, string> } | undefined) ?? {};
    if (lc.Type === 'none') return { driver: 'none', maxSize: -1, maxFiles: 1, compress: false, attrs: '' };
    try {
      const o = jsonFileOptions(lc.Config ?? {}, {
        id: rec.ID, name: rec.Name, imageId: rec.Image, imageName: rec.Config.Image, path: rec.Path, args: rec.Args,
        env: rec.Config.Env ?? [], labels: rec.Config.Labels ?? {}, hostname: hostHostname(),
      });
      return { driver: 'json-file', ...o };
    } catch (err) {
      if (!(err instanceof LogOptError)) throw err;
      throw err.notImplemented ? new NotImplementedError(err.message) : new SystemError(`failed to initialize logging driver: ${err.message}`);
    }
  }

  /**
   * adaptNamespaceDonors is dockerd's adaptSharedNamespaceContainer and the look-ups of its
   * generateSecurityOpt at create: --ipc/--pid container:<x> recorded by ID, and one that is
   * not there a 400 (not looked up with a label option, --privileged or the host's ipc or pid).
   */
  private adaptNamespaceDonors(hc: Record<string, unknown>): void {
    const donor = (mode: unknown) => (typeof mode === 'string' && mode.startsWith('container:') ? mode.slice('container:'.length) : '');
    for (const key of ['PidMode', 'IpcMode']) {
      const ref = donor(hc[key]);
      if (ref && this.store.has(this.idOf(ref))) hc[key] = `container:${this.store.get(ref).ID}`;
    }
    const labelled = ((hc.SecurityOpt as string[] | null) ?? []).some((o) => o.split('=')[0] === 'label');
    if (labelled || hc.IpcMode === 'host' || hc.PidMode === 'host' || hc.Privileged) return;
    for (const key of ['IpcMode', 'PidMode']) {
      const ref = donor(hc[key]);
      if (ref && !this.store.has(this.idOf(ref))) throw new InvalidParameterError(`No such container: ${ref}`);
    }
  }

  /**
   * namespaceSpec is dockerd's WithNamespaces and setupIpcDirs for --ipc, --pid and --uts: the
   * host's namespace, a new one, or a running container's joined by /proc/<pid>/ns/<type>; and
   * /dev/shm: --ipc shareable mounts a tmpfs of ShmSize under the container's directory (its
   * ShmPath, which joiners bind-mount), host binds the host's, none has none. Its errors fail
   * the start as dockerd's createSpec's do (500, the container left as it was).
   */
  private async namespaceSpec(rec: ContainerRecord): Promise<Pick<RunSpec, 'pidns' | 'ipcns' | 'utsns' | 'shmPath'>> {
    const hc = rec.HostConfig;
    const ipcMode = typeof hc.IpcMode === 'string' ? hc.IpcMode : '';
    const pidMode = typeof hc.PidMode === 'string' ? hc.PidMode : '';
    const out: Pick<RunSpec, 'pidns' | 'ipcns' | 'utsns' | 'shmPath'> = { utsns: hc.UTSMode === 'host' ? 'host' : '' };
    let ipcDonor: ContainerRecord | null = null;
    if (ipcMode.startsWith('container:')) {
      ipcDonor = await this.ipcDonor(ipcMode.slice('container:'.length));
      out.ipcns = `/proc/${ipcDonor.State.Pid}/ns/ipc`;
    } else if (ipcMode === 'host') {
      out.ipcns = 'host';
    } else if (!['', 'private', 'shareable', 'none'].includes(ipcMode)) {
      throw new SystemError(`Invalid IPC mode: ${ipcMode}`);
    }
    if (pidMode.startsWith('container:')) {
      const ref = pidMode.slice('container:'.length);
      let donor: ContainerRecord;
      try {
        donor = this.namespaceDonor(ref);
      } catch (err) {
        throw new SystemError(`cannot join PID of a non running container: ${ref}: ${toWire(err).message}`);
      }
      checkDonorRunning(donor, '');
      out.pidns = `/proc/${donor.State.Pid}/ns/pid`;
    } else if (pidMode === 'host') {
      out.pidns = 'host';
    }
    // setupIpcDirs, then the /dev/shm mount as dockerd's WithMounts makes it.
    rec.ShmPath = '';
    if (ipcDonor) {
      rec.ShmPath = ipcDonor.ShmPath ?? '';
    } else if (ipcMode === 'host') {
      if (!(await stat('/dev/shm').then(() => true, () => false))) throw new SystemError('/dev/shm is not mounted, but must be for --ipc=host');
      rec.ShmPath = '/dev/shm';
    } else if ((ipcMode === 'shareable' || ipcMode === '') && !hasMountFor(rec, '/dev/shm')) {
      const shm = this.shmResourcePath(rec);
      await mkdir(shm, { recursive: true, mode: 0o700 });
      try {
        await native().mount('shm', shm, 'tmpfs', MS.NOEXEC | MS.NOSUID | MS.NODEV, `mode=1777,size=${Number(hc.ShmSize ?? 0) || DEFAULT_SHM_SIZE}`);
      } catch (err) {
        throw new SystemError(`mounting shm tmpfs: ${(err as Error).message}`);
      }
      rec.ShmPath = shm;
    }
    if (ipcMode === 'none') out.shmPath = null;
    else if (ipcMode !== 'private' && rec.ShmPath && !hasMountFor(rec, '/dev/shm')) out.shmPath = rec.ShmPath;
    return out;
  }

  /** dockerd's getIpcContainer: the donor must run and have a shareable /dev/shm (a directory). */
  private async ipcDonor(ref: string): Promise<ContainerRecord> {
    const what = `can't join IPC of container ${ref}`;
    let donor: ContainerRecord;
    try {
      donor = this.namespaceDonor(ref);
    } catch (err) {
      throw new SystemError(`${what}: ${toWire(err).message}`);
    }
    checkDonorRunning(donor, `${what}: `);
    const isDir = donor.ShmPath ? await stat(donor.ShmPath).then((s) => s.isDirectory(), () => false) : false;
    if (!isDir) throw new SystemError(`${what}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
    return donor;
  }

  /** dockerd's GetContainer, with its message for an empty reference. */
  private namespaceDonor(ref: string): ContainerRecord {
    if (!ref) throw new InvalidParameterError(`invalid name or ID supplied: ""`);
    return this.store.get(ref);
  }

  /** dockerd's ShmResourcePath: <container dir>/mounts/shm. */
  private shmResourcePath(rec: ContainerRecord): string {
    return join(this.store.dir(rec.ID), 'mounts', 'shm');
  }

  /** dockerd's UnmountIpcMount: the --ipc shareable tmpfs goes when the container stops. */
  private async unmountShm(rec: ContainerRecord): Promise<void> {
    const mode = rec.HostConfig.IpcMode;
    if ((mode !== 'shareable' && mode !== '') || hasMountFor(rec, '/dev/shm')) return;
    await native().umount2(this.shmResourcePath(rec), MNT_DETACH).catch((err: NodeJS.ErrnoException) => {
      // Not mounted (EINVAL) or never made (ENOENT): nothing to do.
      if (!/EINVAL|ENOENT|not mounted|No such file|Invalid argument/i.test(`${err.code ?? ''} ${err.message}`)) logger.warn(`cannot unmount the shm of ${rec.ID}: ${err.message}`);
    });
  }

  /**
   * dockerd's WithInit: HostConfig.Init, or the daemon's --init when it is null (not given), and
   * only in a pid namespace of the container's own (elsewhere there is an init already).
   */
  private wantsInit(hc: ContainerRecord['HostConfig']): boolean {
    const pidMode = typeof hc.PidMode === 'string' ? hc.PidMode : '';
    if (pidMode === 'host' || pidMode.startsWith('container:')) return false;
    return typeof hc.Init === 'boolean' ? hc.Init : this.d.config().init;
  }

  /**
   * writeFiles (re)writes the container's hostname, hosts and resolv.conf (at start, and when it
   * joins or leaves a network while it runs); one sharing another's namespace uses that one's.
   */
  private async writeFiles(rec: ContainerRecord, addresses: string[], embeddedDns: boolean, linkHosts: string[]): Promise<void> {
    const hc = rec.HostConfig;
    if (hc.NetworkMode.startsWith('container:')) {
      const other = this.store.get(hc.NetworkMode.slice(10));
      rec.HostnamePath = other.HostnamePath;
      rec.HostsPath = other.HostsPath;
      rec.ResolvConfPath = other.ResolvConfPath;
      return;
    }
    const extraHosts = (hc.ExtraHosts as string[] | null) ?? [];
    let hostGateway = '';
    if (extraHosts.some((h) => h.endsWith(':host-gateway'))) {
      const bridge = await this.engine.call('network_inspect', { name: 'bridge' }).catch(() => null);
      const subnet = bridge?.IPAM.Config[0]?.Subnet ?? '';
      hostGateway = bridge?.IPAM.Config[0]?.Gateway ?? subnet.replace(/\.0\/\d+$/, '.1');
      if (!hostGateway) throw new InvalidParameterError('unable to derive the IP value for host-gateway');
    }
    const files = await writeNetFiles({
      linkHosts,
      dir: this.store.dir(rec.ID),
      hostname: rec.Config.Hostname,
      domainname: rec.Config.Domainname,
      networkMode: hc.NetworkMode,
      addresses,
      embeddedDns,
      extraHosts,
      hostGateway,
      dns: (hc.Dns as string[]).length ? (hc.Dns as string[]) : this.d.config().dns,
      dnsSearch: (hc.DnsSearch as string[]).length ? (hc.DnsSearch as string[]) : this.d.config().dnsSearch,
      dnsOptions: hc.DnsOptions as string[],
    });
    rec.HostnamePath = files.hostnamePath;
    rec.HostsPath = files.hostsPath;
    rec.ResolvConfPath = files.resolvConfPath;
  }

  /**
   * joinNetworks gives a starting container its network: a namespace of its own (or the
   * host's, or another container's), its interface on each of its networks, and its published
   * ports on the first. NetworkSettings records what it got.
   */
  private async joinNetworks(rec: ContainerRecord): Promise<{ netns: string | null; addresses: string[]; embeddedDns: boolean }> {
    const hc = rec.HostConfig;
    const ns = rec.NetworkSettings;
    const mode = hc.NetworkMode;
    if (mode.startsWith('container:')) {
      const other = this.store.get(mode.slice('container:'.length));
      if (!other.State.Running) throw new ConflictError(`cannot join network of a non running container: ${other.ID}`);
      ns.SandboxKey = ''; // dockerd shows none: the namespace is the other container's
      return { netns: other.NetworkSettings.SandboxKey || null, addresses: [], embeddedDns: false };
    }
    const { path: netns } = await this.engine.call('netns_create', { id: rec.ID, mode: mode === 'host' ? 'host' : 'none' });
    ns.SandboxKey = netns ?? '';
    const addresses: string[] = [];
    let embeddedDns = false;
    const dns = (hc.Dns as string[]).length ? (hc.Dns as string[]) : this.d.config().dns;
    const joined: string[] = [];
    // "/target:/self/alias" → {name: target, alias}: DNS aliases on user-defined networks.
    const linkAliases = ((hc.Links as string[] | null) ?? []).map((l) => ({ name: l.split(':')[0]!.slice(1), alias: l.slice(l.lastIndexOf('/') + 1) }));
    for (const [name, ep] of Object.entries(ns.Networks)) {
      const r = await this.engine.call('allocate_interface', {
        containerId: rec.ID,
        containerName: rec.Name.slice(1),
        netns: netns ?? '',
        network: ep.NetworkID || name,
        aliases: ep.Aliases ?? [],
        ipv4: ep.IPAMConfig?.IPv4Address ?? '',
        dns,
        links: linkAliases,
      });
      ns.Networks[name] = r.settings;
      if (r.settings.IPAddress) {
        addresses.push(r.settings.IPAddress);
        joined.push(r.settings.NetworkID);
      }
      embeddedDns ||= r.embeddedDns;
    }
    ns.Ports = {};
    if (joined.length) {
      const exposed = Object.keys((rec.Config.ExposedPorts as Record<string, unknown> | undefined) ?? {});
      try {
        ns.Ports = await this.engine.call('allocate_port', {
          containerId: rec.ID,
          network: joined[0]!,
          bindings: hc.PortBindings as PortMap,
          exposed,
          publishAll: Boolean(hc.PublishAllPorts),
        });
      } catch (err) {
        const ep = Object.values(ns.Networks).find((e) => e.NetworkID === joined[0]);
        throw new SystemError(`driver failed programming external connectivity on endpoint ${rec.Name.slice(1)} (${ep?.EndpointID ?? ''}): ${toWire(err).message}`);
      }
    }
    return { netns, addresses, embeddedDns };
  }

  /** releaseResources unmounts the root filesystem and takes the container off its networks. */
  private async releaseResources(rec: ContainerRecord): Promise<void> {
    const ns = rec.NetworkSettings;
    for (const [name, ep] of Object.entries(ns.Networks)) {
      if (ep.EndpointID && ep.NetworkID) {
        await this.engine.call('release_interface', { containerId: rec.ID, network: ep.NetworkID, namespaceGoes: true }).catch((err) => logger.warn(`cannot take ${rec.ID} off network ${name}: ${toWire(err).message}`));
      }
      // What was this run's goes; the network it is on stays (dockerd's exited inspect).
      ns.Networks[name] = { ...ep, EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' };
    }
    ns.Ports = {};
    // Two actors, independent of each other: at the same time.
    await Promise.all([
      this.engine.call('netns_remove', { id: rec.ID }).catch((err) => logger.warn(`cannot remove the network namespace of ${rec.ID}: ${toWire(err).message}`)),
      stopMounts(this.d.volumes, rec),
      this.unmountShm(rec),
      this.rt(rec.ID).rootfsUsers > 0
        ? Promise.resolve()
        : this.engine.call('rootfs_unmount', { id: rec.ID }).catch((err) => logger.warn(`cannot unmount the root filesystem of ${rec.ID}: ${toWire(err).message}`)),
    ]);
  }

  /**
   * withRootfs runs fn with the container's root filesystem mounted (running or not), for cp,
   * export and commit; a container that stops meanwhile keeps it mounted until fn ends, and one
   * that is not running has it unmounted after. `record` resolves the name as dockerd does.
   */
  async withRootfs<T>(ref: string, fn: (rec: ContainerRecord, root: string) => Promise<T>): Promise<T> {
    const rec = this.store.get(ref);
    const l = this.rt(rec.ID);
    if (l.removing) throw new ConflictError(`Container ${rec.ID} is marked for removal and cannot be used`);
    l.rootfsUsers++;
    try {
      const { path } = await this.engine.call('rootfs_mount', { id: rec.ID });
      return await fn(rec, path);
    } finally {
      l.rootfsUsers--;
      // Decided under the container's lock, so a start cannot slip in between the check and the unmount.
      if (l.rootfsUsers === 0 && this.store.has(rec.ID)) {
        await this.locked(rec, async () => {
          // Between two runs of a restart policy it is not in use either (the next start mounts it again).
          if (l.rootfsUsers > 0 || (rec.State.Running && !rec.State.Restarting) || l.starting) return;
          await this.engine.call('rootfs_unmount', { id: rec.ID }).catch((err) => logger.warn(`cannot unmount the root filesystem of ${rec.ID}: ${toWire(err).message}`));
        }).catch(() => {});
      }
    }
  }

  /** record is the container `ref` names (404 "No such container" otherwise). */
  record(ref: string): ContainerRecord {
    return this.store.get(ref);
  }

  // ---- exits --------------------------------------------------------------------------------

  /** exited is the `container_exited` job: the exec actor saw a container's process end. */
  async exited(report: ExitReport): Promise<void> {
    if (!this.store.has(report.id)) return;
    const rec = this.store.get(report.id);
    const l = this.rt(rec.ID);
    if (l.starting) {
      l.pendingExit = report;
      return;
    }
    await this.processExit(rec, report);
  }

  private async processExit(rec: ContainerRecord, report: ExitReport, opts: { restartPolicy?: boolean } = {}): Promise<void> {
    if (!rec.State.Running) return;
    const l = this.rt(rec.ID);
    const ranMs = Date.now() - Date.parse(rec.State.StartedAt);
    rec.State = {
      ...rec.State,
      Status: 'exited',
      Running: false,
      Paused: false,
      Restarting: false,
      Pid: 0,
      ExitCode: report.exitCode,
      OOMKilled: report.oomKilled,
      FinishedAt: report.finishedAt,
    };
    this.execs.forget(rec.ID);
    this.health.stopped(rec);
    if (report.oomKilled) this.publish(rec, 'oom');
    this.publish(rec, 'die', { exitCode: String(report.exitCode) });
    l.cleanup = (async () => {
      await this.engine.call('exec_delete', { id: rec.ID }).catch((err) => logger.warn(`cannot delete the runtime state of ${rec.ID}: ${toWire(err).message}`));
      await this.releaseResources(rec);
    })();
    const restart = opts.restartPolicy !== false && !l.removing && this.restartDue(rec, ranMs);
    if (restart) {
      // The count goes up as the restarting state begins (dockerd's inspect shows 1 while waiting for run 2).
      rec.RestartCount++;
      rec.State = { ...rec.State, Status: 'restarting', Running: true, Restarting: true };
    }
    await this.save(rec).catch((err) => logger.error(`cannot save container ${rec.ID}: ${toWire(err).message}`));
    for (const w of l.exitWaiters.splice(0)) w();
    if (restart) {
      l.backoffMs = ranMs >= RUNNING_RESET_MS ? 100 : Math.min(Math.max(l.backoffMs * 2, 100), MAX_BACKOFF_MS);
      l.restartTimer = setTimeout(() => {
        l.restartTimer = null;
        void this.locked(rec, () => this.startLocked(rec)).catch((err) => logger.error(`restart of container ${rec.ID} failed: ${toWire(err).message}`));
      }, l.backoffMs);
      return;
    }
    if (rec.HostConfig.AutoRemove && !l.removing) {
      await l.cleanup;
      await this.locked(rec, () => this.removeLocked(rec, true, true)).catch((err) => logger.warn(`cannot remove container ${rec.ID}: ${toWire(err).message}`));
    }
  }

  private restartDue(rec: ContainerRecord, _ranMs: number): boolean {
    if (rec.HasBeenManuallyStopped || this.shuttingDown) return false;
    const p = rec.HostConfig.RestartPolicy as { Name: string; MaximumRetryCount: number };
    if (p.Name === 'always' || p.Name === 'unless-stopped') return true;
    if (p.Name === 'on-failure') return rec.State.ExitCode !== 0 && (p.MaximumRetryCount === 0 || rec.RestartCount < p.MaximumRetryCount);
    return false;
  }

  /** untilExit resolves when the container's current run has been processed as exited. */
  private untilExit(rec: ContainerRecord, ms: number): Promise<boolean> {
    if (!rec.State.Running || rec.State.Restarting) return Promise.resolve(true);
    const l = this.rt(rec.ID);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      l.exitWaiters.push(done);
      if (ms >= 0) {
        timer = setTimeout(() => {
          l.exitWaiters.splice(l.exitWaiters.indexOf(done) >>> 0, 1);
          resolve(false);
        }, ms);
      }
    });
  }

  // ---- stop, kill, restart ------------------------------------------------------------------

  async stop(a: StopArgs): Promise<boolean> {
    const rec = this.store.get(a.name);
    if (a.signal) parseSignal(a.signal);
    return this.locked(rec, async () => {
      if (!rec.State.Running) return false;
      await this.stopContainer(rec, a.signal, a.timeout, { manual: true });
      return true;
    });
  }

  /**
   * stopContainer sends the stop signal, waits up to `timeout` seconds (negative: forever),
   * then SIGKILL; the stop event follows the die event, as in dockerd.
   */
  private async stopContainer(rec: ContainerRecord, signal: string, timeout: number | null, o: { manual: boolean }): Promise<void> {
    const l = this.rt(rec.ID);
    if (o.manual) {
      rec.HasBeenManuallyStopped = true;
      await this.save(rec);
    }
    if (rec.State.Restarting) {
      // Between two runs of a restart policy: cancel the next one.
      if (l.restartTimer) clearTimeout(l.restartTimer);
      l.restartTimer = null;
      rec.State = { ...rec.State, Running: false, Restarting: false, Status: 'exited' };
      await this.save(rec);
      this.publish(rec, 'stop');
      return;
    }
    const sig = parseSignal(signal || rec.Config.StopSignal || 'SIGTERM');
    const wait = timeout ?? (rec.Config.StopTimeout as number | undefined) ?? 10;
    if (sig !== 9) {
      await this.signal(rec, sig).catch((err) => logger.debug(`stop signal to ${rec.ID} failed: ${toWire(err).message}`));
      if (await this.untilExit(rec, wait < 0 ? -1 : wait * 1000)) {
        this.publish(rec, 'stop');
        return;
      }
    }
    // A frozen container cannot act on SIGKILL either: thaw it first (dockerd's unpause event).
    if (rec.State.Paused) await this.resume(rec, true).catch((err) => logger.warn(`cannot unpause ${rec.ID}: ${toWire(err).message}`));
    await this.signal(rec, 9).catch(() => {});
    if (!(await this.untilExit(rec, 30_000))) throw new SystemError(`container ${rec.ID} did not exit within 30 seconds of SIGKILL`);
    this.publish(rec, 'stop');
  }

  // ---- top, stats, update -------------------------------------------------------------------

  async top(name: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const rec = this.store.get(name);
    if (!rec.State.Running || rec.State.Restarting) throw new ConflictError(`Container ${rec.ID} is not running`);
    return this.engine.call('exec_top', { id: rec.ID, psArgs });
  }

  /**
   * stats writes one document a second while the client reads (stream), or one: a second
   * reading a second after the first, so precpu_stats is filled (dockerd's stream=false), or
   * at once with one-shot. A container that does not run gets dockerd's zero document.
   */
  async stats(name: string, stream: boolean, oneShot: boolean, job: Job): Promise<void> {
    const rec = this.store.get(name);
    const out = job.stdout.stream!;
    out.begin();
    // Only a container with interfaces of its own has a networks key (none and host have none).
    const withNetworks = () => Object.entries(rec.NetworkSettings.Networks).some(([net, ep]) => ep.EndpointID && net !== 'none' && net !== 'host');
    const read = async () => {
      if (!rec.State.Running || rec.State.Restarting || !this.store.has(rec.ID)) return null;
      try {
        return { read: nowRfc3339Nano(), sample: await this.engine.call('exec_stats', { id: rec.ID, pid: rec.State.Pid, networks: withNetworks() }) };
      } catch {
        return null; // it stopped between the check and the reading
      }
    };
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const onAbort = () => {
          clearTimeout(t);
          resolve();
        };
        // The listener goes with its timer: a long stream must not pile them up on the signal.
        const t = setTimeout(() => {
          job.signal.removeEventListener('abort', onAbort);
          resolve();
        }, ms);
        job.signal.addEventListener('abort', onAbort, { once: true });
      });
    const emit = (cur: Awaited<ReturnType<typeof read>>, prev: Awaited<ReturnType<typeof read>>) => out.write(JSON.stringify(statsDoc(rec.Name, rec.ID, cur, prev)) + '\n');
    if (!stream) {
      let prev = null;
      let cur = await read();
      if (cur && !oneShot) {
        await sleep(1000);
        prev = cur;
        cur = await read();
      }
      await emit(cur, cur ? prev : null);
      return;
    }
    // At most a day of readings per request; a client normally goes long before.
    let prev: Awaited<ReturnType<typeof read>> = null;
    for (let i = 0; i < 86_400 && !job.signal.aborted; i++) {
      const cur = await read();
      await emit(cur, cur ? prev : null);
      prev = cur;
      await sleep(1000);
    }
  }

  async update(name: string, body: Record<string, unknown>): Promise<{ Warnings: string[] | null }> {
    const rec = this.store.get(name);
    return this.locked(rec, async () => {
      const p = planUpdate(rec.ID, rec.HostConfig, body);
      if (rec.State.Running && !rec.State.Restarting) {
        try {
          await this.engine.call('exec_update', { id: rec.ID, resources: p.resources });
        } catch (err) {
          throw withContext(err, `Cannot update container ${rec.ID}: `);
        }
      }
      rec.HostConfig = p.hostConfig as ContainerRecord['HostConfig'];
      await this.save(rec);
      this.publish(rec, 'update');
      return { Warnings: p.warnings };
    });
  }

  // ---- pause, unpause -----------------------------------------------------------------------

  async pause(name: string): Promise<void> {
    const rec = this.store.get(name);
    await this.locked(rec, async () => {
      if (!rec.State.Running) throw new ConflictError(`Container ${rec.ID} is not running`);
      if (rec.State.Restarting) throw new ConflictError(`Container ${rec.ID} is restarting, wait until the container is running`);
      if (rec.State.Paused) throw new ConflictError(`Container ${rec.ID} is already paused`);
      await this.engine.call('exec_pause', { id: rec.ID });
      rec.State = { ...rec.State, Paused: true, Status: 'paused' };
      await this.save(rec);
      this.publish(rec, 'pause');
    });
  }

  async unpause(name: string): Promise<void> {
    const rec = this.store.get(name);
    await this.locked(rec, async () => {
      // dockerd answers this one with a 500.
      if (!rec.State.Paused) throw new SystemError(`Container ${rec.ID} is not paused`);
      await this.resume(rec, true);
    });
  }

  /** resume thaws the container; `event` says whether users see it (a kill's thaw is silent in dockerd). */
  private async resume(rec: ContainerRecord, event: boolean): Promise<void> {
    await this.engine.call('exec_resume', { id: rec.ID });
    rec.State = { ...rec.State, Paused: false, Status: rec.State.Running ? 'running' : rec.State.Status };
    await this.save(rec);
    if (event) this.publish(rec, 'unpause');
  }

  private async signal(rec: ContainerRecord, sig: number): Promise<void> {
    this.publish(rec, 'kill', { signal: String(sig) });
    await this.engine.call('exec_kill', { id: rec.ID, signal: String(sig) });
  }

  async kill(name: string, signal: string): Promise<void> {
    let rec: ContainerRecord;
    try {
      rec = this.store.get(name);
    } catch (err) {
      throw withContext(err, `Cannot kill container: ${name}: `);
    }
    const sig = parseSignal(signal || 'KILL');
    if (!validSignal(sig)) throw new SystemError(`Cannot kill container: ${name}: The linux daemon does not support signal ${sig}`);
    if (!rec.State.Running) throw new ConflictError(`Cannot kill container: ${name}: Container ${rec.ID} is not running`);
    if (rec.State.Restarting) throw new ConflictError(`Cannot kill container: ${name}: Container ${rec.ID} is restarting, wait until the container is running`);
    try {
      await this.signal(rec, sig);
    } catch (err) {
      throw withContext(err, `Cannot kill container: ${name}: `);
    }
    // SIGKILL returns when the container is gone (dockerd's Kill waits for it); frozen, it would wait for ever.
    if (sig === 9) {
      if (rec.State.Paused) await this.resume(rec, false).catch(() => {});
      await this.untilExit(rec, 10_000);
    }
  }

  async restart(a: StopArgs): Promise<void> {
    const rec = this.store.get(a.name);
    await this.locked(rec, async () => {
      if (rec.State.Running) await this.stopContainer(rec, a.signal, a.timeout, { manual: true });
      try {
        await this.startLocked(rec);
      } catch (err) {
        throw withContext(err, `Cannot restart container ${a.name}: `);
      }
      this.publish(rec, 'restart');
    });
  }

  // ---- wait ---------------------------------------------------------------------------------

  /** wait writes {StatusCode, Error} when the condition is met; the stream begins at once. */
  async wait(name: string, condition: WaitCondition, job: Job): Promise<void> {
    const rec = this.store.get(name);
    const l = this.rt(rec.ID);
    const out = job.stdout.stream!;
    out.begin();
    // A failed start's error goes to not-running waiters (the container never ran), not removed ones.
    const result = (): WaitResult => ({ Error: condition !== 'removed' && rec.State.Error ? { Message: rec.State.Error } : null, StatusCode: rec.State.ExitCode });
    let answer: WaitResult;
    if (condition === 'not-running' && !rec.State.Running) answer = result();
    else {
      const list = condition === 'removed' ? l.removeWaiters : l.exitWaiters;
      const ok = await new Promise<boolean>((resolve) => {
        const done = () => resolve(true);
        list.push(done);
        job.signal.addEventListener('abort', () => {
          list.splice(list.indexOf(done) >>> 0, 1);
          resolve(false);
        }, { once: true });
      });
      if (!ok) return;
      answer = result();
    }
    await out.write(JSON.stringify(answer) + '\n');
  }

  // ---- attach, logs, resize -----------------------------------------------------------------

  /** attach hands the job's streams to the exec actor, which relays the container's stdio. */
  async attach(a: ContainerAttachArgs, job: Job): Promise<void> {
    const rec = this.store.get(a.name);
    const detachKeys = parseDetachKeys(a.detachKeys);
    if (!a.logs && !a.stream) throw new InvalidParameterError('at least one of logs or stream must be set');
    if (a.logs && readsNoLogs(rec)) throw new NotImplementedError('configured logging driver does not support reading');
    if (a.stream) this.publish(rec, 'attach');
    const run = this.engine.job('exec_attach', {
      id: rec.ID,
      logs: a.logs,
      logPath: rec.LogPath || join(this.store.dir(rec.ID), `${rec.ID}-json.log`),
      stream: a.stream,
      stdin: a.stdin && rec.Config.OpenStdin,
      stdinOnce: rec.Config.StdinOnce,
      stdout: a.stdout,
      stderr: a.stderr,
      tty: rec.Config.Tty,
      detachKeys,
    }, { stdoutPort: job.stdout.takePort(), stdinPort: job.stdin.takePort(), signal: job.signal, from: 'daemon' });
    const { detached } = (await this.engine.run(run)) as { detached: boolean };
    if (detached) this.publish(rec, 'detach');
  }

  async logs(a: ContainerLogsArgs, job: Job): Promise<void> {
    const rec = this.store.get(a.name);
    if (!a.stdout && !a.stderr) throw new InvalidParameterError('Bad parameters: you must choose at least one stream');
    if (readsNoLogs(rec)) throw new NotImplementedError('configured logging driver does not support reading');
    const tail = a.tail === '' || a.tail === 'all' ? -1 : /^\d+$/.test(a.tail) ? Number(a.tail) : -1;
    const since = a.since ? unixNanos(a.since) : '';
    const until = a.until ? unixNanos(a.until) : '';
    const run = this.engine.job('exec_logs', {
      id: rec.ID,
      logPath: rec.LogPath || join(this.store.dir(rec.ID), `${rec.ID}-json.log`),
      follow: a.follow && rec.State.Running,
      stdout: a.stdout,
      stderr: a.stderr,
      since,
      until,
      timestamps: a.timestamps,
      details: a.details,
      tail,
      tty: rec.Config.Tty,
    }, { stdoutPort: job.stdout.takePort(), signal: job.signal, from: 'daemon' });
    await this.engine.run(run);
  }

  async resize(name: string, height: number, width: number): Promise<void> {
    const rec = this.store.get(name);
    if (!rec.State.Running) throw new ConflictError(`Container ${rec.ID} is not running`);
    await this.engine.call('exec_resize', { id: rec.ID, height, width });
    this.publish(rec, 'resize', { height: String(height), width: String(width) });
  }

  // ---- remove, rename, prune ----------------------------------------------------------------

  async remove(name: string, force: boolean, link: boolean, volumes = false): Promise<void> {
    if (link) throw new NotImplementedError('berth does not implement links yet (planned: #5)');
    const rec = this.store.get(name);
    const l = this.rt(rec.ID);
    if (l.removing) throw new ConflictError(`removal of container ${name} is already in progress`);
    if (rec.State.Running && !force) {
      if (rec.State.Paused) throw new ConflictError(`You cannot remove a paused container ${rec.ID}. Unpause and then stop the container before attempting removal or force remove`);
      if (rec.State.Restarting) throw new ConflictError(`You cannot remove a restarting container ${rec.ID}. Stop the container before attempting removal or force remove`);
      throw new ConflictError(`You cannot remove a running container ${rec.ID}. Stop the container before attempting removal or force remove`);
    }
    await this.locked(rec, () => this.removeLocked(rec, force, volumes));
  }

  /** volumes: `rm -v` (and --rm) removes the container's anonymous volumes too. */
  private async removeLocked(rec: ContainerRecord, force: boolean, volumes = false): Promise<void> {
    const l = this.rt(rec.ID);
    if (!this.store.has(rec.ID) || l.removing) return;
    if (rec.State.Paused && !force) throw new ConflictError(`You cannot remove a paused container ${rec.ID}. Unpause and then stop the container before attempting removal or force remove`);
    if (rec.State.Running && !force) throw new ConflictError(`You cannot remove a running container ${rec.ID}. Stop the container before attempting removal or force remove`);
    // A cp, export or commit reading its files: the layer must not go from under it.
    if (l.rootfsUsers > 0) throw new ConflictError(`unable to remove container ${rec.ID}: its filesystem is in use by a copy, export or commit; try again when it ends`);
    l.removing = true;
    try {
      if (l.restartTimer) {
        clearTimeout(l.restartTimer);
        l.restartTimer = null;
      }
      if (rec.State.Running && !rec.State.Restarting) {
        await this.signal(rec, 9).catch(() => {});
        if (rec.State.Paused) await this.resume(rec, false).catch(() => {});
        if (!(await this.untilExit(rec, 30_000))) throw new SystemError(`Could not kill running container ${rec.ID}, cannot remove - container did not exit`);
      }
      rec.State = { ...rec.State, Running: false, Restarting: false };
      await l.cleanup;
      await this.engine.call('exec_delete', { id: rec.ID }).catch(() => {});
      await this.engine.call('rootfs_remove', { id: rec.ID });
      await this.store.remove(rec);
    } catch (err) {
      l.removing = false;
      throw new SystemError(`unable to remove container ${rec.ID}: ${toWire(err).message}`);
    }
    await removeMounts(this.d.volumes, rec, volumes).catch((err) => logger.error(toWire(err).message));
    this.health.stopped(rec, false);
    this.publish(rec, 'destroy');
    for (const w of l.removeWaiters.splice(0)) w();
    for (const w of l.exitWaiters.splice(0)) w();
    this.live.delete(rec.ID);
  }

  async rename(oldName: string, newName: string): Promise<void> {
    if (!oldName || !newName) throw new InvalidParameterError('Neither old nor new names may be empty');
    const rec = this.store.get(oldName);
    let name: string;
    try {
      name = validName(newName.startsWith('/') ? newName : `/${newName}`);
    } catch (err) {
      throw withContext(err, 'Error when allocating new name: ');
    }
    if (name === rec.Name) throw new InvalidParameterError('Renaming a container with the same name as its current name');
    try {
      this.store.reserve(name, rec.ID);
    } catch (err) {
      throw withContext(err, 'Error when allocating new name: ');
    }
    const old = rec.Name;
    rec.Name = name;
    try {
      await this.save(rec);
    } catch (err) {
      rec.Name = old;
      this.store.release(name);
      throw err;
    }
    this.store.release(old);
    this.publish(rec, 'rename', { oldName: old });
  }

  async prune(filters: string | undefined): Promise<ContainersPruneReport> {
    const f = Filters.parse(filters);
    for (const k of f.keys()) if (k !== 'label' && k !== 'label!' && k !== 'until') throw new InvalidParameterError(`Invalid filter '${k}'`);
    let until: bigint | null = null;
    const u = f.get('until')[0];
    if (u !== undefined) {
      until = parseTimestamp(u, Date.now());
      if (until === null) throw new SystemError(`failed to parse value as time or duration: ${JSON.stringify(u)}`);
    }
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const rec of this.store.list()) {
      if (rec.State.Running || this.rt(rec.ID).removing) continue;
      if (until !== null && BigInt(Date.parse(rec.Created)) * 1_000_000n >= until) continue;
      if (!f.matchKVList('label', rec.Config.Labels ?? {})) continue;
      if (f.has('label!') && f.get('label!').some((v) => labelMatches(v, rec.Config.Labels ?? {}))) continue;
      const size = await this.engine.call('rootfs_usage', { id: rec.ID }).catch(() => 0);
      try {
        await this.locked(rec, () => this.removeLocked(rec, false));
      } catch (err) {
        logger.warn(`prune: cannot remove container ${rec.ID}: ${toWire(err).message}`);
        continue;
      }
      deleted.push(rec.ID);
      reclaimed += size;
    }
    this.d.events.publish({ Type: 'container', Action: 'prune', Actor: { ID: '', Attributes: { reclaimed: String(reclaimed) } } });
    return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }

  // ---- networks -----------------------------------------------------------------------------

  /** connect puts a container on one more network (now, if it runs; at its next start otherwise). */
  async connect(network: string, ref: string, aliases: string[], ipv4: string): Promise<void> {
    const rec = this.store.get(ref);
    const net = await this.engine.call('network_inspect', { name: network });
    await this.locked(rec, async () => {
      const mode = rec.HostConfig.NetworkMode;
      if (mode === 'host' || net.Driver === 'host') throw new InvalidParameterError('container cannot be disconnected from host network or connected to host network');
      if (mode === 'none' || net.Driver === 'null') throw new InvalidParameterError('container cannot be connected to multiple networks with one of the networks in private (none) mode');
      if (mode.startsWith('container:')) throw new ForbiddenError('container sharing network namespace with another container cannot be connected to any other network');
      if (rec.NetworkSettings.Networks[net.Name]) throw new ForbiddenError(`endpoint with name ${rec.Name.slice(1)} already exists in network ${net.Name}`);
      if (net.Name === 'bridge' && aliases.length) throw new InvalidParameterError('network-scoped alias is supported only for containers in user defined networks');
      const settings: EndpointSettings = {
        IPAMConfig: ipv4 ? { IPv4Address: ipv4 } : null, Links: null, Aliases: aliases.length ? aliases : null, NetworkID: net.Id, EndpointID: '', Gateway: '',
        IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: '', DriverOpts: null,
      };
      if (rec.State.Running) {
        const r = await this.engine.call('allocate_interface', {
          containerId: rec.ID, containerName: rec.Name.slice(1), netns: rec.NetworkSettings.SandboxKey, network: net.Id, aliases, ipv4, dns: this.d.config().dns, links: [],
        });
        rec.NetworkSettings.Networks[net.Name] = r.settings;
        await this.refreshFiles(rec);
      } else {
        rec.NetworkSettings.Networks[net.Name] = settings;
      }
      await this.save(rec);
    });
  }

  /** refreshFiles rewrites a running container's hosts and resolv.conf after a connect or disconnect. */
  private async refreshFiles(rec: ContainerRecord): Promise<void> {
    const eps = Object.entries(rec.NetworkSettings.Networks).filter(([, e]) => e.IPAddress);
    const embedded = eps.some(([name]) => name !== 'bridge');
    await this.writeFiles(rec, eps.map(([, e]) => e.IPAddress), embedded, this.linkInfo(rec).hosts);
  }

  async disconnect(network: string, ref: string, force: boolean): Promise<void> {
    let rec: ContainerRecord;
    try {
      rec = this.store.get(ref);
    } catch (err) {
      if (!force) throw err;
      throw new NotFoundError(`endpoint ${ref} not found`);
    }
    const net = await this.engine.call('network_inspect', { name: network });
    await this.locked(rec, async () => {
      const ep = rec.NetworkSettings.Networks[net.Name];
      if (!ep) throw new SystemError(`container ${rec.ID} is not connected to network ${net.Name}`);
      if (rec.State.Running) await this.engine.call('release_interface', { containerId: rec.ID, network: net.Id });
      delete rec.NetworkSettings.Networks[net.Name];
      if (rec.State.Running) await this.refreshFiles(rec);
      await this.save(rec);
    });
  }

  // ---- views --------------------------------------------------------------------------------

  async inspect(name: string, size: boolean): Promise<Record<string, unknown>> {
    const rec = this.store.get(name);
    const l = this.live.get(rec.ID);
    let sizes: { sizeRw?: number; sizeRootFs?: number } = {};
    if (size) {
      const rw = await this.engine.call('rootfs_usage', { id: rec.ID }).catch(() => 0);
      const image = await this.engine.call('image_inspect', { name: rec.Image }).catch(() => ({ Size: 0 }));
      sizes = { sizeRw: rw, sizeRootFs: rw + Number((image as { Size?: number }).Size ?? 0) };
    }
    return inspectDoc(rec, { removing: Boolean(l?.removing), execIds: this.execs.idsOf(rec.ID), ...sizes });
  }

  async list(a: ListArgs): Promise<Record<string, unknown>[]> {
    const picked = await select(this.store.list(), { all: a.all, limit: a.limit, filters: a.filters }, {
      removing: (rec) => Boolean(this.live.get(rec.ID)?.removing),
      get: (ref) => this.store.get(ref),
      ancestors: async (ref) => {
        try {
          return [(await this.engine.call('image_resolve', { name: ref })).id];
        } catch {
          return [];
        }
      },
    });
    const out: Record<string, unknown>[] = [];
    for (const rec of picked) {
      let sizes: { rw: number; rootFs: number } | undefined;
      if (a.size) {
        const rw = await this.engine.call('rootfs_usage', { id: rec.ID }).catch(() => 0);
        const image = await this.engine.call('image_inspect', { name: rec.Image }).catch(() => ({ Size: 0 }));
        sizes = { rw, rootFs: rw + Number((image as { Size?: number }).Size ?? 0) };
      }
      out.push(summary(rec, Boolean(this.live.get(rec.ID)?.removing), sizes));
    }
    return out;
  }

  /** Which containers use these images (the graph asks before deleting one). */
  imageUsers(ids: string[]): Record<string, { running: string[]; stopped: string[] }> {
    const out: Record<string, { running: string[]; stopped: string[] }> = Object.fromEntries(ids.map((id) => [id, { running: [], stopped: [] }]));
    for (const rec of this.store.list()) {
      const u = out[rec.Image];
      if (u) (rec.State.Running ? u.running : u.stopped).push(rec.ID);
    }
    return out;
  }

  counts(): { total: number; running: number; paused: number; stopped: number } {
    let running = 0;
    let paused = 0;
    const all = this.store.list();
    for (const r of all) {
      if (r.State.Paused) paused++;
      else if (r.State.Running) running++;
    }
    return { total: all.length, running, paused, stopped: all.length - running - paused };
  }
}

function labelMatches(v: string, labels: Record<string, string>): boolean {
  const i = v.indexOf('=');
  return i < 0 ? v in labels : labels[v.slice(0, i)] === v.slice(i + 1);
}

/** unixNanos reads dockerd's "seconds[.nanoseconds]" (the CLI converts --since/--until to it). */
function unixNanos(v: string): string {
  const [s, n] = v.split(/\.(.*)/s, 2) as [string, string | undefined];
  for (const part of n === undefined ? [s] : [s, n]) {
    if (!/^[+-]?\d+$/.test(part)) throw new SystemError(`strconv.ParseInt: parsing ${JSON.stringify(part)}: invalid syntax`);
  }
  return (BigInt(s) * 1_000_000_000n + BigInt((n ?? '').padEnd(9, '0').slice(0, 9) || '0')).toString();
}

/** The exit code dockerd records for a start that failed (see translateStartError). */
function startExitCode(rec: ContainerRecord, msg: string): number {
  const lower = msg.toLowerCase();
  if (lower.includes(rec.Path.toLowerCase()) && (lower.includes('executable file not found') || lower.includes('no such file or directory'))) return 127;
  if (lower.includes('permission denied')) return 126;
  if (lower.includes('not a directory')) return 127;
  return 128;
}

/**
 * The process environment as dockerd builds it: PATH, HOSTNAME, TERM (a tty), then the
 * container's Env, each of which replaces an earlier variable of its name in place.
 */
function processEnv(env: string[], hostname: string, tty: boolean): string[] {
  const out = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOSTNAME=${hostname}`];
  if (tty) out.push('TERM=xterm');
  for (const e of env) {
    // An entry without "=" (`-e NAME` with NAME unset in the client) is not passed on.
    if (!e.includes('=')) continue;
    const key = e.slice(0, e.indexOf('='));
    const at = out.findIndex((x) => x.slice(0, x.indexOf('=')) === key);
    if (at >= 0) out[at] = e;
    else out.push(e);
  }
  return out;
}

/** dockerd's ErrReadLogsNotSupported: the none driver keeps nothing to read (501). */
function readsNoLogs(rec: ContainerRecord): boolean {
  return (rec.HostConfig.LogConfig as { Type?: string } | undefined)?.Type === 'none';
}

/** dockerd's HasMountFor: a mount of its own (volume, bind, tmpfs) at that destination. */
function hasMountFor(rec: ContainerRecord, path: string): boolean {
  return Boolean(rec.MountPoints?.[path]) || Object.prototype.hasOwnProperty.call((rec.HostConfig.Tmpfs as Record<string, string> | undefined) ?? {}, path);
}

/** dockerd's containerIsRunning and containerIsNotRestarting, for a namespace's donor. */
function checkDonorRunning(donor: ContainerRecord, prefix: string): void {
  if (!donor.State.Running) throw new SystemError(`${prefix}container ${donor.ID} is not running`);
  if (donor.State.Restarting) throw new SystemError(`${prefix}Container ${donor.ID} is restarting, wait until the container is running`);
}
