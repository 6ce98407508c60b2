/**
 * The cgroup limits beyond memory and CPU quota, checked as dockerd 20.10 checks them
 * (runconfig's validateResources, then verifyPlatformContainerResources) for create and update:
 * --memory-reservation, --kernel-memory, --oom-kill-disable, --cpuset-cpus/--cpuset-mems
 * against the host's CPUs and memory nodes, --blkio-weight, --blkio-weight-device,
 * --device-read-bps/-write-bps/-read-iops/-write-iops, --cpu-rt-period/--cpu-rt-runtime.
 * What the host cannot limit is discarded with dockerd's warning, as dockerd does.
 */
import { InvalidParameterError } from '../../errdefs/errors.js';
import type { SysInfo } from './sysinfo.js';

type Doc = Record<string, unknown>;

const MIN_MEMORY = 6 * 1024 * 1024;

export interface WeightDevice {
  Path: string;
  Weight: number;
}
export interface ThrottleDevice {
  Path: string;
  Rate: number;
}

export const THROTTLE_FIELDS = ['BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps'] as const;

function num(o: Doc, key: string): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidParameterError(`invalid type for field ${key}: expected number, got ${typeof v}`);
  return v;
}

function str(o: Doc, key: string): string {
  const v = o[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new InvalidParameterError(`invalid type for field ${key}: expected string, got ${typeof v}`);
  return v;
}

function deviceList<T extends 'Weight' | 'Rate'>(o: Doc, key: string, value: T): Array<{ Path: string } & Record<T, number>> {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidParameterError(`invalid type for field ${key}: expected an array`);
  return v.map((d: unknown) => {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new InvalidParameterError(`invalid type for field ${key}: expected an array of objects`);
    const e = d as Doc;
    return { Path: str(e, 'Path'), [value]: num(e, value) } as { Path: string } & Record<T, number>;
  });
}

/** The fields as they are stored, typed; each absent one its empty value. */
export interface CgroupLimits {
  MemoryReservation: number;
  KernelMemory: number;
  OomKillDisable: boolean | null;
  CpusetCpus: string;
  CpusetMems: string;
  CpuRealtimePeriod: number;
  CpuRealtimeRuntime: number;
  BlkioWeight: number;
  BlkioWeightDevice: WeightDevice[];
  BlkioDeviceReadBps: ThrottleDevice[];
  BlkioDeviceWriteBps: ThrottleDevice[];
  BlkioDeviceReadIOps: ThrottleDevice[];
  BlkioDeviceWriteIOps: ThrottleDevice[];
}

export function readLimits(hc: Doc): CgroupLimits {
  const oom = hc.OomKillDisable;
  if (oom !== undefined && oom !== null && typeof oom !== 'boolean') throw new InvalidParameterError(`invalid type for field OomKillDisable: expected boolean, got ${typeof oom}`);
  return {
    MemoryReservation: num(hc, 'MemoryReservation'),
    KernelMemory: num(hc, 'KernelMemory'),
    OomKillDisable: (oom as boolean | null | undefined) ?? null,
    CpusetCpus: str(hc, 'CpusetCpus'),
    CpusetMems: str(hc, 'CpusetMems'),
    CpuRealtimePeriod: num(hc, 'CpuRealtimePeriod'),
    CpuRealtimeRuntime: num(hc, 'CpuRealtimeRuntime'),
    BlkioWeight: num(hc, 'BlkioWeight'),
    BlkioWeightDevice: deviceList(hc, 'BlkioWeightDevice', 'Weight'),
    BlkioDeviceReadBps: deviceList(hc, 'BlkioDeviceReadBps', 'Rate'),
    BlkioDeviceWriteBps: deviceList(hc, 'BlkioDeviceWriteBps', 'Rate'),
    BlkioDeviceReadIOps: deviceList(hc, 'BlkioDeviceReadIOps', 'Rate'),
    BlkioDeviceWriteIOps: deviceList(hc, 'BlkioDeviceWriteIOps', 'Rate'),
  };
}

/** runconfig's validateResources: the real-time scheduler's settings, checked at decode. */
export function checkRealtime(l: CgroupLimits, si: SysInfo): void {
  if ((l.CpuRealtimePeriod !== 0 || l.CpuRealtimeRuntime !== 0) && !si.cpuRealtime) throw new InvalidParameterError('Your kernel does not support CPU real-time scheduler');
  if (l.CpuRealtimePeriod !== 0 && l.CpuRealtimeRuntime !== 0 && l.CpuRealtimeRuntime > l.CpuRealtimePeriod) {
    throw new InvalidParameterError('cpu real-time runtime cannot be higher than cpu real-time period');
  }
}

/**
 * verifyLimits is the part of dockerd's verifyPlatformContainerResources for these fields
 * (memory is the request's Memory): throws its 400s, returns its warnings, and clears in l
 * what the host cannot do, as dockerd does before it stores the HostConfig.
 */
export function verifyLimits(l: CgroupLimits, memory: number, si: SysInfo): string[] {
  const warnings: string[] = [];
  if (l.MemoryReservation > 0 && !si.memoryReservation) {
    warnings.push('Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.');
    l.MemoryReservation = 0;
  }
  if (l.MemoryReservation > 0 && l.MemoryReservation < MIN_MEMORY) throw new InvalidParameterError('Minimum memory reservation allowed is 6MB');
  if (memory > 0 && l.MemoryReservation > 0 && memory < l.MemoryReservation) throw new InvalidParameterError('Minimum memory limit can not be less than memory reservation limit, see usage');
  if (l.KernelMemory > 0) warnings.push('Specifying a kernel memory limit is deprecated and will be removed in a future release.');
  if (l.KernelMemory > 0 && !si.kernelMemory) {
    warnings.push('Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded.');
    l.KernelMemory = 0;
  }
  if (l.KernelMemory > 0 && l.KernelMemory < MIN_MEMORY) throw new InvalidParameterError('Minimum kernel memory limit allowed is 6MB');
  if (l.OomKillDisable !== null && !si.oomKillDisable) {
    if (l.OomKillDisable) warnings.push('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
    l.OomKillDisable = null;
  }
  if (l.OomKillDisable === true && memory === 0) {
    warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }

  if ((l.CpusetCpus !== '' || l.CpusetMems !== '') && !si.cpuset) {
    warnings.push('Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.');
    l.CpusetCpus = '';
    l.CpusetMems = '';
  }
  if (!listAvailable(l.CpusetCpus, si.cpus, 'cpus')) throw new InvalidParameterError(`Requested CPUs are not available - requested ${l.CpusetCpus}, available: ${si.cpus}`);
  if (!listAvailable(l.CpusetMems, si.mems, 'mems')) throw new InvalidParameterError(`Requested memory nodes are not available - requested ${l.CpusetMems}, available: ${si.mems}`);

  if (l.BlkioWeight > 0 && !si.blkioWeight) {
    warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
    l.BlkioWeight = 0;
  }
  if (l.BlkioWeight > 0 && (l.BlkioWeight < 10 || l.BlkioWeight > 1000)) throw new InvalidParameterError('Range of blkio weight is from 10 to 1000');
  if (l.BlkioWeightDevice.length > 0 && !si.blkioWeightDevice) {
    warnings.push('Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.');
    l.BlkioWeightDevice = [];
  }
  const throttles: Array<[(typeof THROTTLE_FIELDS)[number], boolean, string]> = [
    ['BlkioDeviceReadBps', si.blkioReadBpsDevice, 'Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.'],
    ['BlkioDeviceWriteBps', si.blkioWriteBpsDevice, 'Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded.'],
    ['BlkioDeviceReadIOps', si.blkioReadIOpsDevice, 'Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded.'],
    ['BlkioDeviceWriteIOps', si.blkioWriteIOpsDevice, 'Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.'],
  ];
  for (const [field, supported, warning] of throttles) {
    if (l[field].length > 0 && !supported) {
      warnings.push(warning);
      l[field] = [];
    }
  }
  return warnings;
}

/** dockerd's isCpusetListAvailable, with its parse errors ("Invalid value x for cpuset cpus: …"). */
function listAvailable(provided: string, available: string, what: 'cpus' | 'mems'): boolean {
  const avail = parseUintList(available, 0);
  if (avail instanceof Error) throw new InvalidParameterError(`Invalid value ${provided} for cpuset ${what}: ${avail.message}`);
  const max = Math.max(8192, ...avail);
  const asked = parseUintList(provided, max);
  if (asked instanceof Error) throw new InvalidParameterError(`Invalid value ${provided} for cpuset ${what}: ${asked.message}`);
  return [...asked].every((n) => avail.has(n));
}

/** dockerd's parsers.parseUintList: "0-2,4", duplicates allowed; an error as its text. */
function parseUintList(val: string, maximum: number): Set<number> | Error {
  const out = new Set<number>();
  if (val === '') return out;
  const invalid = new Error(`invalid format: ${val}`);
  const atoi = (s: string) => (/^[+-]?\d+$/.test(s) ? Number(s) : NaN);
  for (const r of val.split(',')) {
    if (!r.includes('-')) {
      const v = atoi(r);
      if (Number.isNaN(v)) return invalid;
      if (maximum !== 0 && v > maximum) return new Error(`value of out range, maximum is ${maximum}`);
      out.add(v);
      continue;
    }
    const i = r.indexOf('-');
    const lo = atoi(r.slice(0, i));
    const hi = atoi(r.slice(i + 1));
    if (Number.isNaN(lo) || Number.isNaN(hi) || hi < lo) return invalid;
    if (maximum !== 0 && hi > maximum) return new Error(`value of out range, maximum is ${maximum}`);
    for (let n = lo; n <= hi; n++) out.add(n);
  }
  return out;
}
