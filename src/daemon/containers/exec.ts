/**
 * Exec sessions on the daemon's side (dockerd's daemon/exec.go): the records (in memory, as
 * dockerd's: a restarted daemon forgets them), their checks and events; the exec actor runs
 * the process and reports its pid and exit code.
 */
import { randomBytes } from 'node:crypto';
import type { Engine } from '../../engine/engine.js';
import { Job } from '../../engine/job.js';
import { ConflictError, InvalidParameterError, NotFoundError } from '../../errdefs/errors.js';
import type { ExecConfig } from '../../protocol/types/containers.js';
import { allCaps } from './caps.js';
import { parseDetachKeys } from './detachKeys.js';
import type { ContainerRecord } from './store.js';

interface ExecRecord extends ExecConfig {
  /** The detach keys as given (DetachKeys shows their bytes). */
  keys: string;
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

  /** running refuses a container that cannot take an exec (the paused message names it as the user did). */
  private running(rec: ContainerRecord, asNamed: string): void {
    if (!rec.State.Running || rec.State.Restarting) throw new ConflictError(`Container ${rec.ID} is not running`);
    if (rec.State.Paused) throw new ConflictError(`Container ${asNamed} is paused, unpause the container before exec`);
  }

  create(name: string, body: Record<string, unknown> | null): { Id: string } {
    const rec = this.h.get(name);
    const b = body ?? {};
    const cmd = strs(b.Cmd, 'Cmd');
    if (cmd.length === 0) throw new InvalidParameterError('No exec command specified');
    this.running(rec, name);
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
      ProcessConfig: { tty: b.Tty === true, entrypoint: cmd[0]!, arguments: cmd.slice(1), privileged: b.Privileged === true, ...(user ? { user } : {}) },
      OpenStdin: b.AttachStdin === true,
      OpenStderr: b.AttachStderr === true,
      OpenStdout: b.AttachStdout === true,
      CanRemove: false,
      ContainerID: rec.ID,
      // dockerd shows the keys' bytes, base64 (its []byte in JSON).
      DetachKeys: detachKeys ? Buffer.from(parseDetachKeys(detachKeys)).toString('base64') : '',
      Pid: 0,
      keys: detachKeys,
      env: strs(b.Env, 'Env'),
      workingDir,
      user,
      started: false,
      cmd,
    });
    // "exec_create: true " — the entrypoint, a space, the arguments (dockerd's, trailing space included).
    this.h.publish(rec, `exec_create: ${cmd[0]} ${cmd.slice(1).join(' ')}`, { execID: id });
    return { Id: id };
  }

  /** start runs the session: its stream is the job's (hijacked by the API), or none when detached. */
  async start(execId: string, detach: boolean, tty: boolean, consoleSize: [number, number] | null, job: Job): Promise<void> {
    const e = this.find(execId);
    if (e.started) throw new ConflictError(`Error: Exec command ${execId} ${e.Running ? 'is already running' : 'has already run'}`);
    const rec = this.h.get(e.ContainerID);
    this.running(rec, rec.Name.slice(1));
    e.started = true;
    e.Running = true;
    this.h.publish(rec, `exec_start: ${e.cmd[0]} ${e.cmd.slice(1).join(' ')}`, { execID: execId });
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
        detachKeys: parseDetachKeys(e.keys),
        consoleSize,
        // docker exec --privileged: all capabilities, whoever the user (dockerd's execSetPlatformOpt).
        ...(e.ProcessConfig.privileged ? { privilegedCaps: allCaps() } : {}),
      },
      { stdoutPort: job.stdout.takePort(), stdinPort: job.stdin.takePort(), signal: job.signal, from: 'daemon' },
    );
    try {
      await this.h.engine.run(run);
    } catch (err) {
      // It never ran (detached: the error is the start's answer): dockerd records 126.
      if (e.Pid === 0) {
        e.Running = false;
        e.ExitCode = 126;
      }
      throw err;
    }
  }

  /**
   * probe runs a health check command as dockerd does: an exec session like any other (its
   * exec_create/exec_start/exec_die events), its stdout and stderr kept up to 4 KiB. At the
   * deadline the result is -1 and dockerd's message; the process is left to end (as 20.10).
   */
  async probe(rec: ContainerRecord, cmd: string[], timeoutMs: number): Promise<{ exitCode: number; output: string; timedOut: boolean }> {
    const { Id } = this.create(rec.ID, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const e = this.find(Id);
    e.started = true;
    e.Running = true;
    this.h.publish(rec, `exec_start: ${cmd[0]} ${cmd.slice(1).join(' ')}`, { execID: Id });
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    const { port, reader } = Job.outputChannel();
    const run = this.h.engine.job(
      'exec_process',
      { id: rec.ID, execId: Id, args: cmd, env: [], cwd: '', user: '', tty: false, stdin: false, stdout: true, stderr: true, detach: false, detachKeys: [], consoleSize: null },
      { stdoutPort: port, signal: ctl.signal, from: 'daemon' },
    );
    const MAX = 4096;
    let raw = Buffer.alloc(0);
    let out = Buffer.alloc(0);
    const collect = (async () => {
      // The stream is multiplexed (8-byte headers): stdout and stderr go into one text.
      for await (const chunk of reader) {
        raw = Buffer.concat([raw, Buffer.from(chunk)]);
        while (raw.length >= 8) {
          const size = raw.readUInt32BE(4);
          if (raw.length < 8 + size) break;
          if (out.length < MAX) out = Buffer.concat([out, raw.subarray(8, 8 + Math.min(size, MAX - out.length))]);
          raw = raw.subarray(8 + size);
        }
      }
    })().catch(() => {});
    try {
      const res = (await this.h.engine.run(run)) as { exitCode: number | null };
      await collect;
      if (ctl.signal.aborted || res.exitCode === null) return { exitCode: -1, output: '', timedOut: true };
      return { exitCode: res.exitCode, output: out.toString(), timedOut: false };
    } catch (err) {
      if (ctl.signal.aborted) return { exitCode: -1, output: '', timedOut: true };
      throw err;
    } finally {
      clearTimeout(timer);
      reader.close();
      // A probe's record is not kept (one a second would pile up for as long as the container runs).
      this.execs.delete(Id);
    }
  }

  /** event is the exec actor's report: the process runs (pid) or ended (exit code). */
  event(execId: string, r: { pid?: number; exitCode?: number; failed?: boolean }): void {
    const e = this.execs.get(execId);
    if (!e) return;
    if (r.pid !== undefined) e.Pid = r.pid;
    if (r.exitCode !== undefined) {
      e.Running = false;
      e.ExitCode = r.exitCode;
      // A session that never started has no exec_die (dockerd's).
      if (!r.failed && this.h.has(e.ContainerID)) this.h.publish(this.h.get(e.ContainerID), 'exec_die', { execID: execId, exitCode: String(r.exitCode) });
    }
  }

  inspect(execId: string): Record<string, unknown> {
    const { keys: _keys, env: _env, workingDir: _wd, user: _user, started: _s, cmd: _cmd, ...doc } = this.find(execId);
    return doc;
  }

  async resize(execId: string, height: number, width: number): Promise<void> {
    const e = this.find(execId);
    await this.h.engine.call('exec_process_resize', { id: e.ContainerID, execId, height, width });
  }

  /** The IDs of a container's live exec sessions (inspect's ExecIDs; null when there are none). */
  idsOf(containerId: string): string[] | null {
    const ids = [...this.execs.values()].filter((e) => e.ContainerID === containerId && e.Running).map((e) => e.ID);
    return ids.length ? ids : null;
  }

  /** forget drops a container's sessions (it stopped or went). */
  forget(containerId: string): void {
    for (const [id, e] of this.execs) if (e.ContainerID === containerId) this.execs.delete(id);
  }
}
