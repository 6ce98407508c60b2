/**
 * What a container's cgroups say: its processes (docker top) and its resource use (docker
 * stats), read straight from cgroupfs — the files runc made under /berth/<id> — rather than
 * through `runc events --stats`, which costs a process per sample.
 *
 * The shape is the Engine API's stats document minus what the daemon adds (read, preread,
 * precpu_stats, name, id). cgroup v1 is what this host has and what the tests cover; v2
 * reads the unified files into the same fields dockerd 20.10 fills on v2.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { posix } from 'node:path';
import { promisify } from 'node:util';
import { ConflictError, SystemError } from '../../src/errdefs/errors.js';
import type { StatsSample } from '../../src/protocol/types/containers.js';

const run = promisify(execFile);
const ROOT = '/sys/fs/cgroup';
/** USER_HZ: cpuacct.stat and /proc/stat count in these ticks; the API counts nanoseconds. */
const NS_PER_TICK = 1e9 / 100;

async function text(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

async function num(path: string): Promise<number | null> {
  const t = await text(path);
  if (t === null) return null;
  const n = Number(t.trim());
  return Number.isFinite(n) ? n : null;
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat). */
function keyValues(t: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (t ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

export class CgroupReader {
  /** cgroupOf: a container's cgroup path (--cgroup-parent), when known; else /berth/<id>. */
  constructor(private readonly version: '1' | '2', private readonly cgroupOf: (id: string) => string | undefined = () => undefined) {}

  private path(controller: string, id: string, file: string): string {
    const cg = this.cgroupOf(id) ?? `/berth/${id}`;
    // A relative --cgroup-parent is under runc's own cgroup: berthd's, the root here.
    // Cleaned as runc cleans it (CleanPath): `..` cannot climb out of the cgroup tree.
    const rel = posix.relative('/', posix.resolve('/', cg));
    return this.version === '2' ? `${ROOT}/${rel}/${file}` : `${ROOT}/${controller}/${rel}/${file}`;
  }

  /** pids are the host pids of every process in the container (exec sessions included). */
  async pids(id: string): Promise<number[]> {
    const t = await text(this.path('pids', id, 'cgroup.procs'));
    if (t === null) throw new ConflictError(`Container ${id} is not running`);
    return t.split('\n').filter(Boolean).map(Number);
  }

  /** top runs the host's ps with the caller's arguments and keeps the container's rows (dockerd's way). */
  async top(id: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const pids = new Set(await this.pids(id));
    const args = psArgs.trim() ? psArgs.trim().split(/\s+/) : ['-ef'];
    let stdout: string;
    try {
      ({ stdout } = await run('ps', args, { timeout: 30_000, maxBuffer: 64 << 20 }));
    } catch (err) {
      const stderr = String((err as { stderr?: string }).stderr ?? '').trim().split('\n')[0];
      throw new SystemError(stderr ? `ps: ${stderr}` : `Error running ps: ${(err as Error).message}`);
    }
    const lines = stdout.split('\n').filter((l) => l.length > 0);
    const titles = (lines[0] ?? '').trim().split(/\s+/);
    const pidIndex = titles.indexOf('PID');
    if (pidIndex < 0) throw new SystemError(`Couldn't find PID field in ps output`);
    const processes: string[][] = [];
    for (const line of lines.slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (!pids.has(Number(fields[pidIndex]))) continue;
      // The last column is the command, spaces and all.
      const row = fields.slice(0, titles.length - 1);
      row.push(fields.slice(titles.length - 1).join(' '));
      processes.push(row);
    }
    return { Titles: titles, Processes: processes };
  }

  /** sample reads one set of figures; `pid` (the init process) gives the network counters. */
  async sample(id: string, pid: number, withNetworks: boolean): Promise<StatsSample> {
    const s = this.version === '2' ? await this.sampleV2(id) : await this.sampleV1(id);
    if (withNetworks && pid > 0) s.networks = await networks(pid);
    return s;
  }

  private async sampleV1(id: string): Promise<StatsSample> {
    const p = (c: string, f: string) => this.path(c, id, f);
    const [usage, percpu, cpuacct, cpuStat, memUsage, memMax, memStat, memLimit, pidsCurrent, pidsMax, ioBytes, ioServiced, system] = await Promise.all([
      num(p('cpuacct', 'cpuacct.usage')),
      text(p('cpuacct', 'cpuacct.usage_percpu')),
      text(p('cpuacct', 'cpuacct.stat')),
      text(p('cpu', 'cpu.stat')),
      num(p('memory', 'memory.usage_in_bytes')),
      num(p('memory', 'memory.max_usage_in_bytes')),
      text(p('memory', 'memory.stat')),
      num(p('memory', 'memory.limit_in_bytes')),
      num(p('pids', 'pids.current')),
      text(p('pids', 'pids.max')),
      text(p('blkio', 'blkio.throttle.io_service_bytes_recursive')),
      text(p('blkio', 'blkio.throttle.io_serviced_recursive')),
      systemCpuUsage(),
    ]);
    if (usage === null) throw new ConflictError(`Container ${id} is not running`);
    const acct = keyValues(cpuacct);
    const thr = keyValues(cpuStat);
    const stats = keyValues(memStat);
    const sorted: Record<string, number> = {};
    for (const k of Object.keys(stats).sort()) sorted[k] = stats[k]!;
    // Unlimited is a huge number in v1: dockerd shows the host's memory then.
    const host = totalmem();
    const limit = memLimit === null || memLimit > host ? host : memLimit;
    const maxPids = Number((pidsMax ?? '').trim());
    return {
      pids_stats: { current: pidsCurrent ?? 0, ...(Number.isFinite(maxPids) && maxPids > 0 ? { limit: maxPids } : {}) },
      blkio_stats: {
        io_service_bytes_recursive: blkio(ioBytes),
        io_serviced_recursive: blkio(ioServiced),
        io_queue_recursive: [],
        io_service_time_recursive: [],
        io_wait_time_recursive: [],
        io_merged_recursive: [],
        io_time_recursive: [],
        sectors_recursive: [],
      },
      num_procs: 0,
      storage_stats: {},
      cpu_stats: {
        cpu_usage: {
          total_usage: usage,
          percpu_usage: (percpu ?? '').trim().split(/\s+/).filter(Boolean).map(Number),
          usage_in_kernelmode: (acct.system ?? 0) * NS_PER_TICK,
          usage_in_usermode: (acct.user ?? 0) * NS_PER_TICK,
        },
        system_cpu_usage: system,
        online_cpus: cpus().length,
        throttling_data: { periods: thr.nr_periods ?? 0, throttled_periods: thr.nr_throttled ?? 0, throttled_time: thr.throttled_time ?? 0 },
      },
      memory_stats: { usage: memUsage ?? 0, max_usage: memMax ?? 0, stats: sorted, limit },
    };
  }

  private async sampleV2(id: string): Promise<StatsSample> {
    const p = (f: string) => this.path('', id, f);
    const [cpuStat, memCurrent, memStat, memMax, pidsCurrent, pidsMax, system] = await Promise.all([
      text(p('cpu.stat')),
      num(p('memory.current')),
      text(p('memory.stat')),
      text(p('memory.max')),
      num(p('pids.current')),
      text(p('pids.max')),
      systemCpuUsage(),
    ]);
    if (cpuStat === null) throw new ConflictError(`Container ${id} is not running`);
    const c = keyValues(cpuStat);
    const stats = keyValues(memStat);
    const sorted: Record<string, number> = {};
    for (const k of Object.keys(stats).sort()) sorted[k] = stats[k]!;
    const host = totalmem();
    const lim = Number((memMax ?? '').trim());
    const maxPids = Number((pidsMax ?? '').trim());
    return {
      pids_stats: { current: pidsCurrent ?? 0, ...(Number.isFinite(maxPids) && maxPids > 0 ? { limit: maxPids } : {}) },
      blkio_stats: { io_service_bytes_recursive: [], io_serviced_recursive: [], io_queue_recursive: [], io_service_time_recursive: [], io_wait_time_recursive: [], io_merged_recursive: [], io_time_recursive: [], sectors_recursive: [] },
      num_procs: 0,
      storage_stats: {},
      cpu_stats: {
        cpu_usage: { total_usage: (c.usage_usec ?? 0) * 1000, usage_in_kernelmode: (c.system_usec ?? 0) * 1000, usage_in_usermode: (c.user_usec ?? 0) * 1000 },
        system_cpu_usage: system,
        online_cpus: cpus().length,
        throttling_data: { periods: c.nr_periods ?? 0, throttled_periods: c.nr_throttled ?? 0, throttled_time: (c.throttled_usec ?? 0) * 1000 },
      },
      memory_stats: { usage: memCurrent ?? 0, stats: sorted, limit: Number.isFinite(lim) && lim > 0 && lim < host ? lim : host },
    };
  }
}

/** blkio lines "8:0 Read 4096" as the API's entries (the per-device Total lines are left out). */
function blkio(t: string | null): Array<{ major: number; minor: number; op: string; value: number }> {
  const out: Array<{ major: number; minor: number; op: string; value: number }> = [];
  for (const line of (t ?? '').split('\n')) {
    const m = /^(\d+):(\d+)\s+(\w+)\s+(\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

/** The host's CPU time in nanoseconds (the first line of /proc/stat), as dockerd's system_cpu_usage. */
async function systemCpuUsage(): Promise<number> {
  const t = (await text('/proc/stat')) ?? '';
  const first = t.split('\n').find((l) => l.startsWith('cpu '));
  if (!first) return 0;
  // user nice system idle iowait irq softirq: the first seven fields, as dockerd sums them.
  const ticks = first.trim().split(/\s+/).slice(1, 8).reduce((a, b) => a + Number(b), 0);
  return ticks * NS_PER_TICK;
}

/** The container's interfaces (not lo) from its namespace's /proc/<pid>/net/dev. */
async function networks(pid: number): Promise<Record<string, Record<string, number>>> {
  const t = await text(`/proc/${pid}/net/dev`);
  const out: Record<string, Record<string, number>> = {};
  for (const line of (t ?? '').split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    const iface = name?.trim();
    if (!iface || iface === 'lo' || rest === undefined) continue;
    const f = rest.trim().split(/\s+/).map(Number);
    out[iface] = {
      rx_bytes: f[0] ?? 0,
      rx_packets: f[1] ?? 0,
      rx_errors: f[2] ?? 0,
      rx_dropped: f[3] ?? 0,
      tx_bytes: f[8] ?? 0,
      tx_packets: f[9] ?? 0,
      tx_errors: f[10] ?? 0,
      tx_dropped: f[11] ?? 0,
    };
  }
  return out;
}
