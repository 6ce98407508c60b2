/**
 * Exec sessions on the daemon's side (dockerd's daemon/exec.go): the records (in memory, as
 * dockerd's: a restarted daemon forgets them), their checks and events; the exec actor runs
 * the process and reports its pid and exit code.
 */
import { randomBytes } from 'node:crypto';
import type { Engine } from '../../engine/engine.js';
import type { Job } from '../../engine/job.js';
import { ConflictError, InvalidParameterError, NotFoundError, NotImplementedError } from '../../errdefs/errors.js';
import type { ExecConfig } from '../../protocol/types/containers.js';
import { parseDetachKeys } from './detachKeys.js';
import type { ContainerRecord } from './store.js';

interface ExecRecord extends ExecConfig {
  env: string[];
  workingDir: string;
  user: string;
  started: boolean;
  cmd: string[];
}

export interface ExecHost {
  engine: Engine;
  get(ref: string): ContainerRecord;
  has(id: string): boolean;
  publish(rec: ContainerRecord, action: string, extra?: Record<string, string>): void;
}

function strs(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new InvalidParameterError(`invalid type for field ${what}: expected an array of strings`);
  return v as string[];
}

export class Execs {
  private readonly execs = new Map<string, ExecRecord>();

  constructor(private readonly h: ExecHost) {}

  private find(id: string): ExecRecord {
    const e = this.execs.get(id);
    if (!e) throw new NotFoundError(`No such exec instance: ${id}`);
    return e;
  }

  private running(rec: ContainerRecord): void {
    if (!rec.State.Running || rec.State.Restarting) throw new ConflictError(`Container ${rec.ID} is not running`);
    if (rec.State.Paused) throw new ConflictError(`Container ${rec.ID} is paused, unpause the container before exec`);
  }

  create(name: string, body: Record<string, unknown> | null): { Id: string } {
    const rec = this.h.get(name);
    const b = body ?? {};
    const cmd = strs(b.Cmd, 'Cmd');
    if (cmd.length === 0) throw new InvalidParameterError('No exec command specified');
    if (b.Privileged === true) throw new NotImplementedError('berth does not implement privileged exec sessions yet (planned: a later issue)');
    this.running(rec);
    const detachKeys = typeof b.DetachKeys === 'string' ? b.DetachKeys : '';
    parseDetachKeys(detachKeys); // a bad one is refused now
    const user = typeof b.User === 'string' ? b.User : '';
    const workingDir = typeof b.WorkingDir === 'string' ? b.WorkingDir : '';
    if (workingDir && !workingDir.startsWith('/')) throw new InvalidParameterError(`the working directory '${workingDir}' is invalid, it needs to be an absolute path`);
    const id = randomBytes(32).toString('hex');
    this.execs.set(id, {
      ID: id,
      Running: false,
      ExitCode: null,
      ProcessConfig: { tty: b.Tty === true, entrypoint: cmd[0]!, arguments: cmd.slice(1), privileged: false, ...(user ? { user } : {}) },
      OpenStdin: b.AttachStdin === true,
      OpenStderr: b.AttachStderr === true,
      OpenStdout: b.AttachStdout === true,
      CanRemove: false,
      ContainerID: rec.ID,
      DetachKeys: detachKeys,
      Pid: 0,
      env: strs(b.Env, 'Env'),
      workingDir,
      user,
      started: false,
      cmd,
    });
    this.h.publish(rec, `exec_create: ${cmd.join(' ')}`, { execID: id });
    return { Id: id };
  }

  /** start runs the session: its stream is the job's (hijacked by the API), or none when detached. */
  async start(execId: string, detach: boolean, tty: boolean, consoleSize: [number, number] | null, job: Job): Promise<void> {
    const e = this.find(execId);
    if (e.started) throw new ConflictError(`Error: Exec command ${execId} is already running`);
    const rec = this.h.get(e.ContainerID);
    this.running(rec);
    e.started = true;
    e.Running = true;
    this.h.publish(rec, `exec_start: ${e.cmd.join(' ')}`, { execID: execId });
    const run = this.h.engine.job(
      'exec_process',
      {
        id: rec.ID,
        execId,
        args: e.cmd,
        env: e.env,
        cwd: e.workingDir,
        user: e.user,
        tty: e.ProcessConfig.tty || tty,
        stdin: !detach && e.OpenStdin,
        stdout: e.OpenStdout,
        stderr: e.OpenStderr,
        detach,
        detachKeys: parseDetachKeys(e.DetachKeys),
        consoleSize,
      },
      { stdoutPort: job.stdout.takePort(), stdinPort: job.stdin.takePort(), signal: job.signal, from: 'daemon' },
    );
    try {
      await this.h.engine.run(run);
    } catch (err) {
      // It never ran (a missing binary, …): dockerd records 126 and the error is the start's.
      if (e.Pid === 0) {
        e.Running = false;
        e.ExitCode = /no such file|not found/i.test(String((err as Error).message)) ? 127 : 126;
      }
      throw err;
    }
  }

  /** event is the exec actor's report: the process runs (pid) or ended (exit code). */
  event(execId: string, r: { pid?: number; exitCode?: number }): void {
    const e = this.execs.get(execId);
    if (!e) return;
    if (r.pid !== undefined) e.Pid = r.pid;
    if (r.exitCode !== undefined) {
      e.Running = false;
      e.ExitCode = r.exitCode;
      if (this.h.has(e.ContainerID)) this.h.publish(this.h.get(e.ContainerID), 'exec_die', { execID: execId, exitCode: String(r.exitCode) });
    }
  }

  inspect(execId: string): Record<string, unknown> {
    const { env: _env, workingDir: _wd, user: _user, started: _s, cmd: _cmd, ...doc } = this.find(execId);
    return doc;
  }

  async resize(execId: string, height: number, width: number): Promise<void> {
    const e = this.find(execId);
    await this.h.engine.call('exec_process_resize', { id: e.ContainerID, execId, height, width });
  }

  /** The IDs of a container's exec sessions (inspect's ExecIDs; null when there are none). */
  idsOf(containerId: string): string[] | null {
    const ids = [...this.execs.values()].filter((e) => e.ContainerID === containerId).map((e) => e.ID);
    return ids.length ? ids : null;
  }

  /** forget drops a container's sessions (it stopped or went). */
  forget(containerId: string): void {
    for (const [id, e] of this.execs) if (e.ContainerID === containerId) this.execs.delete(id);
  }
}
