/**
 * Exec sessions (docker exec): a process started in a running container by its own conmon in
 * exec mode (`conmon --exec --exec-attach`), as podman does. The handshake, over three pipes:
 *
 *   start pipe   "go" once conmon may proceed, and again once our attach socket is connected
 *   attach pipe  conmon says its attach socket is ready
 *   sync pipe    conmon says the process's pid, and at its end its exit code
 *
 * so no output is lost between the start and the attach. The session's files live in
 * <bundle>/exec/<id>/ and go with it.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { JobContext } from '../../src/actor/runtime.js';
import { SystemError } from '../../src/errdefs/errors.js';
import type { ExecProcessArgs } from '../../src/protocol/types/containers.js';
import { openRelay } from './relay.js';
import { resolveUser } from './user.js';

export interface ExecPaths {
  bundle: string;
  sockets: string;
  runcRoot: string;
  runtime: string;
  conmon: string;
}

/** lines reads newline-terminated JSON messages from a pipe, one at a time. */
function messages(pipe: Readable): () => Promise<{ data?: number; message?: string } | null> {
  let buf = '';
  let ended = false;
  const waiting: Array<() => void> = [];
  pipe.on('data', (d: Buffer) => {
    buf += d.toString();
    for (const w of waiting.splice(0)) w();
  });
  pipe.on('end', () => {
    ended = true;
    for (const w of waiting.splice(0)) w();
  });
  pipe.on('error', () => {
    ended = true;
    for (const w of waiting.splice(0)) w();
  });
  return async () => {
    for (;;) {
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          return JSON.parse(line) as { data?: number; message?: string };
        } catch {
          continue;
        }
      }
      if (ended) return null;
      await new Promise<void>((r) => waiting.push(r));
    }
  };
}

/** The exec's process: the container's, with this session's command, env, user and directory. */
async function processSpec(paths: ExecPaths, a: ExecProcessArgs): Promise<Record<string, unknown>> {
  const config = JSON.parse(await readFile(join(paths.bundle, 'config.json'), 'utf8')) as { process: Record<string, unknown>; root: { path: string } };
  const p = { ...config.process } as Record<string, unknown> & { env: string[]; capabilities: Record<string, string[]> & { bounding: string[] }; user: Record<string, unknown> };
  p.args = a.args;
  p.terminal = a.tty;
  delete p.consoleSize;
  if (a.tty && a.consoleSize) p.consoleSize = { height: a.consoleSize[0], width: a.consoleSize[1] };
  const env = [...p.env];
  for (const e of a.env) {
    const key = e.split('=')[0];
    const at = env.findIndex((x) => x.split('=')[0] === key);
    if (!e.includes('=')) {
      if (at >= 0) env.splice(at, 1);
    } else if (at >= 0) env[at] = e;
    else env.push(e);
  }
  if (a.cwd) p.cwd = a.cwd;
  if (a.user) {
    const meta = JSON.parse(await readFile(join(paths.bundle, 'berth.json'), 'utf8').catch(() => '{}')) as { groupAdd?: string[] };
    const u = resolveUser(config.root.path, a.user, meta.groupAdd ?? []);
    p.user = { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids };
    // HOME follows the exec's user unless the session or the container sets it.
    const home = env.findIndex((x) => x.startsWith('HOME='));
    if (home < 0) env.push(`HOME=${u.home}`);
    const bounding = p.capabilities.bounding;
    p.capabilities = u.uid === 0 ? { bounding, effective: bounding, permitted: bounding } : { bounding };
  }
  // docker exec --privileged: every capability, for any user (dockerd's execSetPlatformOpt).
  if (a.privilegedCaps) p.capabilities = { bounding: a.privilegedCaps, effective: a.privilegedCaps, permitted: a.privilegedCaps };
  p.env = env;
  return p;
}

export interface ExecHooks {
  /** The process runs (its pid), or ended (its exit code): told to the daemon before the stream ends. */
  report(r: { pid?: number; exitCode?: number; failed?: boolean }): Promise<void>;
  /** A terminal size asked for before the session's control FIFO existed. */
  pendingSize(): [number, number] | null;
  /** The first terminal size asked for within `ms` (null if none comes). */
  waitSize(ms: number): Promise<[number, number] | null>;
}

/** runcMessage keeps the message of runc's own log line ("time=… level=error msg=\"…\""). */
function runcMessage(text: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(text);
  return m ? m[1]!.replace(/\\(.)/g, '$1') : text;
}

/**
 * runExec runs one session. Attached: it relays the process's stdio until it ends and
 * resolves with its exit code. Detached: it resolves once the process runs, and reports the
 * exit later through hooks.
 */
export async function runExec(paths: ExecPaths, a: ExecProcessArgs, ctx: JobContext, hooks: ExecHooks): Promise<{ pid: number; exitCode: number | null }> {
  // Attached: the stream begins now (the client waits for its 101 before anything else).
  if (!a.detach) ctx.stdout!.begin();
  const dir = join(paths.bundle, 'exec', a.execId);
  const short = `e${a.execId.slice(0, 12)}`;
  await mkdir(join(dir, 'exit'), { recursive: true, mode: 0o700 });
  await mkdir(join(dir, 'persist'), { recursive: true, mode: 0o700 });
  const cleanup = () => Promise.all([rm(dir, { recursive: true, force: true }), rm(join(paths.sockets, short), { recursive: true, force: true })]);
  let spec: Record<string, unknown>;
  try {
    spec = await processSpec(paths, a);
  } catch (err) {
    await cleanup();
    throw err;
  }
  await writeFile(join(dir, 'process.json'), JSON.stringify(spec));
  const args = [
    '--api-version', '1', '-c', a.id, '-u', short, '-r', paths.runtime, '-b', dir, '-p', join(dir, 'pid'), '-n', a.id,
    '--exit-dir', join(dir, 'exit'), '--persist-dir', join(dir, 'persist'), '--socket-dir-path', paths.sockets,
    '-l', 'none', '--log-level', 'warning', '--runtime-arg', `--root=${paths.runcRoot}`,
  ];
  if (a.tty) args.push('-t');
  if (a.stdin) args.push('-i');
  args.push('-e', '--exec-attach', '--exec-process-spec', join(dir, 'process.json'));
  const child = spawn(paths.conmon, args, {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' },
    detached: true,
  });
  child.unref();
  const pipes = child.stdio as unknown as [null, null, Readable, Readable, Writable, Readable];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const sync = messages(pipes[3]);
  const attachPipe = messages(pipes[5]);
  const start = pipes[4];
  const fail = async (why: string): Promise<never> => {
    pipes[3].destroy();
    pipes[5].destroy();
    start.destroy();
    await cleanup();
    throw new SystemError(why);
  };

  start.write('0'); // conmon may go on (podman moves it to a cgroup first)
  const ready = await attachPipe();
  if (!ready || (ready.data ?? 0) < 0) return fail(ready?.message || stderr.trim() || 'conmon did not open the exec attach socket');
  // The client's terminal size: the docker CLI sends it (API 1.41) right after its 101, so a
  // terminal session waits a moment for it rather than start its process at 0x0.
  let size = a.tty ? hooks.pendingSize() : null;
  if (a.tty && !size && !a.consoleSize) size = await hooks.waitSize(300);
  if (size) await writeFile(join(dir, 'ctl'), `1 ${size[0]} ${size[1]}\n`).catch(() => {});
  const relay = a.detach ? null : openRelay(join(paths.sockets, short, 'attach'), { ...a, stdinOnce: true }, ctx);
  start.end('0'); // now the process may start: the relay is connected
  const started = await sync();
  pipes[5].destroy();
  if (!started || started.data === undefined || started.data < 0) {
    const why = `OCI runtime exec failed: ${runcMessage((started?.message || stderr || 'conmon did not report a pid').trim())}: unknown`;
    if (!relay) return fail(why);
    // As dockerd, once the stream is there: the error is its output (a stdout frame), exit 126.
    const text = Buffer.from(`${why}\r\n`);
    const head = Buffer.alloc(8);
    head[0] = 1;
    head.writeUInt32BE(text.length, 4);
    await ctx.stdout!.write(a.tty ? text : Buffer.concat([head, text]));
    await hooks.report({ exitCode: 126, failed: true });
    await cleanup();
    return { pid: 0, exitCode: 126 };
  }
  const pid = started.data;
  await hooks.report({ pid });

  const exitCode = (async () => {
    const end = await sync();
    pipes[3].destroy();
    let code = end?.data;
    if (code === undefined) {
      // The pipe closed without a code: conmon's exit file has it.
      const files = await readdir(join(dir, 'exit')).catch(() => [] as string[]);
      code = files[0] ? Number((await readFile(join(dir, 'exit', files[0]), 'utf8')).trim()) : 255;
    }
    return code;
  })();

  const background = () => {
    void exitCode.then(async (code) => {
      await hooks.report({ exitCode: code }).catch(() => {});
      await cleanup();
    });
    return { pid, exitCode: null };
  };
  // Detached (-d): the session goes on without us; its end is reported when it comes.
  if (!relay) return background();
  const { detached } = await relay.done;
  // The client detached (detach keys) or went away: the process goes on all the same.
  if (detached || ctx.signal.aborted) return background();
  const code = await exitCode;
  await hooks.report({ exitCode: code });
  await cleanup();
  return { pid, exitCode: code };
}
