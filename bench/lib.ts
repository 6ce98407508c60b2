/**
 * Small helpers shared by the scenarios: timing, percentiles, aligned tables, machine info.
 * Nothing here measures anything by itself.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';

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
