/**
 * Documents of the system area as the Engine API returns them (GET /version, GET /info,
 * GET /events) and the status each actor reports for them. Field names are the API's.
 */

export interface ComponentVersion {
  Name: string;
  Version: string;
  Details?: Record<string, string>;
}

/** GET /version. */
export interface VersionInfo {
  Platform: { Name: string };
  Components: ComponentVersion[];
  Version: string;
  ApiVersion: string;
  MinAPIVersion: string;
  GitCommit: string;
  GoVersion: string;
  Os: string;
  Arch: string;
  KernelVersion: string;
  Experimental?: boolean;
  BuildTime: string;
}

/** GET /info: the fields dockerd 20.10 returns (see test/fixtures/dockerd-20.10/info.json). */
export type SystemInfo = Record<string, unknown> & {
  ID: string;
  Containers: number;
  Images: number;
  Driver: string;
  DockerRootDir: string;
  ServerVersion: string;
  Warnings: string[] | null;
};

/** One event as GET /events streams it (API 1.41 shape, with the legacy status/id/from). */
export interface EventMessage {
  status?: string;
  id?: string;
  from?: string;
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local' | 'swarm';
  time: number;
  timeNano: number;
}

/** Args of the `log` job: publish one event on the bus (the seed's Events.Log). */
export interface EventInput {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
}

/** Args of the `events` job (GET /events): times are Unix seconds, possibly fractional. */
export interface EventsQuery {
  since?: string;
  until?: string;
  /** The raw `filters` query parameter (JSON), validated by the daemon. */
  filters?: string;
}

/** What the api actor reports (api_status). */
export interface ApiStatus {
  listeners: number;
  requestsInFlight: number;
  accepting: boolean;
}

/** One actor as the supervisor sees it (the `actors` job, GET /debug/actors, the SIGQUIT dump). */
export interface ActorReport {
  actor: string;
  state: string;
  restarts: number;
  threadId: number;
  alive: boolean;
  incarnation: number;
  queued: string[];
  jobsInFlight: Array<{ job: string; from: string; ageMs: number }>;
  jobsSubmitted: Array<{ job: string; ageMs: number }>;
}

/** What the network actor reports about its driver (init_networkdriver, network_status). */
export interface NetworkStatus {
  driver: string;
  bridge: string;
  disabled: boolean;
  ipv4Forwarding: boolean;
  bridgeNfIptables: boolean;
  bridgeNfIp6tables: boolean;
  warnings: string[];
}

/** What the graph actor reports (init_graphdriver, graph_status). */
export interface GraphStatus {
  driver: string;
  home: string;
  /** How many images the store holds (for /info). */
  images: number;
  driverStatus: [string, string][];
  warnings: string[];
}

/** What the exec actor reports (init_execdriver, exec_status). */
export interface ExecStatus {
  defaultRuntime: string;
  runtimes: Record<string, { path: string }>;
  runtimeVersion: { name: string; version: string; commit: string } | null;
  monitorVersion: { name: string; version: string; commit: string } | null;
  /**
   * The init binary of `docker run --init` (`<init> --version`, tini's format), for docker info's
   * InitCommit and docker version's docker-init; null when it is missing or says no version.
   */
  initVersion?: { name: string; version: string; commit: string } | null;
  cgroupDriver: string;
  cgroupVersion: string;
  /** What the host's cgroups can limit (dockerd's sysinfo, shown in /info). */
  cgroup: CgroupSupport;
  warnings: string[];
}

export interface CgroupSupport {
  memoryLimit: boolean;
  swapLimit: boolean;
  kernelMemory: boolean;
  kernelMemoryTCP: boolean;
  oomKillDisable: boolean;
  cpuCfsPeriod: boolean;
  cpuCfsQuota: boolean;
  cpuShares: boolean;
  cpuSet: boolean;
  pidsLimit: boolean;
}

/** GET /system/df (API 1.41). */
export interface SystemDf {
  LayersSize: number;
  Images: import('./images.js').ImageSummary[];
  Containers: unknown[];
  Volumes: unknown[];
  BuildCache: unknown[] | null;
  BuilderSize: number;
}
