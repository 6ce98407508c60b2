/**
 * The container area: the records the daemon keeps (dockerd's config.v2.json, trimmed to what
 * berth uses), the API documents, and the args of the container jobs between the daemon and
 * the graph, network and exec actors.
 */

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  /** Only for a container with a healthcheck (dockerd omits the key otherwise). */
  Health?: HealthState;
}

export interface HealthState {
  Status: 'starting' | 'healthy' | 'unhealthy';
  FailingStreak: number;
  Log: Array<{ Start: string; End: string; ExitCode: number; Output: string }>;
}

/** What the exec actor needs to run a container (the OCI spec is made from it there). */
export interface RunSpec {
  id: string;
  /** The mounted root filesystem. */
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  /** "name", "uid", "uid:gid", "name:group": resolved in the container's /etc/passwd. */
  user: string;
  hostname: string;
  domainname: string;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  readonlyRootfs: boolean;
  /** Files the daemon wrote for the container (bind-mounted over /etc/...). */
  hostsPath: string;
  hostnamePath: string;
  resolvConfPath: string;
  /** The network namespace to join (null: the host's). */
  netns: string | null;
  /**
   * The pid, ipc and uts namespaces (--pid, --ipc, --uts): absent or '' a new one, 'host' the
   * host's (none in the spec), else the path of another container's to join (/proc/<pid>/ns/…).
   */
  pidns?: string;
  ipcns?: string;
  utsns?: '' | 'host';
  /**
   * /dev/shm: absent a tmpfs of shmSize of its own; null none (--ipc none); a host path
   * bind-mounted (--ipc shareable: the daemon's tmpfs; host: /dev/shm; container: the donor's).
   */
  shmPath?: string | null;
  memory: number;
  memorySwap: number;
  cpuShares: number;
  nanoCpus: number;
  cpuQuota: number;
  cpuPeriod: number;
  pidsLimit: number;
  /** --memory-reservation, --kernel-memory (bytes; 0 none), --oom-kill-disable. */
  memoryReservation?: number;
  kernelMemory?: number;
  oomKillDisable?: boolean;
  /** --cpuset-cpus, --cpuset-mems ('' = all), --cpu-rt-period, --cpu-rt-runtime (µs; 0 none). */
  cpusetCpus?: string;
  cpusetMems?: string;
  cpuRealtimePeriod?: number;
  cpuRealtimeRuntime?: number;
  /** --blkio-weight (0 none), --blkio-weight-device and the throttles, by host path (stat'ed at create). */
  blkio?: {
    weight: number;
    weightDevice: Array<{ Path: string; Weight: number }>;
    readBps: Array<{ Path: string; Rate: number }>;
    writeBps: Array<{ Path: string; Rate: number }>;
    readIOps: Array<{ Path: string; Rate: number }>;
    writeIOps: Array<{ Path: string; Rate: number }>;
  };
  /** --cgroup-parent: the container's cgroup is <parent>/<id> ('' = /berth, berth's default). */
  cgroupParent?: string;
  /** --group-add: group names (looked up in the container's /etc/group) or numeric ids. */
  groupAdd?: string[];
  /** Bytes of /dev/shm. */
  shmSize: number;
  oomScoreAdj: number;
  maskedPaths: string[];
  readonlyPaths: string[];
  /** The capabilities of the process (CAP_ names), --cap-add/--cap-drop applied. */
  capabilities: string[];
  rlimits: Array<{ type: string; hard: number; soft: number }>;
  /** Where the json-file log lives (data root). */
  logPath: string;
  /** The logging driver: json-file with its rotation and attributes (absent: json-file, no options), or none. */
  log?: RunLog;
  labels: Record<string, string>;
  consoleSize: [number, number] | null;
  /** Volumes, binds and tmpfs of the container (OCI mount entries, parents first). */
  mounts?: Array<{ destination: string; type: string; source: string; options: string[] }>;
  /** rshared or rslave when a bind mount asks for that propagation. */
  rootfsPropagation?: string;
  /** --privileged: every host device, the devices cgroup open, /sys and cgroups writable. */
  privileged?: boolean;
  /** --device (HostConfig.Devices): looked up on the host at start. */
  devices?: Array<{ PathOnHost: string; PathInContainer: string; CgroupPermissions: string }>;
  /** --device-cgroup-rule ("c 1:3 rwm"): added to the devices cgroup. */
  deviceCgroupRules?: string[];
  /** --sysctl, over dockerd's defaults (runc refuses those that are not namespaced). */
  sysctls?: Record<string, string>;
  /** --security-opt no-new-privileges. */
  noNewPrivileges?: boolean;
  /** The OCI linux.seccomp of the container (daemon/containers/seccomp.ts); absent = no filter. */
  seccomp?: Record<string, unknown>;
  /**
   * --init: the init binary bind-mounted read-only at /sbin/docker-init, which runs the process
   * as its child (args become /sbin/docker-init -- args). path '' = docker-init, else tini-static,
   * found in PATH by the exec actor; absent = no init.
   */
  init?: { path: string };
}

/** A container's logging, as the exec actor applies it (src/logdriver/options.ts). */
export interface RunLog {
  driver: 'json-file' | 'none';
  /** Bytes per file; -1 = one file that grows. */
  maxSize: number;
  maxFiles: number;
  compress: boolean;
  /** The "attrs" of every entry (JSON), '' = none. */
  attrs: string;
}

/** What the exec actor knows of a container it runs (or ran). */
export interface RuntimeState {
  id: string;
  status: 'created' | 'running' | 'stopped' | 'unknown';
  pid: number;
  /** Set once the container has exited. */
  exitCode: number | null;
  oomKilled: boolean;
  /** RFC 3339, when known. */
  finishedAt: string | null;
}

/** An exit, reported by the exec actor to the daemon. */
export interface ExitReport {
  id: string;
  exitCode: number;
  oomKilled: boolean;
  finishedAt: string;
}

export interface AttachArgs {
  id: string;
  /** Replay the container's log first (attach?logs=1), from logPath. */
  logs: boolean;
  logPath: string;
  /** Relay the live streams (attach?stream=1). */
  stream: boolean;
  stdin: boolean;
  /** The container's stdin closes with the client's (else the client's end only ends this attach). */
  stdinOnce: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  /** Detach key sequence as bytes ([] = none). */
  detachKeys: number[];
}

export interface LogsArgs {
  id: string;
  logPath: string;
  follow: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Unix nanoseconds; 0 = unbounded. */
  since: string;
  until: string;
  timestamps: boolean;
  /** Prefix each line with the log's extra attributes (none here: a space, as dockerd). */
  details: boolean;
  /** -1 = all. */
  tail: number;
  tty: boolean;
}

/** POST /containers/create: the body (Config with HostConfig and NetworkingConfig inside). */
export interface CreateArgs {
  name: string;
  /** null: no body at all. */
  body: Record<string, unknown> | null;
  platform: string;
}

export interface StopArgs {
  name: string;
  /** A signal name or number ('' = the container's StopSignal). */
  signal: string;
  /** Seconds to wait before SIGKILL (null = the container's StopTimeout, or 10). */
  timeout: number | null;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface ContainerAttachArgs {
  name: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Replay the log first. */
  logs: boolean;
  /** Stay attached to the live streams. */
  stream: boolean;
  detachKeys: string;
}

export interface ContainerLogsArgs {
  name: string;
  follow: boolean;
  stdout: boolean;
  stderr: boolean;
  since: string;
  until: string;
  timestamps: boolean;
  details: boolean;
  tail: string;
}

export interface ListArgs {
  all: boolean;
  limit: number;
  size: boolean;
  filters?: string;
}

export interface ContainersPruneReport {
  ContainersDeleted: string[] | null;
  SpaceReclaimed: number;
}

/** One exec session, as the exec actor runs it. */
export interface ExecProcessArgs {
  /** The container. */
  id: string;
  execId: string;
  args: string[];
  /** Added to (or replacing in) the container's environment; "NAME" alone removes NAME. */
  env: string[];
  /** '' = the container's. */
  cwd: string;
  /** '' = the container's. */
  user: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  detach: boolean;
  detachKeys: number[];
  consoleSize: [number, number] | null;
  /** docker exec --privileged: these capabilities (all), for any user, as dockerd's execSetPlatformOpt. */
  privilegedCaps?: string[];
}

/** What dockerd keeps of an exec (GET /exec/{id}/json). */
export interface ExecConfig {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  ProcessConfig: { tty: boolean; entrypoint: string; arguments: string[]; privileged: boolean; user?: string };
  OpenStdin: boolean;
  OpenStderr: boolean;
  OpenStdout: boolean;
  CanRemove: boolean;
  ContainerID: string;
  DetachKeys: string;
  Pid: number;
}

/** One reading of a container's cgroups: the stats document without read/preread/precpu/name/id. */
export interface StatsSample {
  pids_stats: { current?: number; limit?: number };
  blkio_stats: Record<string, Array<{ major: number; minor: number; op: string; value: number }> | null>;
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: {
    cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
    system_cpu_usage?: number;
    online_cpus?: number;
    throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
  };
  memory_stats: { usage?: number; max_usage?: number; stats?: Record<string, number>; limit?: number };
  networks?: Record<string, Record<string, number>>;
}

/** Limits `docker update` changes on a running container (runc update's resources). */
export interface UpdateResources {
  memory: number;
  memorySwap: number;
  memoryReservation: number;
  cpuShares: number;
  cpuQuota: number;
  cpuPeriod: number;
  cpusetCpus: string;
  cpusetMems: string;
  pidsLimit: number;
  blkioWeight: number;
  kernelMemory?: number;
  cpuRealtimePeriod?: number;
  cpuRealtimeRuntime?: number;
}
