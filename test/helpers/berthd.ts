/**
 * Start a real berthd for a test: its own data root, exec root, pidfile and socket under a
 * fresh temp dir, the compiled daemon (dist/src/cli/berthd.js), and helpers to drive it with
 * the real docker CLI, dockerode and raw HTTP. stop() ends it by pid and removes the temp dir.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';

export const BERTHD = fileURLToPath(new URL('../../src/cli/berthd.js', import.meta.url));

export interface StartOptions {
  /** Extra flags. */
  args?: string[];
  /** Replace the default -H (the temp dir's socket). */
  hosts?: string[];
  env?: Record<string, string>;
  /** Wait until /_ping answers (default true). */
  wait?: boolean;
  /** Use this temp dir instead of a new one. */
  dir?: string;
  /** Run with networking (the default bridge and its rules); off (-b none) unless asked. */
  network?: boolean;
}

export interface Berthd {
  dir: string;
  socket: string;
  pidfile: string;
  dataRoot: string;
  execRoot: string;
  proc: ChildProcess;
  pid: number;
  /** Everything the daemon wrote to stderr and stdout so far. */
  output(): string;
  /** Resolves with the exit code (or 128+signal) when the daemon ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  request(method: string, path: string, opts?: RequestOptions): Promise<HttpReply>;
  docker(args: string[], opts?: { timeoutMs?: number; env?: Record<string, string> }): Promise<CliResult>;
  dockerode(): Docker;
  /** SIGTERM (or `signal`), wait for the exit, remove the temp dir. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface RequestOptions {
  body?: string | Buffer;
  headers?: Record<string, string>;
  timeoutMs?: number;
  socketPath?: string;
}

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  json<T = unknown>(): T;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Every daemon this test process started and has not stopped, with its temp dir. A failed
 * assertion throws and can skip a test's own stop(): at exit, whatever is left is killed by pid
 * and its temp dir removed, so a failing test leaks nothing either.
 */
const live = new Map<number, { dir: string | null; dead?: boolean }>();
process.on('exit', () => {
  for (const [pid, { dir, dead }] of live) {
    try {
      // A daemon that already ended (a test killed it on purpose) is not signalled: its pid may be another's now.
      if (!dead) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

export function tempDir(prefix = 'bt-'): string {
  // Short: unix socket paths are limited to 107 bytes.
  return mkdtempSync(join('/tmp', prefix));
}

export function httpOn(socketPath: string, method: string, path: string, opts: RequestOptions = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath: opts.socketPath ?? socketPath, method, path, headers: opts.headers, timeout: opts.timeoutMs ?? 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body, json: <T>() => JSON.parse(body) as T });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

export function run(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** waitFor polls `check` until it returns true or the deadline passes. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, stepMs = 25): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return false;
}

/** runBerthd runs berthd to its exit (for flag and start-up failures). */
export function runBerthd(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  // As startBerthd: no default bridge unless the test names one (flag tests pass -b/--bip themselves).
  const net = args.some((a) => /^(-b|--bridge|--bip)(=|$)/.test(a)) || args.includes('--help') || args.includes('-h') || args.includes('--version') || args.includes('-v') ? [] : ['-b', 'none'];
  return run(process.execPath, [BERTHD, ...args, ...net], opts);
}

export async function startBerthd(opts: StartOptions = {}): Promise<Berthd> {
  const dir = opts.dir ?? tempDir();
  const socket = join(dir, 's.sock');
  const pidfile = join(dir, 'berthd.pid');
  const dataRoot = join(dir, 'root');
  const execRoot = join(dir, 'exec');
  const hosts = opts.hosts ?? [`unix://${socket}`];
  // Networking off unless a test asks for it: daemons of concurrent tests must not share the
  // default bridge and its rules (a test that wants them passes -b/--bip/--bridge itself).
  const extra = opts.args ?? [];
  const net = opts.network || extra.some((a) => a === '-b' || a === '--bridge' || a.startsWith('--bridge=') || a === '--bip' || a.startsWith('--bip=')) ? [] : ['-b', 'none'];
  const args = ['--data-root', dataRoot, '--exec-root', execRoot, '-p', pidfile, ...hosts.flatMap((h) => ['-H', h]), ...net, ...extra];
  // cwd in the temp dir: a core dump (SIGQUIT with DEBUG set) lands there, not in the repo.
  // setpriv --pdeathsig: if this test process is killed (ava's timeout does that), the daemon
  // dies with it instead of living on as an orphan. setpriv execs, so the pid is berthd's.
  const proc = spawn('setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, BERTHD, ...args], {
    cwd: dir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  // 'close', not 'exit': only then has everything the daemon wrote been read.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  let done = false;
  live.set(proc.pid!, { dir: opts.dir ? null : dir });
  void exited.then(() => {
    done = true;
    const entry = live.get(proc.pid!);
    if (entry) entry.dead = true;
  });

  const b: Berthd = {
    dir,
    socket,
    pidfile,
    dataRoot,
    execRoot,
    proc,
    pid: proc.pid!,
    output: () => out,
    exited,
    request: (method, path, o) => httpOn(socket, method, path, o),
    docker: (a, o = {}) => run('docker', a, { env: { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'docker-config'), ...o.env }, timeoutMs: o.timeoutMs }),
    dockerode: () => new Docker({ socketPath: socket }),
    stop: async (signal = 'SIGTERM') => {
      if (!done) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      const r = await exited;
      clearTimeout(timer);
      live.delete(proc.pid!);
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
  const unixHost = hosts.find((h) => h.startsWith('unix://'))?.slice('unix://'.length);
  if (opts.wait !== false && unixHost) {
    const up = await waitFor(async () => {
      if (done) return true;
      if (!existsSync(unixHost)) return false;
      try {
        const r = await httpOn(unixHost, 'GET', '/_ping', { timeoutMs: 2_000 });
        return r.status === 200;
      } catch {
        return false;
      }
    }, 20_000);
    if (!up || done) {
      await b.stop('SIGKILL');
      throw new Error(`berthd did not come up:\n${out}`);
    }
  }
  return b;
}
