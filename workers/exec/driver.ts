/**
 * The exec driver contract (the seed's execdriver): what the daemon can ask of the thing that
 * runs containers. The runc driver runs each container under its own conmon.
 *
 *   init(config)           find the runtime and monitor, check cgroups, adopt what runs
 *   create(spec)           write the OCI bundle and create the container (not started)
 *   start(id)              start its process
 *   kill(id, signal)       signal it
 *   delete(id)             remove it (killing it first if it still runs) and its bundle
 *   resize(id, h, w)       its terminal's size
 *   attach(args, ctx)      relay its stdio to the job's streams until it exits
 *   exec(args, ctx)        run another process in it (docker exec), relayed the same way
 *   execResize(…)          an exec session's terminal size
 *   logs(args, ctx)        its json-file log, read or followed
 *   list()                 what runs or ran (for the daemon's reconciliation at start)
 *   pause(id) / resume(id) freeze and thaw all its processes
 *   update(id, resources)  new cgroup limits while it runs
 *   top(id, psArgs)        its processes as the host's ps shows them
 *   stats(id, pid, nets)   one reading of its cgroups (and interfaces)
 * Exits are reported to the daemon as they happen (the `container_exited` job).
 */
import type { JobContext } from '../../src/actor/runtime.js';
import type { ExecDriverConfig } from '../../src/protocol/types/config.js';
import type { AttachArgs, ExecProcessArgs, LogsArgs, RunSpec, RuntimeState, StatsSample, UpdateResources } from '../../src/protocol/types/containers.js';
import type { ExecStatus } from '../../src/protocol/types/system.js';

export interface ExecDriver {
  readonly name: string;
  init(config: ExecDriverConfig, ctx: JobContext): Promise<ExecStatus>;
  status(): Promise<ExecStatus>;
  create(spec: RunSpec): Promise<{ pid: number }>;
  start(id: string): Promise<{ pid: number }>;
  kill(id: string, signal: string): Promise<void>;
  delete(id: string): Promise<void>;
  resize(id: string, height: number, width: number): Promise<void>;
  attach(args: AttachArgs, ctx: JobContext): Promise<{ detached: boolean }>;
  exec(args: ExecProcessArgs, ctx: JobContext): Promise<{ pid: number; exitCode: number | null }>;
  execResize(id: string, execId: string, height: number, width: number): Promise<void>;
  logs(args: LogsArgs, ctx: JobContext): Promise<void>;
  list(): RuntimeState[];
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  update(id: string, resources: UpdateResources): Promise<void>;
  top(id: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }>;
  stats(id: string, pid: number, networks: boolean): Promise<StatsSample>;
}
