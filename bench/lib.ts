/**
 * Small helpers shared by the scenarios: timing, percentiles, aligned tables, machine info, and
 * starting/stopping a real berthd and removing a scenario's temp dir. Nothing here measures
 * anything by itself.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { access, constants, lstat, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';

/** A figure in a table cell: numbers are formatted by the caller, so the table stays dumb. */
export type Row = Record<string, string>;

/** now returns monotonic nanoseconds (hrtime), the only clock the scenarios use. */
export function now(): bigint {
  return process.hrtime.bigint();
}

/** percentile of an ascending-sorted array, nearest-rank (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** fmtInt: 123456.7 → "123,457". */
export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

/** fmtUs: microseconds with a precision that suits their size. */
export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '-';
  if (us >= 10_000) return `${(us / 1000).toFixed(1)} ms`;
  if (us >= 100) return `${us.toFixed(0)} µs`;
  return `${us.toFixed(1)} µs`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '-';
  return `${r >= 100 ? fmtInt(r) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/**
 * table prints rows under a title with aligned columns: text columns left-aligned, columns
 * that look numeric right-aligned, so figures line up by their last digit.
 */
export function table(title: string, columns: readonly string[], rows: readonly Row[]): string {
  const width = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => /^[-\d.,]/.test(r[c] ?? '-')));
  const cell = (text: string, i: number) => (numeric[i] ? text.padStart(width[i]!) : text.padEnd(width[i]!));
  const line = (cells: readonly string[]) => cells.map(cell).join('  ').trimEnd();
  const out = [title, line(columns), width.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows) out.push(line(columns.map((c) => r[c] ?? '')));
  return out.join('\n') + '\n';
}

/** machineInfo: what a reader needs to compare two result files. */
export function machineInfo(): Record<string, unknown> {
  const cpu = cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    nproc: Number(tryRun('nproc', []) ?? cpu.length),
    cpuModel: cpu[0]?.model ?? 'unknown',
    kernel: release(),
    memTotalMiB: Math.round(totalmem() / 2 ** 20),
    arch: process.arch,
    // A busy host skews every figure: a load well above 0 at the start is worth a second look.
    loadAvg1mAtStart: Number(loadavg()[0]!.toFixed(2)),
  };
}

/** gitCommit: the short commit of the checkout, with -dirty if tracked files changed. */
export function gitCommit(cwd: string): string {
  const c = tryRun('git', ['rev-parse', '--short=7', 'HEAD'], cwd);
  if (!c) return 'nogit';
  const dirty = tryRun('git', ['status', '--porcelain', '--untracked-files=no'], cwd);
  return dirty ? `${c}-dirty` : c;
}

/** tryRun runs a command and returns its trimmed stdout, or null if it fails or is missing. */
export function tryRun(cmd: string, args: readonly string[], cwd?: string): string | null {
  try {
    return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString().trim();
  } catch {
    return null;
  }
}

/** which finds an executable in PATH, as the shell would. */
export async function which(bin: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const p = join(dir, bin);
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  return null;
}

/** A scenario: a name for the filter, and run(), which prints its tables and returns its figures. */
export interface Scenario {
  name: string;
  description: string;
  run(ctx: { repo: string }): Promise<Record<string, unknown>>;
}

/**
 * Cleanups for an interrupted run (Ctrl-C): a scenario registers how to stop what it started,
 * and unregisters it when it has stopped it itself. run.ts calls them on SIGINT/SIGTERM.
 */
export const cleanups = new Set<() => Promise<void>>();

/** Where a request goes: a loopback tcp port (number), or the path of a unix socket (string). */
export type Endpoint = number | string;

/** get does one GET and returns status and body (for readiness and sanity checks). */
export function get(to: Endpoint, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const where = typeof to === 'number' ? { host: '127.0.0.1', port: to } : { socketPath: to };
    const req = request({ ...where, path, method: 'GET', agent: false, timeout: 2_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** A berthd started by a scenario: its process, and the tail of its log (shown when it fails). */
export interface Berthd {
  child: ChildProcess;
  log(): string;
}

/**
 * spawnBerthd starts dist/src/cli/berthd.js with all its state inside dir (data root, exec root,
 * pidfile) and `-b none --iptables=false`, so it never touches the host's network or firewall —
 * unless opts.network: then berthd makes its default bridge (berth0) and its BERTH* iptables
 * chains, which a clean SIGTERM stop removes (the `network` scenario checks that it did).
 * `args` adds the listeners (-H, loopback or unix only) and options such as -s. It does not
 * wait for berthd to be ready: call waitForPing.
 */
export function spawnBerthd(repo: string, dir: string, args: readonly string[], opts: { network?: boolean } = {}): Berthd {
  const argv = [
    join(repo, 'dist/src/cli/berthd.js'),
    '--data-root', join(dir, 'root'),
    '--exec-root', join(dir, 'exec'),
    '-p', join(dir, 'pid'),
    ...(opts.network ? [] : ['-b', 'none', '--iptables=false']),
    ...args,
  ];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  // Keep only the log's tail, for a failed start; drained always so a full pipe never blocks it.
  let log = '';
  child.stderr!.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-8_000);
  });
  return { child, log: () => log };
}

/** waitForPing polls GET /_ping until berthd answers 200, and fails fast if berthd exits. */
export async function waitForPing(b: Berthd, to: Endpoint): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (b.child.exitCode !== null || b.child.signalCode !== null) {
      throw new Error(`berthd exited (${b.child.exitCode ?? b.child.signalCode}) before answering /_ping:\n${b.log()}`);
    }
    const r = await get(to, '/_ping').catch(() => null);
    if (r?.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`berthd did not answer /_ping within 30 s:\n${b.log()}`);
}

/** stopChild sends SIGTERM to one child by its pid, waits for it, and SIGKILLs it after graceMs. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(child.pid!, sig);
    } catch {
      // ESRCH: it has just exited; the 'exit' event is on its way
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) signal('SIGKILL');
  }, graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * removeTmp removes a scenario's temp dir — unless something is still mounted under it
 * (berthd should have unmounted everything), because rm -r would then reach into the mount.
 */
export async function removeTmp(tmp: string): Promise<void> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  const inside = mounts.split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m === tmp || m.startsWith(`${tmp}/`));
  if (inside.length) {
    process.stderr.write(`bench: not removing ${tmp}: still mounted there: ${inside.join(', ')}\n`);
    return;
  }
  if (await lstat(tmp).then(() => true, () => false)) await rm(tmp, { recursive: true, force: true });
}
