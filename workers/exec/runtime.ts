/**
 * The runc driver's container runtime: OCI bundles under <exec-root>/containers/<id>, each
 * container created and watched by its own conmon (one per container, double-forked, so it
 * outlives berthd), started and signalled with runc (its state under <exec-root>/runc, apart
 * from any other runc user), its exit code read from conmon's exit file, its output relayed
 * from conmon's attach socket and converted from conmon's log into dockerd's json-file.
 *
 * After a berthd restart, init() adopts what is there: conmons still running keep their
 * containers; containers that ended meanwhile are reported with their real exit codes.
 */
import { execFile, spawn } from 'node:child_process';
import { watch, type FSWatcher } from 'node:fs';
import { access, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ActorLogger, EngineClient, JobContext } from '../../src/actor/runtime.js';
import { ConflictError, InvalidParameterError, NotFoundError, SystemError } from '../../src/errdefs/errors.js';
import { mkdirs } from '../../src/fs/mkdirs.js';
import { resolveInRootSync } from '../../src/fs/rootpath.js';
import type { AttachArgs, ExecProcessArgs, ExitReport, RunLog, RunSpec, RuntimeState, UpdateResources } from '../../src/protocol/types/containers.js';
import { rfc3339NanoFromNs } from '../../src/protocol/time.js';
import { LogConverter, readLogs, type LogSource } from './logs.js';
import { cgroupsPath, ociSpec } from './oci.js';
import { openRelay } from './relay.js';
import { runExec } from './execs.js';
import { resolveUser } from './user.js';

const run = promisify(execFile);

interface Live {
  id: string;
  dir: string;
  pid: number;
  tty: boolean;
  logs: LogConverter;
  exited: ExitReport | null;
  /** Attaches waiting for conmon (docker run attaches before it starts). */
  waiters: Array<() => void>;
  exitWaiters: Array<() => void>;
  /** Its cgroup (the spec's cgroupsPath: /berth/<id>, or under its --cgroup-parent). */
  cgroupsPath?: string;
}

export class ContainerRuntime {
  private readonly live = new Map<string, Live>();
  private exitWatcher: FSWatcher | null = null;
  private readonly pendingAttach = new Map<string, Array<() => void>>();
  /** Exec sessions' latest terminal sizes (a resize can come before the session is up). */
  private readonly execSizes = new Map<string, [number, number]>();
  private readonly sizeWaiters = new Map<string, (size: [number, number]) => void>();

  constructor(
    private readonly execRoot: string,
    private readonly runtimePath: string,
    private readonly conmonPath: string,
    private readonly engine: EngineClient,
    private readonly log: ActorLogger,
  ) {}

  private get containers() {
    return join(this.execRoot, 'containers');
  }
  private get exits() {
    return join(this.execRoot, 'exits');
  }
  private get runcRoot() {
    return join(this.execRoot, 'runc');
  }
  private get sockets() {
    return join(this.execRoot, 's');
  }

  private dir(id: string) {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new InvalidParameterError(`invalid container id ${id}`);
    return join(this.containers, id);
  }

  private runc(args: string[]) {
    return run(this.runtimePath, [`--root=${this.runcRoot}`, ...args], { timeout: 30_000 });
  }

  /** init prepares the directories, watches exits, and adopts the containers already there. */
  async init(): Promise<void> {
    for (const d of [this.containers, this.exits, this.runcRoot, this.sockets]) await mkdirs(d, 0o711);
    this.exitWatcher = watch(this.exits, (_ev, file) => {
      if (file && /^[0-9a-f]{64}$/.test(file)) void this.onExitFile(file);
    });
    for (const id of await readdir(this.containers)) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      await this.adopt(id).catch((err) => this.log.warn(`cannot adopt container ${id}: ${(err as Error).message}`));
    }
    // conmon can die without writing its exit file (kill -9): check the survivors now and then.
    setInterval(() => void this.reapLost(), 2_000).unref();
  }

  private async adopt(id: string): Promise<void> {
    const dir = this.dir(id);
    const meta = JSON.parse(await readFile(join(dir, 'berth.json'), 'utf8')) as { logPath: string; tty: boolean; log?: RunLog };
    const live = this.track(id, dir, meta.logPath, meta.tty, meta.log);
    const spec = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8').catch(() => '{}')) as { linux?: { cgroupsPath?: string } };
    if (spec.linux?.cgroupsPath) live.cgroupsPath = spec.linux.cgroupsPath;
    live.pid = Number((await readFile(join(dir, 'pidfile'), 'utf8').catch(() => '0')).trim()) || 0;
    live.logs.follow();
    const exit = await this.readExit(id);
    if (exit) await this.finish(live, exit);
  }

  private track(id: string, dir: string, logPath: string, tty: boolean, log?: RunLog): Live {
    const live: Live = {
      id,
      dir,
      pid: 0,
      tty,
      logs: new LogConverter(join(dir, 'ctr.log'), logPath, join(dir, 'ctr.log.offset'), log && { ...log, none: log.driver === 'none' }),
      exited: null,
      waiters: [],
      exitWaiters: [],
    };
    this.live.set(id, live);
    return live;
  }

  private async readExit(id: string): Promise<ExitReport | null> {
    const file = join(this.exits, id);
    const text = await readFile(file, 'utf8').catch(() => null);
    if (text === null || text.trim() === '') return null;
    const st = await stat(file);
    const oom = await access(join(this.dir(id), 'persist', 'oom')).then(() => true, () => false);
    return { id, exitCode: Number(text.trim()), oomKilled: oom, finishedAt: rfc3339NanoFromNs(BigInt(Math.round(st.mtimeMs * 1e6))) };
  }

  private async onExitFile(id: string): Promise<void> {
    const live = this.live.get(id);
    if (!live || live.exited) return;
    // conmon may create the file before writing the code: read until it is there.
    for (let i = 0; i < 50; i++) {
      const exit = await this.readExit(id);
      if (exit) return this.finish(live, exit);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async finish(live: Live, exit: ExitReport): Promise<void> {
    if (live.exited) return;
    live.exited = exit;
    await live.logs.stop();
    for (const w of live.exitWaiters.splice(0)) w();
    // Before the daemon has its handlers (an adoption at start-up) the report fails: the daemon
    // reconciles from exec_containers instead, so this is no loss.
    await this.engine.job('container_exited', exit).catch((err) => this.log.debug(`exit of ${live.id} not reported: ${(err as Error).message}`));
  }

  /** reapLost reports containers whose conmon vanished without an exit file. */
  private async reapLost(): Promise<void> {
    for (const live of this.live.values()) {
      if (live.exited || !live.pid) continue;
      const conmon = Number((await readFile(join(live.dir, 'conmon.pid'), 'utf8').catch(() => '0')).trim());
      if (conmon && (await alive(conmon))) continue;
      if (await this.readExit(live.id)) continue; // the watcher will see it
      await this.finish(live, { id: live.id, exitCode: 255, oomKilled: false, finishedAt: new Date().toISOString() });
    }
  }

  list(): RuntimeState[] {
    return [...this.live.values()].map((l) => ({
      id: l.id,
      status: l.exited ? 'stopped' : l.pid ? 'running' : 'created',
      pid: l.pid,
      exitCode: l.exited?.exitCode ?? null,
      oomKilled: l.exited?.oomKilled ?? false,
      finishedAt: l.exited?.finishedAt ?? null,
    }));
  }

  /** create writes the bundle and has conmon create the container (runc create); not started. */
  async create(s: RunSpec): Promise<{ pid: number }> {
    const dir = this.dir(s.id);
    if (this.live.has(s.id) && !this.live.get(s.id)!.exited) throw new ConflictError(`container ${s.id} is already running`);
    await this.cleanup(s.id);
    await mkdirs(join(dir, 'persist'), 0o700);
    const user = resolveUser(s.rootfs, s.user, s.groupAdd);
    if (s.cwd && s.cwd !== '/') {
      // dockerd creates the working directory when the image does not have it.
      const host = resolveInRootSync(s.rootfs, s.cwd, { createParents: true, followFinal: true });
      await mkdirs(host, 0o755).catch(() => {});
    }
    await writeFile(join(dir, 'config.json'), JSON.stringify(ociSpec(s, user)));
    // (groupAdd: for `docker exec -u`, whose user gets the --group-add groups too, as in dockerd.)
    await writeFile(join(dir, 'berth.json'), JSON.stringify({ logPath: s.logPath, tty: s.tty, log: s.log, ...(s.groupAdd?.length ? { groupAdd: s.groupAdd } : {}) }));
    const live = this.track(s.id, dir, s.logPath, s.tty, s.log);
    live.cgroupsPath = cgroupsPath(s);
    const short = s.id.slice(0, 12);
    const args = [
      '--api-version', '1', '-c', s.id, '-u', short, '-r', this.runtimePath, '-b', dir, '-p', join(dir, 'pidfile'), '-n', s.id,
      '--exit-dir', this.exits, '--persist-dir', join(dir, 'persist'), '--socket-dir-path', this.sockets,
      // The none driver: conmon keeps nothing either.
      '-l', s.log?.driver === 'none' ? 'none:' : `k8s-file:${join(dir, 'ctr.log')}`, '--log-level', 'warning', '--conmon-pidfile', join(dir, 'conmon.pid'),
      '--runtime-arg', `--root=${this.runcRoot}`, '--runtime-arg', '--log-format=json', '--runtime-arg', `--log=${join(dir, 'runc.log')}`,
    ];
    if (s.tty) args.push('-t');
    if (s.openStdin) {
      args.push('-i');
      // stdinOnce (docker run -i): the container's stdin ends when its attached client's does.
      if (!s.stdinOnce) args.push('--leave-stdin-open');
    }
    const child = spawn(this.conmonPath, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' },
      detached: true,
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const sync = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
    const start = child.stdio[4] as NodeJS.WritableStream;
    start.end('0');
    let msg = '';
    try {
      msg = await new Promise<string>((resolve, reject) => {
        let buf = '';
        sync.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) resolve(buf);
        });
        sync.on('end', () => resolve(buf));
        child.on('error', reject);
      });
    } finally {
      sync.destroy();
      child.unref();
    }
    let reply: { data?: number; message?: string } = {};
    try {
      reply = JSON.parse(msg.split('\n')[0] || '{}');
    } catch {
      // fall through: no pid
    }
    if (!reply.data || reply.data < 0) {
      this.live.delete(s.id);
      const why = (reply.message || (await runcError(dir)) || stderr || 'conmon did not report a pid').trim();
      await this.cleanup(s.id);
      // dockerd's wording (its shim's), which scripts and the docker CLI's exit codes key on.
      throw new SystemError(`failed to create shim task: OCI runtime create failed: ${why}: unknown`);
    }
    live.pid = reply.data;
    live.logs.follow();
    // Attaches that arrived before conmon was up connect now, before the process starts.
    for (const w of this.pendingAttach.get(s.id)?.splice(0) ?? []) w();
    this.pendingAttach.delete(s.id);
    return { pid: live.pid };
  }

  async start(id: string): Promise<{ pid: number }> {
    const live = this.live.get(id);
    if (!live) throw new NotFoundError(`container ${id} is not created`);
    try {
      await this.runc(['start', id]);
    } catch (err) {
      throw new SystemError(`OCI runtime start failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
    }
    return { pid: live.pid };
  }

  async kill(id: string, signal: string): Promise<void> {
    const live = this.live.get(id);
    if (!live || live.exited) throw new ConflictError(`container ${id} is not running`);
    try {
      await this.runc(['kill', id, signal]);
    } catch (err) {
      const msg = (err as { stderr?: string }).stderr ?? '';
      if (/not running|process already finished|container not running/.test(msg)) return;
      throw new SystemError(`cannot kill container ${id}: ${msg.trim() || (err as Error).message}`);
    }
  }

  /** pause freezes every process of the container (the freezer cgroup, through runc). */
  async pause(id: string): Promise<void> {
    this.running(id);
    try {
      await this.runc(['pause', id]);
    } catch (err) {
      throw new SystemError(`cannot pause container ${id}: ${runcMessage(err)}`);
    }
  }

  async resume(id: string): Promise<void> {
    this.running(id);
    try {
      await this.runc(['resume', id]);
    } catch (err) {
      throw new SystemError(`cannot unpause container ${id}: ${runcMessage(err)}`);
    }
  }

  /**
   * update sets new cgroup limits with `runc update -r` (the OCI resources document, as
   * containerd passes it). runc's refusal keeps dockerd's wording around it.
   */
  async update(id: string, r: UpdateResources): Promise<void> {
    const live = this.running(id);
    const resources: Record<string, unknown> = {};
    const memory: Record<string, number> = {};
    if (r.memory) memory.limit = r.memory;
    if (r.memorySwap) memory.swap = r.memorySwap;
    if (r.memoryReservation) memory.reservation = r.memoryReservation;
    if (r.kernelMemory) memory.kernel = r.kernelMemory;
    if (Object.keys(memory).length) resources.memory = memory;
    const cpu: Record<string, unknown> = {};
    if (r.cpuShares) cpu.shares = r.cpuShares;
    if (r.cpuQuota) cpu.quota = r.cpuQuota;
    if (r.cpuPeriod) cpu.period = r.cpuPeriod;
    if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
    if (r.cpusetMems) cpu.mems = r.cpusetMems;
    if (r.cpuRealtimePeriod) cpu.realtimePeriod = r.cpuRealtimePeriod;
    if (r.cpuRealtimeRuntime) cpu.realtimeRuntime = r.cpuRealtimeRuntime;
    if (Object.keys(cpu).length) resources.cpu = cpu;
    if (r.pidsLimit) resources.pids = { limit: r.pidsLimit };
    if (r.blkioWeight) resources.blockIO = { weight: r.blkioWeight };
    const file = join(live.dir, 'update.json');
    await writeFile(file, JSON.stringify(resources), { mode: 0o600 });
    try {
      await this.runc(['update', '-r', file, id]);
    } catch (err) {
      const code = (err as { code?: number }).code ?? 1;
      throw new SystemError(`runc did not terminate successfully: exit status ${code}: ${runcMessage(err)}\n: unknown`);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** The cgroup of a container this actor runs or ran (undefined: not known here). */
  cgroupOf(id: string): string | undefined {
    return this.live.get(id)?.cgroupsPath;
  }

  private running(id: string): Live {
    const live = this.live.get(id);
    if (!live || live.exited) throw new ConflictError(`Container ${id} is not running`);
    return live;
  }

  /** waitExit resolves when the container has exited (at once if it has). */
  waitExit(id: string): Promise<void> {
    const live = this.live.get(id);
    if (!live || live.exited) return Promise.resolve();
    return new Promise((resolve) => live.exitWaiters.push(resolve));
  }

  async delete(id: string): Promise<void> {
    await this.cleanup(id);
  }

  private async cleanup(id: string): Promise<void> {
    const live = this.live.get(id);
    // Nothing of it here (deleted already, or never created): no runc call to pay for.
    if (!live && !(await stat(this.dir(id)).then(() => true, () => false))) return;
    if (live && !live.exited && live.pid) {
      await this.runc(['kill', id, 'KILL']).catch(() => {});
      await Promise.race([this.waitExit(id), new Promise((r) => setTimeout(r, 5_000))]);
    }
    await live?.logs.stop();
    await this.runc(['delete', '--force', id]).catch(() => {});
    this.live.delete(id);
    await rm(join(this.exits, id), { force: true });
    await rm(join(this.sockets, id.slice(0, 12)), { force: true, recursive: true });
    await rm(this.dir(id), { recursive: true, force: true });
  }

  async resize(id: string, height: number, width: number): Promise<void> {
    const live = this.live.get(id);
    if (!live || live.exited) throw new ConflictError(`Container ${id} is not running`);
    // conmon's control FIFO: "1 <height> <width>" resizes the terminal.
    const fh = await open(join(live.dir, 'ctl'), 'r+');
    try {
      await fh.write(`1 ${height} ${width}\n`);
    } finally {
      await fh.close();
    }
  }

  /**
   * attach relays the container's stdio to the job's streams: output as multiplexed frames
   * (raw for a tty), input from the job's stdin; detach keys end it without stopping the
   * container. It ends when the container exits or the client leaves.
   */
  async attach(a: AttachArgs, ctx: JobContext): Promise<{ detached: boolean }> {
    // The stream begins at once: `docker run` waits for the 101 before it starts the container.
    const out = ctx.stdout!;
    out.begin();
    if (a.logs) {
      const logs = { id: a.id, logPath: a.logPath, follow: false, stdout: a.stdout, stderr: a.stderr, since: '', until: '', timestamps: false, details: false, tail: -1, tty: a.tty };
      const st = this.logState(a.id);
      await readLogs(logs, out, () => true, ctx.signal, st.pump, st.source);
    }
    if (!a.stream) return { detached: false };
    let live = this.live.get(a.id);
    if (!live) {
      // Not created yet (docker run attaches before start): wait for conmon, or the client to leave.
      const ready = await new Promise<boolean>((resolve) => {
        const list = this.pendingAttach.get(a.id) ?? [];
        const go = () => resolve(true);
        list.push(go);
        this.pendingAttach.set(a.id, list);
        ctx.signal.addEventListener('abort', () => {
          const l = this.pendingAttach.get(a.id);
          if (l) l.splice(l.indexOf(go) >>> 0, 1);
          resolve(false);
        }, { once: true });
      });
      if (!ready) return { detached: false };
      live = this.live.get(a.id)!;
    }
    if (live.exited) return { detached: false };
    const relay = openRelay(join(this.sockets, a.id.slice(0, 12), 'attach'), a, ctx);
    return relay.done;
  }

  /** exec runs an exec session in a running container (execs.ts). */
  async exec(a: ExecProcessArgs, ctx: JobContext): Promise<{ pid: number; exitCode: number | null }> {
    const live = this.live.get(a.id);
    if (!live || live.exited) throw new ConflictError(`Container ${a.id} is not running`);
    if (!/^[0-9a-f]{64}$/.test(a.execId)) throw new InvalidParameterError(`invalid exec id ${a.execId}`);
    const paths = { bundle: live.dir, sockets: this.sockets, runcRoot: this.runcRoot, runtime: this.runtimePath, conmon: this.conmonPath };
    try {
      return await runExec(paths, a, ctx, {
        report: (r) => this.engine.job('exec_event', { execId: a.execId, ...r }).then(() => {}),
        pendingSize: () => this.execSizes.get(a.execId) ?? null,
        waitSize: (ms) =>
          new Promise((resolve) => {
            const timer = setTimeout(() => (this.sizeWaiters.delete(a.execId), resolve(null)), ms);
            this.sizeWaiters.set(a.execId, (size) => (clearTimeout(timer), resolve(size)));
          }),
      });
    } finally {
      this.execSizes.delete(a.execId);
    }
  }

  /** execResize sets an exec session's terminal size (its conmon's control FIFO). */
  async execResize(id: string, execId: string, height: number, width: number): Promise<void> {
    const live = this.live.get(id);
    if (!live || live.exited || !/^[0-9a-f]{64}$/.test(execId)) throw new ConflictError(`Container ${id} is not running`);
    this.execSizes.set(execId, [height, width]);
    const waiter = this.sizeWaiters.get(execId);
    if (waiter) {
      this.sizeWaiters.delete(execId);
      return waiter([height, width]);
    }
    const fh = await open(join(live.dir, 'exec', execId, 'ctl'), 'r+').catch(() => null);
    if (!fh) return; // not started yet (the session applies it when it starts), or over
    try {
      await fh.write(`1 ${height} ${width}\n`);
    } finally {
      await fh.close();
    }
  }

  /** For follow in `docker logs`: whether the container has exited, and a way to flush its log. */
  logState(id: string): { finished: () => boolean; pump: () => Promise<void>; source?: LogSource } {
    const live = this.live.get(id);
    return { finished: () => !live || live.exited !== null, pump: () => live?.logs.pump() ?? Promise.resolve(), source: live?.logs };
  }
}

async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** runcError reads runc's own JSON log for the reason a create failed. */
async function runcError(dir: string): Promise<string | null> {
  const text = await readFile(join(dir, 'runc.log'), 'utf8').catch(() => '');
  const lines = text.trim().split('\n').reverse();
  for (const l of lines) {
    try {
      const rec = JSON.parse(l) as { level?: string; msg?: string };
      if (rec.level === 'error' && rec.msg) return rec.msg;
    } catch {
      // not JSON
    }
  }
  return null;
}

/** runcMessage is what runc said: the msg of its logrus line, else its stderr, else the error. */
function runcMessage(err: unknown): string {
  const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
  const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr)?.[1];
  if (msg) return msg.replace(/\\"/g, '"').replace(/\\n/g, '\n');
  return stderr || (err as Error).message;
}
