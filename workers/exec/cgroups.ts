/**
 * What the host's cgroups look like: v2 (unified), or v1 — on this kind of machine a hybrid v1
 * layout, with one hierarchy per controller under /sys/fs/cgroup. The support flags follow
 * dockerd's sysinfo checks (the files each limit needs).
 */
import { access } from 'node:fs/promises';
import type { CgroupSupport } from '../../src/protocol/types/system.js';

const ROOT = '/sys/fs/cgroup';

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export async function cgroupVersion(): Promise<'1' | '2'> {
  return (await exists(`${ROOT}/cgroup.controllers`)) ? '2' : '1';
}

export async function cgroupSupport(version: '1' | '2'): Promise<CgroupSupport> {
  if (version === '2') {
    const controllers = await import('node:fs/promises').then((fs) => fs.readFile(`${ROOT}/cgroup.controllers`, 'utf8')).catch(() => '');
    const has = (c: string) => controllers.split(/\s+/).includes(c);
    return {
      memoryLimit: has('memory'),
      swapLimit: has('memory'),
      kernelMemory: false,
      kernelMemoryTCP: false,
      oomKillDisable: false,
      cpuCfsPeriod: has('cpu'),
      cpuCfsQuota: has('cpu'),
      cpuShares: has('cpu'),
      cpuSet: has('cpuset'),
      pidsLimit: has('pids'),
    };
  }
  return {
    memoryLimit: await exists(`${ROOT}/memory/memory.limit_in_bytes`),
    swapLimit: await exists(`${ROOT}/memory/memory.memsw.limit_in_bytes`),
    kernelMemory: await exists(`${ROOT}/memory/memory.kmem.limit_in_bytes`),
    kernelMemoryTCP: await exists(`${ROOT}/memory/memory.kmem.tcp.limit_in_bytes`),
    oomKillDisable: await exists(`${ROOT}/memory/memory.oom_control`),
    cpuCfsPeriod: await exists(`${ROOT}/cpu/cpu.cfs_period_us`),
    cpuCfsQuota: await exists(`${ROOT}/cpu/cpu.cfs_quota_us`),
    cpuShares: await exists(`${ROOT}/cpu/cpu.shares`),
    cpuSet: await exists(`${ROOT}/cpuset/cpuset.cpus`),
    pidsLimit: await exists(`${ROOT}/pids`),
  };
}

/** dockerd's `docker info` warnings for what the cgroups cannot do. */
export function cgroupWarnings(s: CgroupSupport): string[] {
  const w: string[] = [];
  if (!s.memoryLimit) w.push('WARNING: No memory limit support');
  if (!s.swapLimit) w.push('WARNING: No swap limit support');
  if (!s.kernelMemoryTCP && s.memoryLimit && s.kernelMemory) w.push('WARNING: No kernel memory TCP limit support');
  if (!s.oomKillDisable && s.memoryLimit) w.push('WARNING: No oom kill disable support');
  if (!s.cpuCfsQuota) w.push('WARNING: No cpu cfs quota support');
  if (!s.cpuCfsPeriod) w.push('WARNING: No cpu cfs period support');
  if (!s.cpuShares) w.push('WARNING: No cpu shares support');
  if (!s.cpuSet) w.push('WARNING: No cpuset support');
  return w;
}
