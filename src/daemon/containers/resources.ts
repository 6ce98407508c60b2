/**
 * `docker update` and `docker stats` on the daemon's side (dockerd's daemon/update.go,
 * container.UpdateContainer and daemon/stats.go): what an update may change and how it merges
 * into the HostConfig, and the stats document built from the exec actor's cgroup readings.
 */
import { availableParallelism } from 'node:os';
import { ConflictError, InvalidParameterError } from '../../errdefs/errors.js';
import type { StatsSample, UpdateResources } from '../../protocol/types/containers.js';
import { ZERO_TIME } from '../../protocol/time.js';
import { checkRealtime, readLimits, verifyLimits } from './limits.js';
import { hostSysInfo, type SysInfo } from './sysinfo.js';

type Doc = Record<string, unknown>;

const RESTART_POLICIES = ['', 'no', 'always', 'unless-stopped', 'on-failure'];

function num(o: Doc, key: string): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidParameterError(`invalid type for field ${key}: expected a number`);
  return v;
}

export interface UpdatePlan {
  /** The HostConfig after the update. */
  hostConfig: Doc;
  /** What runc must set on a running container. */
  resources: UpdateResources;
  warnings: string[] | null;
}

/**
 * planUpdate checks an update body as dockerd does (the same limits as create, then the
 * conflicts with what the container has) and merges it: a zero field leaves the current
 * value, as in dockerd.
 */
export function planUpdate(id: string, current: Doc, body: Doc, sysInfo: SysInfo = hostSysInfo()): UpdatePlan {
  const conflict = (msg: string) => new ConflictError(`Cannot update container ${id}: ${msg}`);
  const memory = num(body, 'Memory');
  const memorySwap = num(body, 'MemorySwap');
  const nanoCpus = num(body, 'NanoCpus');
  const cpuQuota = num(body, 'CpuQuota');
  const cpuPeriod = num(body, 'CpuPeriod');
  if (memory > 0 && memory < 6 * 1024 * 1024) throw new InvalidParameterError('Minimum memory limit allowed is 6MB');
  if (memory > 0 && memorySwap > 0 && memorySwap < memory) throw new InvalidParameterError('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (nanoCpus > 0 && cpuPeriod > 0) throw new InvalidParameterError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nanoCpus > 0 && cpuQuota > 0) throw new InvalidParameterError('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  const ncpu = availableParallelism();
  if (nanoCpus < 0 || nanoCpus > ncpu * 1e9) throw new InvalidParameterError(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  if (cpuPeriod !== 0 && (cpuPeriod < 1000 || cpuPeriod > 1_000_000)) throw new InvalidParameterError('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  if (cpuQuota !== 0 && cpuQuota < 1000 && cpuQuota !== -1) throw new InvalidParameterError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  const rp = (body.RestartPolicy ?? {}) as Doc;
  const rpName = typeof rp.Name === 'string' ? rp.Name : '';
  const retries = num(rp, 'MaximumRetryCount');
  if (!RESTART_POLICIES.includes(rpName)) throw new InvalidParameterError(`invalid restart policy '${rpName}'`);
  if (rpName === 'on-failure' && retries < 0) throw new InvalidParameterError('maximum retry count cannot be negative');
  if (retries !== 0 && rpName !== 'on-failure') throw new InvalidParameterError(`maximum retry count cannot be used with restart policy '${rpName}'`);
  for (const field of ['Devices', 'DeviceCgroupRules', 'DeviceRequests', 'BlkioWeightDevice', 'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps', 'Ulimits']) {
    const v = body[field];
    if (Array.isArray(v) && v.length) throw new InvalidParameterError(`berth cannot update ${field} (dockerd cannot either)`);
  }
  // --cpuset-*, --memory-reservation, --kernel-memory, --blkio-weight, --cpu-rt-*: dockerd's
  // checks (update=true), what the host cannot limit dropped with its warning.
  const limits = readLimits(body);
  checkRealtime(limits, sysInfo);
  const limitWarnings = verifyLimits(limits, memory, sysInfo);

  const hc: Doc = { ...current };
  // dockerd 20.10: a new memory limit above the current swap limit needs a new swap limit too
  // (also when the container has none, swap 0).
  if (memory !== 0) {
    if (memory > num(current, 'MemorySwap') && memorySwap === 0) throw conflict('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
    hc.Memory = memory;
  }
  if (memorySwap !== 0) hc.MemorySwap = memorySwap;
  const set = (key: string) => {
    const v = num(body, key);
    if (v !== 0) hc[key] = v;
  };
  set('CpuShares');
  for (const key of ['BlkioWeight', 'CpuRealtimePeriod', 'CpuRealtimeRuntime', 'MemoryReservation', 'KernelMemory'] as const) {
    if (limits[key] !== 0) hc[key] = limits[key];
  }
  if (nanoCpus !== 0) {
    // Nano CPUs replace a quota and period, and the reverse (dockerd keeps one of the two).
    hc.NanoCpus = nanoCpus;
    hc.CpuQuota = 0;
    hc.CpuPeriod = 0;
  }
  if (cpuQuota !== 0 || cpuPeriod !== 0) {
    if (num(current, 'NanoCpus') > 0 && nanoCpus === 0) throw conflict('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
    if (cpuQuota !== 0) hc.CpuQuota = cpuQuota;
    if (cpuPeriod !== 0) hc.CpuPeriod = cpuPeriod;
  }
  for (const key of ['CpusetCpus', 'CpusetMems'] as const) {
    if (limits[key] !== '') hc[key] = limits[key];
  }
  if (body.PidsLimit !== undefined && body.PidsLimit !== null) hc.PidsLimit = num(body, 'PidsLimit');
  if (rpName !== '') {
    if (current.AutoRemove === true && rpName !== 'no') throw conflict('Restart policy cannot be updated because AutoRemove is enabled for the container');
    hc.RestartPolicy = { Name: rpName, MaximumRetryCount: retries };
  }
  const warnings = limitWarnings.length ? limitWarnings : null;

  const h = (k: string) => num(hc, k);
  const quota = h('NanoCpus') > 0 ? Math.round((h('NanoCpus') * 100_000) / 1e9) : h('CpuQuota');
  const period = h('NanoCpus') > 0 ? 100_000 : h('CpuPeriod');
  return {
    hostConfig: hc,
    resources: {
      memory: h('Memory'),
      memorySwap: h('MemorySwap'),
      memoryReservation: h('MemoryReservation'),
      cpuShares: h('CpuShares'),
      cpuQuota: quota,
      cpuPeriod: period,
      cpusetCpus: String(hc.CpusetCpus ?? ''),
      cpusetMems: String(hc.CpusetMems ?? ''),
      pidsLimit: h('PidsLimit'),
      blkioWeight: h('BlkioWeight'),
      // Only the update's own (dockerd passes the request's, 0 when it sets none: runc warns at each).
      kernelMemory: limits.KernelMemory,
      cpuRealtimePeriod: h('CpuRealtimePeriod'),
      cpuRealtimeRuntime: h('CpuRealtimeRuntime'),
    },
    warnings,
  };
}

const ZERO_CPU = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
const BLKIO_KEYS = ['io_service_bytes_recursive', 'io_serviced_recursive', 'io_queue_recursive', 'io_service_time_recursive', 'io_wait_time_recursive', 'io_merged_recursive', 'io_time_recursive', 'sectors_recursive'];

/** statsDoc is one document of the stats stream, in dockerd's key order. */
export function statsDoc(
  name: string,
  id: string,
  cur: { read: string; sample: StatsSample } | null,
  prev: { read: string; sample: StatsSample } | null,
): Doc {
  if (!cur) {
    // A container that does not run: dockerd's zero document (null blkio arrays, empty memory).
    const blkio: Doc = {};
    for (const k of BLKIO_KEYS) blkio[k] = null;
    return { read: ZERO_TIME, preread: ZERO_TIME, pids_stats: {}, blkio_stats: blkio, num_procs: 0, storage_stats: {}, cpu_stats: ZERO_CPU, precpu_stats: ZERO_CPU, memory_stats: {}, name, id };
  }
  const s = cur.sample;
  const doc: Doc = {
    read: cur.read,
    preread: prev ? prev.read : ZERO_TIME,
    pids_stats: s.pids_stats,
    blkio_stats: s.blkio_stats,
    num_procs: s.num_procs,
    storage_stats: s.storage_stats,
    cpu_stats: s.cpu_stats,
    precpu_stats: prev ? prev.sample.cpu_stats : ZERO_CPU,
    memory_stats: s.memory_stats,
    name,
    id,
  };
  if (s.networks) doc.networks = s.networks;
  return doc;
}
