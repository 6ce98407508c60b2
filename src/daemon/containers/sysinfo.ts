/**
 * What the host's cgroups can limit, as dockerd's pkg/sysinfo finds it (RawSysInfo): on cgroup
 * v1 the files of each controller's mount point (/sys/fs/cgroup/<controller>), on v2 the
 * controllers of the root. Read at each create and update, as dockerd does, so a CPU brought
 * online since counts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';

export interface SysInfo {
  memoryReservation: boolean;
  kernelMemory: boolean;
  oomKillDisable: boolean;
  cpuset: boolean;
  /** cpuset.cpus and cpuset.mems of the root cgroup ("0-1", "0"). */
  cpus: string;
  mems: string;
  cpuRealtime: boolean;
  blkioWeight: boolean;
  blkioWeightDevice: boolean;
  blkioReadBpsDevice: boolean;
  blkioWriteBpsDevice: boolean;
  blkioReadIOpsDevice: boolean;
  blkioWriteIOpsDevice: boolean;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

export function hostSysInfo(root = ROOT): SysInfo {
  if (existsSync(join(root, 'cgroup.controllers'))) {
    // v2 (dockerd's newV2): what the root's controllers offer; no kmem, no OOM-kill switch, no RT.
    const controllers = read(join(root, 'cgroup.controllers')).split(/\s+/);
    const has = (c: string) => controllers.includes(c);
    return {
      memoryReservation: has('memory'),
      kernelMemory: false,
      oomKillDisable: false,
      cpuset: has('cpuset'),
      cpus: read(join(root, 'cpuset.cpus.effective')),
      mems: read(join(root, 'cpuset.mems.effective')),
      cpuRealtime: false,
      blkioWeight: has('io'),
      blkioWeightDevice: has('io'),
      blkioReadBpsDevice: has('io'),
      blkioWriteBpsDevice: has('io'),
      blkioReadIOpsDevice: has('io'),
      blkioWriteIOpsDevice: has('io'),
    };
  }
  const f = (controller: string, file: string) => existsSync(join(root, controller, file));
  const cpuset = existsSync(join(root, 'cpuset'));
  return {
    memoryReservation: f('memory', 'memory.soft_limit_in_bytes'),
    kernelMemory: f('memory', 'memory.kmem.limit_in_bytes'),
    oomKillDisable: f('memory', 'memory.oom_control'),
    cpuset,
    cpus: cpuset ? read(join(root, 'cpuset', 'cpuset.cpus')) : '',
    mems: cpuset ? read(join(root, 'cpuset', 'cpuset.mems')) : '',
    cpuRealtime: f('cpu', 'cpu.rt_period_us'),
    blkioWeight: f('blkio', 'blkio.weight'),
    blkioWeightDevice: f('blkio', 'blkio.weight_device'),
    blkioReadBpsDevice: f('blkio', 'blkio.throttle.read_bps_device'),
    blkioWriteBpsDevice: f('blkio', 'blkio.throttle.write_bps_device'),
    blkioReadIOpsDevice: f('blkio', 'blkio.throttle.read_iops_device'),
    blkioWriteIOpsDevice: f('blkio', 'blkio.throttle.write_iops_device'),
  };
}
