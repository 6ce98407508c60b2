/**
 * The runc driver: containers run by runc (OCI runtime), each watched by its own conmon, so
 * they outlive berthd. Here: finding both binaries, their versions, and the cgroup layout.
 * Debian's crun cannot drive a hybrid cgroup v1 layout; it is refused with that reason rather
 * than failing obscurely at the first `docker run`.
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { basename, delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { SystemError } from '../../../src/errdefs/errors.js';
import type { ExecDriverConfig } from '../../../src/protocol/types/config.js';
import type { ExecStatus } from '../../../src/protocol/types/system.js';
import type { ExecDriver } from '../driver.js';
import type { JobContext } from '../../../src/actor/runtime.js';
import type { AttachArgs, ExecProcessArgs, LogsArgs, RunSpec, RuntimeState, UpdateResources } from '../../../src/protocol/types/containers.js';
import { CgroupReader } from '../cgstats.js';
import { ContainerRuntime } from '../runtime.js';
import { readLogs } from '../logs.js';
import { cgroupSupport, cgroupVersion, cgroupWarnings } from '../cgroups.js';

const run = promisify(execFile);

/** Runtimes berth knows; --default-runtime must name one. */
export const RUNTIMES = ['runc', 'crun'] as const;

export async function which(bin: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    const p = join(dir, bin);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

/** versionOf runs `<bin> --version` and reads "X version V" and "commit: C" from it. */
async function versionOf(name: string, path: string): Promise<{ name: string; version: string; commit: string } | null> {
  try {
    const { stdout } = await run(path, ['--version'], { timeout: 5_000 });
    const version = /version\s+(\S+)/.exec(stdout)?.[1] ?? '';
    const commit = /commit:\s*(\S+)/.exec(stdout)?.[1] ?? '';
    return { name, version, commit };
  } catch {
    return null;
  }
}

/** dockerd's name for the init binary of `docker run --init` (and where it is in the container: /sbin/docker-init). */
export const DEFAULT_INIT_BINARY = 'docker-init';

/**
 * findInit is the binary `docker run --init` bind-mounts: --init-path as given (runc reports it
 * if it is not there, as under dockerd), else docker-init in PATH as dockerd looks for it, else
 * Debian's tini-static (the tini package; docker.io adds the docker-init link to it).
 */
export async function findInit(initPath: string): Promise<string> {
  if (initPath) return initPath;
  const found = (await which(DEFAULT_INIT_BINARY)) ?? (await which('tini-static'));
  // dockerd's exec.LookPath error, then what berth looked for.
  if (!found) throw new SystemError(`exec: "${DEFAULT_INIT_BINARY}": executable file not found in $PATH (berth looks for docker-init, then tini-static: install the tini package or start berthd with --init-path)`);
  return found;
}

/**
 * initVersionOf runs `<init> --version` and reads tini's "tini version 0.19.0 - git.de40ad0"
 * (dockerd's parseInitVersion: Debian's tini prints no commit). null: missing or unparsable.
 */
async function initVersionOf(path: string, name: string): Promise<{ name: string; version: string; commit: string } | null> {
  try {
    const { stdout } = await run(path, ['--version'], { timeout: 5_000 });
    const parts = stdout.split(' - ');
    const git = (parts[1] ?? '').trim().split('.');
    const commit = git.length === 2 && git[0] === 'git' ? git[1]! : '';
    const head = parts[0]!.trim();
    const version = head.startsWith('tini version ') ? head.slice('tini version '.length) : '';
    return version || commit ? { name, version, commit } : null;
  } catch {
    return null;
  }
}

export class RuncDriver implements ExecDriver {
  readonly name = 'runc';
  private current: ExecStatus | null = null;
  private rt: ContainerRuntime | null = null;
  private cg: CgroupReader | null = null;
  private initPath = '';

  private runtime(): ContainerRuntime {
    if (!this.rt) throw new SystemError('the exec driver cannot run containers: ' + (this.current?.warnings.find((w) => /not found in PATH/.test(w)) ?? 'it is not initialised'));
    return this.rt;
  }

  async init(config: ExecDriverConfig, ctx: JobContext): Promise<ExecStatus> {
    const runtime = config.defaultRuntime;
    const version = await cgroupVersion();
    this.cg = new CgroupReader(version, (id) => this.rt?.cgroupOf(id));
    if (runtime === 'crun' && version === '1') {
      throw new SystemError('default runtime crun cannot run containers on this host: it needs cgroup v2, and this host has a (hybrid) cgroup v1 layout; use --default-runtime runc');
    }
    const warnings: string[] = [];
    const runtimePath = await which(runtime);
    if (!runtimePath) warnings.push(`WARNING: ${runtime} was not found in PATH: containers cannot be started`);
    this.initPath = config.initPath ?? '';
    // dockerd names the component after --init-path's file name (docker-init by default).
    const initVersion = await findInit(this.initPath).then((p) => initVersionOf(p, this.initPath ? basename(this.initPath) : DEFAULT_INIT_BINARY), () => null);
    const conmonPath = await which('conmon');
    if (!conmonPath) warnings.push('WARNING: conmon was not found in PATH: containers cannot be started');
    const support = await cgroupSupport(version);
    warnings.push(...cgroupWarnings(support));
    if (config.selinuxEnabled) {
      // Not applied silently: berth does not label container processes or files yet.
      const onHost = await access('/sys/fs/selinux/enforce').then(() => true, () => false);
      warnings.push(onHost ? 'WARNING: --selinux-enabled: berth does not apply SELinux labels to containers yet' : 'WARNING: --selinux-enabled: SELinux is not enabled on this host');
    }
    if (runtimePath && conmonPath) {
      this.rt = new ContainerRuntime(config.execRoot, runtimePath, conmonPath, ctx.engine, ctx.log);
      await this.rt.init();
    }
    this.current = {
      defaultRuntime: runtime,
      runtimes: { [runtime]: { path: runtimePath ?? runtime } },
      runtimeVersion: runtimePath ? await versionOf(runtime, runtimePath) : null,
      monitorVersion: conmonPath ? await versionOf('conmon', conmonPath) : null,
      initVersion,
      cgroupDriver: 'cgroupfs',
      cgroupVersion: version,
      cgroup: support,
      warnings,
    };
    return this.current;
  }

  async status(): Promise<ExecStatus> {
    if (!this.current) throw new SystemError('the exec driver is not initialised yet');
    return this.current;
  }

  async create(spec: RunSpec) {
    const rt = this.runtime();
    // --init: looked up at each start, as dockerd does (installing tini later is enough).
    if (spec.init) spec = { ...spec, init: { path: await findInit(spec.init.path || this.initPath) } };
    return rt.create(spec);
  }
  start(id: string) {
    return this.runtime().start(id);
  }
  kill(id: string, signal: string) {
    return this.runtime().kill(id, signal);
  }
  delete(id: string) {
    return this.runtime().delete(id);
  }
  resize(id: string, height: number, width: number) {
    return this.runtime().resize(id, height, width);
  }
  attach(args: AttachArgs, ctx: JobContext) {
    return this.runtime().attach(args, ctx);
  }
  exec(args: ExecProcessArgs, ctx: JobContext) {
    return this.runtime().exec(args, ctx);
  }
  execResize(id: string, execId: string, height: number, width: number) {
    return this.runtime().execResize(id, execId, height, width);
  }
  async logs(args: LogsArgs, ctx: JobContext) {
    const rt = this.rt;
    const state = rt ? rt.logState(args.id) : { finished: () => true, pump: async () => {} };
    await readLogs(args, ctx.stdout!, state.finished, ctx.signal, state.pump, 'source' in state ? state.source : undefined);
  }
  list(): RuntimeState[] {
    return this.rt?.list() ?? [];
  }
  pause(id: string) {
    return this.runtime().pause(id);
  }
  resume(id: string) {
    return this.runtime().resume(id);
  }
  update(id: string, resources: UpdateResources) {
    return this.runtime().update(id, resources);
  }
  top(id: string, psArgs: string) {
    return this.cgroups().top(id, psArgs);
  }
  stats(id: string, pid: number, networks: boolean) {
    return this.cgroups().sample(id, pid, networks);
  }
  private cgroups(): CgroupReader {
    if (!this.cg) throw new SystemError('the exec driver is not initialised yet');
    return this.cg;
  }
}
