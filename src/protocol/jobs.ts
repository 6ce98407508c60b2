/**
 * The job protocol, declared once: every job's name, the actor that owns it, its args and
 * its result. The engine routes by this table; workers implement `Handlers<'graph'>` etc., so
 * a worker that forgets a job, or returns the wrong shape, does not compile.
 *
 * Names are the seed's where the seed has one (init_networkdriver, serveapi,
 * acceptconnections, events, log, subscribers_count, version, commands), and snake_case in
 * its style otherwise.
 *
 * Per-job options:
 *   stream   the job writes a byte stream to its caller (job.stdout); no deadline by default
 *   stdin    the job reads a byte stream from its caller (job.stdin): an upload
 *   replay   the engine re-runs the job, with the same args, on a restarted actor before
 *            handing it new jobs (init jobs, serveapi)
 *   timeoutMs  the deadline if the caller gives none (default DEFAULT_TIMEOUT_MS)
 */
import type {
  ActorReport,
  ApiStatus,
  EventInput,
  EventsQuery,
  ExecStatus,
  GraphStatus,
  NetworkStatus,
  SystemDf,
  SystemInfo,
  VersionInfo,
} from './types/system.js';
import type {
  ExecDriverConfig,
  GraphDriverConfig,
  NetworkDriverConfig,
  ServeApiArgs,
} from './types/config.js';
import type { FailpointSpec } from './types/failpoints.js';
import type {
  AttachArgs,
  ContainerAttachArgs,
  ContainerLogsArgs,
  ContainersPruneReport,
  CreateArgs,
  ExecProcessArgs,
  ExitReport,
  ListArgs,
  LogsArgs,
  RunSpec,
  RuntimeState,
  StatsSample,
  StopArgs,
  UpdateResources,
  WaitCondition,
} from './types/containers.js';
import type { VolumeDoc, VolumeListResult, VolumesPruneReport } from './types/volumes.js';
import type { AttachArgs as NetAttachArgs, AttachResult, NetworkCreateArgs, NetworkDoc, NetworksPruneReport, PortMap, PublishArgs } from './types/networks.js';
import type { ArchivePutArgs, ArchiveRoot, ContainerPathStat } from './types/archive.js';
import type { DistributionInspect, PullArgs, PushArgs, RegistryAuth } from './types/distribution.js';
import type { AuthConfigArgs, AuthResult, RegistrySettingsArgs, SearchArgs, SearchResult } from './types/registry.js';
import type { CommitArgs, DeleteItem, HistoryItem, ImageSummary, ImagesUsage, ImageUsers, ImportArgs, PruneReport } from './types/images.js';

/** Who can own a job: the engine and the daemon live on the main thread, the rest are workers. */
export type ActorName = 'engine' | 'daemon' | 'api' | 'network' | 'graph' | 'exec';
export type WorkerActorName = Exclude<ActorName, 'engine' | 'daemon'>;
export const WORKER_ACTORS: readonly WorkerActorName[] = ['api', 'network', 'graph', 'exec'];

export const DEFAULT_TIMEOUT_MS = 120_000;

interface JobSpec<A extends ActorName, Args, Result> {
  actor: A;
  stream?: boolean;
  stdin?: boolean;
  replay?: boolean;
  timeoutMs?: number;
  /** Phantom fields: types only, never set at run time. */
  __args?: Args;
  __result?: Result;
}

function job<Args, Result>() {
  return <A extends ActorName>(actor: A, opts: Omit<JobSpec<A, Args, Result>, 'actor' | '__args' | '__result'> = {}) =>
    ({ actor, ...opts }) as JobSpec<A, Args, Result>;
}

type Empty = Record<string, never>;

export const JOBS = {
  // engine (seed §5.2)
  commands: job<Empty, string[]>()('engine'),
  failpoints_list: job<Empty, FailpointSpec[]>()('engine'),
  failpoints_set: job<FailpointSpec, FailpointSpec[]>()('engine'),
  failpoints_clear: job<{ name?: string }, FailpointSpec[]>()('engine'),
  /** The supervisor's view: every actor, its state, restarts and jobs in flight. */
  actors: job<Empty, ActorReport[]>()('engine'),

  // daemon: builtins on the main thread (seed §5.4.3, §5.4.4)
  version: job<Empty, VersionInfo>()('daemon'),
  info: job<Empty, SystemInfo>()('daemon'),
  events: job<EventsQuery, void>()('daemon', { stream: true }),
  log: job<EventInput, void>()('daemon'),
  subscribers_count: job<Empty, number>()('daemon'),
  /** GET /system/df: the daemon combines the actors' parts. */
  system_df: job<Empty, SystemDf>()('daemon'),
  /** Volumes (the daemon's store, `local` driver): GET/POST/DELETE /volumes. */
  volume_list: job<{ filters?: string }, VolumeListResult>()('daemon'),
  volume_create: job<{ body: Record<string, unknown> | null }, VolumeDoc>()('daemon'),
  volume_inspect: job<{ name: string }, VolumeDoc>()('daemon'),
  volume_remove: job<{ name: string; force: boolean }, void>()('daemon'),
  volume_prune: job<{ filters?: string }, VolumesPruneReport>()('daemon', { timeoutMs: 0 }),
  /** Which containers use these images (the graph asks before deleting one). */
  image_users: job<{ ids: string[] }, ImageUsers>()('daemon'),
  /** The exec actor reports that a container's process ended. */
  container_exited: job<ExitReport, void>()('daemon'),
  /** The container verbs: the daemon keeps the records and drives graph, network and exec. */
  container_create: job<CreateArgs, { Id: string; Warnings: string[] }>()('daemon'),
  /** Resolves false when the container already runs (a 304). */
  container_start: job<{ name: string }, boolean>()('daemon'),
  container_stop: job<StopArgs, boolean>()('daemon', { timeoutMs: 0 }),
  container_restart: job<StopArgs, void>()('daemon', { timeoutMs: 0 }),
  container_kill: job<{ name: string; signal: string }, void>()('daemon'),
  /** Writes one JSON document ({StatusCode, Error}) when the condition is met; begins at once. */
  container_wait: job<{ name: string; condition: WaitCondition }, void>()('daemon', { stream: true }),
  container_attach: job<ContainerAttachArgs, void>()('daemon', { stream: true, stdin: true, timeoutMs: 0 }),
  container_logs: job<ContainerLogsArgs, void>()('daemon', { stream: true }),
  container_list: job<ListArgs, Record<string, unknown>[]>()('daemon'),
  container_inspect: job<{ name: string; size: boolean }, Record<string, unknown>>()('daemon'),
  container_delete: job<{ name: string; force: boolean; volumes: boolean; link: boolean }, void>()('daemon', { timeoutMs: 0 }),
  container_rename: job<{ name: string; newName: string }, void>()('daemon'),
  container_resize: job<{ name: string; height: number; width: number }, void>()('daemon'),
  container_prune: job<{ filters?: string }, ContainersPruneReport>()('daemon', { timeoutMs: 0 }),
  /** docker network connect/disconnect: the container's record changes, and a running one's interfaces. */
  container_connect: job<{ network: string; container: string; aliases: string[]; ipv4: string }, void>()('daemon'),
  container_disconnect: job<{ network: string; container: string; force: boolean }, void>()('daemon'),
  /** docker exec: create, start (hijacked, or detached), inspect, resize; the exec actor reports its pid and exit. */
  container_exec_create: job<{ name: string; body: Record<string, unknown> | null }, { Id: string }>()('daemon'),
  container_exec_start: job<{ execId: string; detach: boolean; tty: boolean; consoleSize: [number, number] | null }, void>()('daemon', { stream: true, stdin: true, timeoutMs: 0 }),
  container_exec_inspect: job<{ execId: string }, Record<string, unknown>>()('daemon'),
  container_exec_resize: job<{ execId: string; height: number; width: number }, void>()('daemon'),
  container_pause: job<{ name: string }, void>()('daemon'),
  container_unpause: job<{ name: string }, void>()('daemon'),
  container_top: job<{ name: string; psArgs: string }, { Titles: string[]; Processes: string[][] }>()('daemon'),
  /** Writes JSON documents: one (stream false) or one a second until the client goes. */
  container_stats: job<{ name: string; stream: boolean; oneShot: boolean }, void>()('daemon', { stream: true, timeoutMs: 0 }),
  container_update: job<{ name: string; body: Record<string, unknown> }, { Warnings: string[] | null }>()('daemon'),
  /** docker diff, export and commit (src/daemon/containers/commit.ts). */
  container_changes: job<{ name: string }, Array<{ Path: string; Kind: 0 | 1 | 2 }> | null>()('daemon'),
  container_export: job<{ name: string }, void>()('daemon', { stream: true, timeoutMs: 0 }),
  container_commit: job<{ name: string; repo: string; tag: string; author: string; comment: string; pause: boolean; changes: string[]; config: Record<string, unknown> | null }, { Id: string }>()('daemon', { timeoutMs: 0 }),
  /** docker cp: HEAD/GET/PUT /containers/{id}/archive. The GET stream's first frame is the stat (JSON), the tar follows. */
  container_archive_stat: job<{ name: string; path: string }, ContainerPathStat>()('daemon'),
  container_archive_get: job<{ name: string; path: string }, void>()('daemon', { stream: true, timeoutMs: 0 }),
  container_archive_put: job<{ name: string; path: string; noOverwriteDirNonDir: boolean; copyUIDGID: boolean }, void>()('daemon', { stdin: true, timeoutMs: 0 }),
  exec_event: job<{ execId: string; pid?: number; exitCode?: number; failed?: boolean }, void>()('daemon'),

  // api actor (seed §5.4.2, §5.7)
  serveapi: job<ServeApiArgs, { listening: string[] }>()('api', { replay: true }),
  acceptconnections: job<Empty, { notified: boolean }>()('api', { replay: true }),
  api_status: job<Empty, ApiStatus>()('api'),

  // network actor (seed §5.4.1)
  init_networkdriver: job<NetworkDriverConfig, NetworkStatus>()('network', { replay: true }),
  network_status: job<Empty, NetworkStatus>()('network'),
  /** A container's network namespace: a new one ('none'), or the host's (null path). */
  netns_create: job<{ id: string; mode: string }, { path: string | null }>()('network'),
  netns_remove: job<{ id: string }, void>()('network'),
  network_list: job<{ filters?: string }, NetworkDoc[]>()('network'),
  network_inspect: job<{ name: string }, NetworkDoc>()('network'),
  network_create: job<NetworkCreateArgs, { Id: string; Warning: string }>()('network'),
  network_remove: job<{ name: string }, void>()('network'),
  network_prune: job<{ filters?: string }, NetworksPruneReport>()('network'),
  /** A container's interface on a network (the seed's allocate_interface): veth, address, MAC. */
  allocate_interface: job<NetAttachArgs, AttachResult>()('network'),
  /** namespaceGoes: the container's namespace is removed next (its veth goes with it, at no cost here). */
  release_interface: job<{ containerId: string; network: string; namespaceGoes?: boolean }, void>()('network'),
  /** Its published ports on that network (the seed's allocate_port). */
  allocate_port: job<PublishArgs, PortMap>()('network'),
  /** The containers the network actor has endpoints for (the daemon releases those not running). */
  network_endpoints: job<Empty, Array<{ containerId: string; networkId: string }>>()('network'),
  /** A clean stop (no --live-restore): remove every bridge, veth and rule berth made. */
  network_teardown: job<Empty, void>()('network'),

  // graph actor
  init_graphdriver: job<GraphDriverConfig, GraphStatus>()('graph', { replay: true }),
  graph_status: job<Empty, GraphStatus>()('graph'),
  image_list: job<{ all: boolean; digests: boolean; filters?: string }, ImageSummary[]>()('graph'),
  image_inspect: job<{ name: string }, Record<string, unknown>>()('graph'),
  image_history: job<{ name: string }, HistoryItem[]>()('graph'),
  image_tag: job<{ name: string; repo: string; tag: string }, void>()('graph'),
  image_delete: job<{ name: string; force: boolean; noprune: boolean }, DeleteItem[]>()('graph'),
  image_prune: job<{ filters?: string }, PruneReport>()('graph'),
  image_df: job<Empty, ImagesUsage>()('graph'),
  /** POST /images/create?fromSrc=-: the body is the layer. */
  image_import: job<ImportArgs, { id: string }>()('graph', { stream: true, stdin: true, timeoutMs: 0 }),
  /** POST /images/load: the body is a docker save or OCI layout archive. */
  image_load: job<{ quiet: boolean }, void>()('graph', { stream: true, stdin: true, timeoutMs: 0 }),
  /** GET /images/get: the archive is the output. */
  image_save: job<{ names: string[] }, void>()('graph', { stream: true, timeoutMs: 0 }),
  /** docker pull and push (workers/graph/distribution): dockerd's JSON progress is the output. */
  image_pull: job<PullArgs, void>()('graph', { stream: true, timeoutMs: 0 }),
  image_push: job<PushArgs, void>()('graph', { stream: true, timeoutMs: 0 }),
  /** GET /distribution/{name}/json: the manifest's descriptor and platforms, from the registry. */
  distribution_inspect: job<{ name: string; auth: RegistryAuth | null }, DistributionInspect>()('graph', { timeoutMs: 60_000 }),
  /** A container's writable layer on its image, mounted for runc, and removed with it. */
  /** The image a container is created from: its ID and its config (for dockerd's merge). */
  image_resolve: job<{ name: string }, { id: string; config: Record<string, unknown> }>()('graph'),
  /** docker cp inside a mounted root filesystem (and its mounts), every path resolved within it (archive/). */
  archive_stat: job<ArchiveRoot, ContainerPathStat>()('graph'),
  archive_get: job<ArchiveRoot, void>()('graph', { stream: true, timeoutMs: 0 }),
  archive_put: job<ArchivePutArgs, void>()('graph', { stdin: true, timeoutMs: 0 }),
  rootfs_create: job<{ id: string; image: string }, { mountId: string; graphDriver: { Data: Record<string, string> | null; Name: string } }>()('graph'),
  rootfs_mount: job<{ id: string }, { path: string }>()('graph'),
  rootfs_unmount: job<{ id: string }, void>()('graph'),
  rootfs_remove: job<{ id: string }, void>()('graph'),
  rootfs_usage: job<{ id: string }, number>()('graph'),
  /** A new volume filled from the image's content at its destination (the daemon decides when). */
  volume_prefill: job<{ rootfs: string; destination: string; volumePath: string; inUseElsewhere: boolean }, void>()('graph', { timeoutMs: 0 }),
  /** The sizes of volumes' directories (system df, prune), as dockerd's directory.Size. */
  volume_usage: job<{ paths: string[] }, number[]>()('graph', { timeoutMs: 0 }),
  /** docker diff: the container's layer against its init layer, in dockerd's order. */
  rootfs_changes: job<{ id: string }, Array<{ Path: string; Kind: 0 | 1 | 2 }>>()('graph'),
  /** docker export: the mounted root filesystem as a tar (the daemon keeps it mounted meanwhile). */
  rootfs_export: job<{ id: string }, void>()('graph', { stream: true, timeoutMs: 0 }),
  /** POST /commit: a layer from the container's, and the image (tagged if repo is given). */
  image_commit: job<CommitArgs, { id: string; imageRef: string }>()('graph', { timeoutMs: 0 }),
  /** The daemon's registry flags (mirrors, insecure registries, certs.d), sent at start-up and on SIGHUP. */
  registry_settings: job<RegistrySettingsArgs, void>()('graph', { replay: true }),
  /** POST /auth (the seed's `auth` builtin): docker login, checked against the registry. */
  auth: job<{ auth: AuthConfigArgs | null }, AuthResult>()('graph', { timeoutMs: 60_000 }),
  /** GET /images/search (the seed's `search` builtin): the registry's v1 search. */
  search: job<SearchArgs, SearchResult[]>()('graph', { timeoutMs: 120_000 }),

  // exec actor
  init_execdriver: job<ExecDriverConfig, ExecStatus>()('exec', { replay: true }),
  exec_status: job<Empty, ExecStatus>()('exec'),
  /** Write the bundle and have conmon create the container (not started). */
  exec_create: job<{ spec: RunSpec }, { pid: number }>()('exec'),
  exec_start: job<{ id: string }, { pid: number }>()('exec'),
  exec_kill: job<{ id: string; signal: string }, void>()('exec'),
  exec_delete: job<{ id: string }, void>()('exec'),
  exec_resize: job<{ id: string; height: number; width: number }, void>()('exec'),
  /** The container's stdio: output to the job's stdout (frames), input from its stdin; says whether the client detached. */
  exec_attach: job<AttachArgs, { detached: boolean }>()('exec', { stream: true, stdin: true, timeoutMs: 0 }),
  exec_logs: job<LogsArgs, void>()('exec', { stream: true, timeoutMs: 0 }),
  /** What the runtime has: the daemon reconciles its records with it at start. */
  exec_containers: job<Empty, RuntimeState[]>()('exec'),
  /** An exec session (docker exec): its stdio relayed like attach's; the exit code at the end (null: detached). */
  exec_process: job<ExecProcessArgs, { pid: number; exitCode: number | null }>()('exec', { stream: true, stdin: true, timeoutMs: 0 }),
  exec_process_resize: job<{ id: string; execId: string; height: number; width: number }, void>()('exec'),
  /** The freezer: runc pause / resume. */
  exec_pause: job<{ id: string }, void>()('exec'),
  exec_resume: job<{ id: string }, void>()('exec'),
  /** New limits on a running container (runc update). */
  exec_update: job<{ id: string; resources: UpdateResources }, void>()('exec'),
  /** docker top: the host's ps, filtered to the container's processes. */
  exec_top: job<{ id: string; psArgs: string }, { Titles: string[]; Processes: string[][] }>()('exec'),
  /** One reading of its cgroups (and, with networks, its interfaces' counters). */
  exec_stats: job<{ id: string; pid: number; networks: boolean }, StatsSample>()('exec'),
} as const;

export type JobTable = typeof JOBS;
export type JobName = keyof JobTable;
export type ArgsOf<K extends JobName> = NonNullable<JobTable[K]['__args']>;
export type ResultOf<K extends JobName> = JobTable[K] extends JobSpec<ActorName, unknown, infer R> ? R : never;
export type OwnerOf<K extends JobName> = JobTable[K]['actor'];

/** The names of the jobs an actor owns. */
export type JobsOf<A extends ActorName> = {
  [K in JobName]: OwnerOf<K> extends A ? K : never;
}[JobName];

export function isJobName(name: string): name is JobName {
  return Object.prototype.hasOwnProperty.call(JOBS, name);
}

export function ownerOf(name: string): ActorName | undefined {
  return isJobName(name) ? JOBS[name].actor : undefined;
}

export function jobsOwnedBy(actor: ActorName): JobName[] {
  return (Object.keys(JOBS) as JobName[]).filter((k) => JOBS[k].actor === actor);
}
