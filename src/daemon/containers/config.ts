/**
 * POST /containers/create, the checking part: the request's Config merged with its image's
 * (dockerd's merge()), its HostConfig checked as dockerd's verifyContainerSettings checks it and
 * filled with the defaults dockerd stores, and every setting berth does not implement yet
 * refused with a 501 that says so — never accepted and silently dropped.
 */
import { checkHealthcheck, mergeHealthcheck, type Healthcheck } from './health.js';
import { availableParallelism } from 'node:os';
import { InvalidParameterError, NotImplementedError } from '../../errdefs/errors.js';
import { parseSignal } from './signals.js';
import { effectiveCaps } from './caps.js';
import { checkDeviceCgroupRules, checkDevices, checkSecurityOpt, checkSysctls } from './security.js';
import { LogOptError, mergeLogConfig } from '../../logdriver/options.js';
import { checkRealtime, readLimits, verifyLimits } from './limits.js';
import { hostSysInfo, type SysInfo } from './sysinfo.js';

/** The daemon's --log-driver and --log-opt (dockerd's defaultLogConfig). */
export interface LogDefaults {
  type: string;
  config: Record<string, string>;
}
const JSON_FILE: LogDefaults = { type: 'json-file', config: {} };

type Doc = Record<string, unknown>;

export const DEFAULT_MASKED_PATHS = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** The container's Config as stored and inspected (dockerd's field order). */
export interface ContainerConfig extends Doc {
  Hostname: string;
  Domainname: string;
  User: string;
  Env: string[] | null;
  Cmd: string[] | null;
  Entrypoint: string[] | null;
  Image: string;
  WorkingDir: string;
  Labels: Record<string, string>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  StopSignal?: string;
  StopTimeout?: number;
}

const isEmpty = (v: unknown): boolean =>
  v === undefined || v === null || v === '' || v === 0 || v === false ||
  (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

function strings(v: unknown, what: string): string[] | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return [v]; // strslice: a string is a one-element list
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new InvalidParameterError(`invalid type for field ${what}: expected an array of strings`);
  return v as string[];
}

function str(o: Doc, key: string): string {
  const v = o[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new InvalidParameterError(`invalid type for field ${key}: expected string, got ${typeof v}`);
  return v;
}

function num(o: Doc, key: string): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' && typeof v !== 'bigint') throw new InvalidParameterError(`invalid type for field ${key}: expected number, got ${typeof v}`);
  return Number(v);
}

function bool(o: Doc, key: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new InvalidParameterError(`invalid type for field ${key}: expected boolean, got ${typeof v}`);
  return v;
}

function obj(o: Doc, key: string): Doc | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidParameterError(`invalid type for field ${key}: expected object`);
  return v as Doc;
}

/**
 * Settings berth does not implement yet: [field, planned issue]. A request that sets one to
 * anything but its empty value is refused (501) rather than run without it.
 */
const UNIMPLEMENTED_HOST: ReadonlyArray<readonly [string, string]> = [
  ['DeviceRequests', 'a later issue'],
  ['Cgroup', 'a later issue'],
  ['KernelMemoryTCP', 'a later issue'], ['StorageOpt', 'a later issue'],
  ['Annotations', 'a later issue'], ['CpuCount', 'Windows only'], ['CpuPercent', 'Windows only'],
  ['IOMaximumIOps', 'Windows only'], ['IOMaximumBandwidth', 'Windows only'],
];

function refuse(field: string, planned: string): never {
  throw new NotImplementedError(`berth does not implement HostConfig.${field} yet (planned: ${planned})`);
}

export interface CreatePlan {
  config: ContainerConfig;
  hostConfig: Doc;
  path: string;
  args: string[];
  /** The network the container joins at start, with its endpoint settings from the request. */
  endpoint: EndpointRequest | null;
  /** dockerd's warnings for the create (a limit the host cannot apply, discarded). */
  warnings: string[];
}

export interface EndpointRequest {
  /** As the user named it: "bridge" for the default, a user network's name or ID. */
  network: string;
  aliases: string[];
  ipv4: string;
}

/**
 * plan checks a create request against its image and returns the container's Config and
 * HostConfig as they will be stored, and the process to run.
 */
export function plan(body: Doc, image: { Config?: Doc | null }, defaultRuntime: string, logDefaults: LogDefaults = JSON_FILE, sysInfo: SysInfo = hostSysInfo()): CreatePlan {
  const hc = obj(body, 'HostConfig') ?? {};
  const warnings: string[] = [];
  const hostConfig = normalizeHostConfig(hc, defaultRuntime, logDefaults, sysInfo, warnings);
  const endpoint = checkNetworking(body, hostConfig);

  const img = image.Config ?? {};
  const userEnv = strings(body.Env, 'Env');
  const imgEnv = strings(img.Env, 'Env') ?? [];
  let env: string[] | null;
  if (!userEnv || userEnv.length === 0) env = imgEnv.length ? [...imgEnv] : userEnv;
  else {
    const keys = new Set(userEnv.map((e) => e.split('=')[0]));
    env = [...userEnv, ...imgEnv.filter((e) => !keys.has(e.split('=')[0]))];
  }
  let cmd = strings(body.Cmd, 'Cmd');
  let entrypoint = strings(body.Entrypoint, 'Entrypoint');
  if (!entrypoint || entrypoint.length === 0) {
    if (!cmd || cmd.length === 0) cmd = strings(img.Cmd, 'Cmd');
    if (entrypoint === null) entrypoint = strings(img.Entrypoint, 'Entrypoint');
  }
  // `--entrypoint ""` (Entrypoint [""]) clears the image's entrypoint: the command runs alone.
  const effEntry = entrypoint && !(entrypoint.length === 1 && entrypoint[0] === '') ? entrypoint : [];
  const argv = [...effEntry, ...(cmd ?? [])];
  if (argv.length === 0) throw new InvalidParameterError('No command specified');

  const labels: Record<string, string> = { ...((obj(img, 'Labels') as Record<string, string> | null) ?? {}), ...((obj(body, 'Labels') as Record<string, string> | null) ?? {}) };
  let workingDir = str(body, 'WorkingDir') || str(img, 'WorkingDir');
  if (workingDir && !workingDir.startsWith('/')) {
    throw new InvalidParameterError(`the working directory '${workingDir}' is invalid, it needs to be an absolute path`);
  }
  const stopSignal = str(body, 'StopSignal') || str(img, 'StopSignal');
  if (stopSignal) parseSignal(stopSignal);
  // dockerd's merge: the image's VOLUMEs added to the request's (`-v /dst`); mounts.ts makes them.
  const volumes = { ...(obj(img, 'Volumes') ?? {}), ...(obj(body, 'Volumes') ?? {}) };
  const health = mergeHealthcheck(checkHealthcheck(obj(body, 'Healthcheck')), obj(img, 'Healthcheck') as Healthcheck | null);
  if (str(body, 'MacAddress')) throw new NotImplementedError('berth does not implement MacAddress yet (planned: a later issue)');

  const config: ContainerConfig = {
    Hostname: str(body, 'Hostname'),
    Domainname: str(body, 'Domainname'),
    User: str(body, 'User') || str(img, 'User'),
    AttachStdin: bool(body, 'AttachStdin'),
    AttachStdout: bool(body, 'AttachStdout'),
    AttachStderr: bool(body, 'AttachStderr'),
    ...(obj(body, 'ExposedPorts') ?? obj(img, 'ExposedPorts') ? { ExposedPorts: { ...(obj(img, 'ExposedPorts') ?? {}), ...(obj(body, 'ExposedPorts') ?? {}) } } : {}),
    Tty: bool(body, 'Tty'),
    OpenStdin: bool(body, 'OpenStdin'),
    StdinOnce: bool(body, 'StdinOnce'),
    Env: env,
    Cmd: cmd,
    ...(health ? { Healthcheck: health } : {}),
    Image: str(body, 'Image'),
    Volumes: Object.keys(volumes).length ? Object.fromEntries(Object.keys(volumes).sort().map((k) => [k, {}])) : null,
    WorkingDir: workingDir,
    Entrypoint: entrypoint,
    OnBuild: null,
    Labels: labels,
    ...(stopSignal ? { StopSignal: stopSignal } : {}),
    ...(body.StopTimeout !== undefined && body.StopTimeout !== null ? { StopTimeout: num(body, 'StopTimeout') } : {}),
  };
  if (body.NetworkDisabled === true) hostConfig.NetworkMode = 'none';
  // Published ports are exposed ones too (dockerd adds them to ExposedPorts).
  const bound = Object.keys(hostConfig.PortBindings as Doc);
  if (bound.length) config.ExposedPorts = { ...((config.ExposedPorts as Doc | undefined) ?? {}), ...Object.fromEntries(bound.map((k) => [k, {}])) };
  return { config, hostConfig, path: argv[0]!, args: argv.slice(1), endpoint, warnings };
}

const RESTART_POLICIES = ['', 'no', 'always', 'unless-stopped', 'on-failure'];

/** normalizeHostConfig checks a HostConfig and fills in what dockerd fills in. */
export function normalizeHostConfig(hc: Doc, defaultRuntime: string, logDefaults: LogDefaults = JSON_FILE, sysInfo: SysInfo = hostSysInfo(), warnings: string[] = []): Doc {
  for (const [field, planned] of UNIMPLEMENTED_HOST) if (!isEmpty(hc[field])) refuse(field, planned);
  // dockerd's decode (runconfig validateResources) checks the real-time settings first.
  const limits = readLimits(hc);
  checkRealtime(limits, sysInfo);
  // --pid, --ipc, --uts kept as given (dockerd checks them only at start: service.ts
  // namespaceSpec); a user namespace is what berth cannot give (no --userns-remap): only "host",
  // which is what every container has here.
  const ipc = str(hc, 'IpcMode');
  const pidMode = str(hc, 'PidMode');
  const utsMode = str(hc, 'UTSMode');
  const usernsMode = str(hc, 'UsernsMode');
  if (usernsMode && usernsMode !== 'host') refuse(`UsernsMode "${usernsMode}"`, 'a later issue (no --userns-remap: only "host")');
  const cgroupns = str(hc, 'CgroupnsMode');
  if (!['', 'host'].includes(cgroupns)) refuse(`CgroupnsMode "${cgroupns}"`, 'a later issue (this host has cgroup v1: only "host")');
  const isolation = str(hc, 'Isolation');
  if (!['', 'default'].includes(isolation)) throw new InvalidParameterError(`Invalid isolation: "${isolation}" - linux only supports 'default'`);
  const runtime = str(hc, 'Runtime') || defaultRuntime;
  if (runtime !== defaultRuntime) throw new InvalidParameterError(`Unknown runtime specified ${runtime}`);

  const log = obj(hc, 'LogConfig') ?? {};
  const logOpts = obj(log, 'Config') ?? {};
  for (const [k, v] of Object.entries(logOpts)) if (typeof v !== 'string') throw new InvalidParameterError(`invalid type for field LogConfig.Config.${k}: expected string`);
  let logConfig: { Type: string; Config: Record<string, string> };
  try {
    logConfig = mergeLogConfig(str(log, 'Type'), logOpts as Record<string, string>, logDefaults);
  } catch (err) {
    if (!(err instanceof LogOptError)) throw err;
    throw err.notImplemented ? new NotImplementedError(err.message) : new InvalidParameterError(err.message);
  }

  const rp = obj(hc, 'RestartPolicy') ?? {};
  const rpName = str(rp, 'Name');
  const retries = num(rp, 'MaximumRetryCount');
  if (!RESTART_POLICIES.includes(rpName)) throw new InvalidParameterError(`invalid restart policy '${rpName}'`);
  if (rpName === 'on-failure' && retries < 0) throw new InvalidParameterError('maximum retry count cannot be negative');
  if (retries !== 0 && rpName !== 'on-failure') throw new InvalidParameterError(`maximum retry count cannot be used with restart policy '${rpName}'`);
  const autoRemove = bool(hc, 'AutoRemove');
  if (autoRemove && rpName !== '' && rpName !== 'no') throw new InvalidParameterError("can't create 'AutoRemove' container with restart policy");

  const memory = num(hc, 'Memory');
  // dockerd: with a memory limit and no swap limit, swap is limited to as much again.
  const memorySwap = num(hc, 'MemorySwap') || (num(hc, 'Memory') > 0 ? num(hc, 'Memory') * 2 : 0);
  if (memory > 0 && memory < 6 * 1024 * 1024) throw new InvalidParameterError('Minimum memory limit allowed is 6MB');
  if (memory > 0 && memorySwap > 0 && memorySwap < memory) throw new InvalidParameterError('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory === 0 && memorySwap > 0) throw new InvalidParameterError('You should always set the Memory limit when using Memoryswap limit, see usage');
  const nanoCpus = num(hc, 'NanoCpus');
  const cpuQuota = num(hc, 'CpuQuota');
  const cpuPeriod = num(hc, 'CpuPeriod');
  if (nanoCpus > 0 && cpuPeriod > 0) throw new InvalidParameterError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nanoCpus > 0 && cpuQuota > 0) throw new InvalidParameterError('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  const ncpu = availableParallelism();
  if (nanoCpus < 0 || nanoCpus > ncpu * 1e9) throw new InvalidParameterError(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  if (cpuPeriod !== 0 && (cpuPeriod < 1000 || cpuPeriod > 1_000_000)) throw new InvalidParameterError('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  if (cpuQuota !== 0 && cpuQuota < 1000 && cpuQuota !== -1) throw new InvalidParameterError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  // --memory-reservation, --kernel-memory, --oom-kill-disable, --cpuset-*, --blkio-*, --device-*-bps/iops.
  warnings.push(...verifyLimits(limits, memory, sysInfo));
  const cgroupParent = str(hc, 'CgroupParent');
  const groupAdd = strings(hc.GroupAdd, 'GroupAdd');
  const shm = num(hc, 'ShmSize');
  if (shm < 0) throw new InvalidParameterError('SHM size can not be less than 0');
  const oom = num(hc, 'OomScoreAdj');
  if (oom < -1000 || oom > 1000) throw new InvalidParameterError(`Invalid value ${oom}, range for oom score adj is [-1000, 1000]`);
  const pids = num(hc, 'PidsLimit');
  const swappiness = hc.MemorySwappiness === undefined || hc.MemorySwappiness === null ? -1 : num(hc, 'MemorySwappiness');
  if (swappiness !== -1) refuse('MemorySwappiness', 'a later issue');
  const console = Array.isArray(hc.ConsoleSize) ? (hc.ConsoleSize as number[]) : [0, 0];
  const extraHosts = strings(hc.ExtraHosts, 'ExtraHosts');
  for (const h of extraHosts ?? []) {
    const i = h.indexOf(':');
    if (i <= 0 || i === h.length - 1) throw new InvalidParameterError(`invalid extra host: ${h}`);
  }
  const network = str(hc, 'NetworkMode') || 'default';
  const capAdd = strings(hc.CapAdd, 'CapAdd');
  const capDrop = strings(hc.CapDrop, 'CapDrop');
  effectiveCaps(capAdd ?? [], capDrop ?? []); // checks the names
  const ulimits = checkUlimits(hc.Ulimits);
  const privileged = bool(hc, 'Privileged');
  // A privileged container has no masked or read-only paths unless it asks for some (dockerd's create).
  const masked = hc.MaskedPaths === undefined || hc.MaskedPaths === null ? (privileged ? null : DEFAULT_MASKED_PATHS) : strings(hc.MaskedPaths, 'MaskedPaths')!;
  const readonly = hc.ReadonlyPaths === undefined || hc.ReadonlyPaths === null ? (privileged ? null : DEFAULT_READONLY_PATHS) : strings(hc.ReadonlyPaths, 'ReadonlyPaths')!;
  // dockerd's generateSecurityOpt: label=disable for the host's IPC or PID namespace too.
  const securityOpt = checkSecurityOpt(strings(hc.SecurityOpt, 'SecurityOpt'), privileged || ipc === 'host' || pidMode === 'host');
  const devices = checkDevices(hc.Devices);
  const deviceCgroupRules = checkDeviceCgroupRules(strings(hc.DeviceCgroupRules, 'DeviceCgroupRules'));
  const sysctls = checkSysctls(hc.Sysctls);

  return {
    Binds: strings(hc.Binds, 'Binds'),
    ContainerIDFile: str(hc, 'ContainerIDFile'),
    LogConfig: logConfig,
    NetworkMode: network,
    PortBindings: portBindings(hc.PortBindings),
    RestartPolicy: { Name: rpName || 'no', MaximumRetryCount: retries },
    AutoRemove: autoRemove,
    VolumeDriver: str(hc, 'VolumeDriver'),
    VolumesFrom: strings(hc.VolumesFrom, 'VolumesFrom'),
    CapAdd: capAdd,
    CapDrop: capDrop,
    CgroupnsMode: 'host',
    Dns: strings(hc.Dns, 'Dns') ?? [],
    DnsOptions: strings(hc.DnsOptions, 'DnsOptions') ?? [],
    DnsSearch: strings(hc.DnsSearch, 'DnsSearch') ?? [],
    ExtraHosts: extraHosts,
    GroupAdd: groupAdd,
    IpcMode: ipc || 'private',
    Cgroup: '',
    Links: strings(hc.Links, 'Links'),
    OomScoreAdj: oom,
    PidMode: pidMode,
    Privileged: privileged,
    PublishAllPorts: bool(hc, 'PublishAllPorts'),
    ReadonlyRootfs: bool(hc, 'ReadonlyRootfs'),
    SecurityOpt: securityOpt,
    // Kept as given, where dockerd's encoder puts them (omitted when empty).
    ...(isEmpty(hc.Tmpfs) ? {} : { Tmpfs: tmpfsMap(hc.Tmpfs) }),
    UTSMode: utsMode,
    UsernsMode: usernsMode,
    ShmSize: shm || DEFAULT_SHM_SIZE,
    ...(sysctls ? { Sysctls: sysctls } : {}),
    Runtime: runtime,
    ConsoleSize: [Number(console[0] ?? 0), Number(console[1] ?? 0)],
    Isolation: isolation,
    CpuShares: num(hc, 'CpuShares'),
    Memory: memory,
    NanoCpus: nanoCpus,
    CgroupParent: cgroupParent,
    BlkioWeight: limits.BlkioWeight,
    BlkioWeightDevice: limits.BlkioWeightDevice,
    BlkioDeviceReadBps: limits.BlkioDeviceReadBps,
    BlkioDeviceWriteBps: limits.BlkioDeviceWriteBps,
    BlkioDeviceReadIOps: limits.BlkioDeviceReadIOps,
    BlkioDeviceWriteIOps: limits.BlkioDeviceWriteIOps,
    CpuPeriod: cpuPeriod,
    CpuQuota: cpuQuota,
    CpuRealtimePeriod: limits.CpuRealtimePeriod,
    CpuRealtimeRuntime: limits.CpuRealtimeRuntime,
    CpusetCpus: limits.CpusetCpus,
    CpusetMems: limits.CpusetMems,
    Devices: devices,
    DeviceCgroupRules: deviceCgroupRules,
    DeviceRequests: null,
    KernelMemory: limits.KernelMemory,
    KernelMemoryTCP: 0,
    MemoryReservation: limits.MemoryReservation,
    MemorySwap: memorySwap,
    MemorySwappiness: null,
    OomKillDisable: limits.OomKillDisable ?? false,
    PidsLimit: pids > 0 ? pids : null,
    Ulimits: ulimits,
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    ...(isEmpty(hc.Mounts) ? {} : { Mounts: mountList(hc.Mounts) }),
    MaskedPaths: masked,
    ReadonlyPaths: readonly,
    // --init: a *bool dockerd omits when null (the daemon's --init then decides at each start).
    ...(hc.Init === undefined || hc.Init === null ? {} : { Init: bool(hc, 'Init') }),
  };
}

function tmpfsMap(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw new InvalidParameterError('invalid type for field Tmpfs: expected a map of strings');
  }
  return v as Record<string, string>;
}

function mountList(v: unknown): Doc[] {
  if (!Array.isArray(v) || v.some((m) => typeof m !== 'object' || m === null || Array.isArray(m))) throw new InvalidParameterError('invalid type for field Mounts: expected an array of objects');
  return v as Doc[];
}

/**
 * checkNetworking checks the network mode against the rest, as dockerd's create does, and
 * returns the network the container joins (null for none, host, container:<id>).
 */
function checkNetworking(body: Doc, hostConfig: Doc): EndpointRequest | null {
  const mode = hostConfig.NetworkMode as string;
  const nc = obj(body, 'NetworkingConfig');
  const endpoints = Object.entries((nc ? obj(nc, 'EndpointsConfig') : null) ?? {});
  if (endpoints.length > 1) throw new InvalidParameterError(`Container cannot be connected to network endpoints: ${endpoints.map(([n]) => n).join(', ')}`);
  const published = Object.keys(hostConfig.PortBindings as Doc).length > 0 || hostConfig.PublishAllPorts === true;
  // (With a container: network mode a hostname is the network mode's conflict, checked first.)
  if (hostConfig.UTSMode === 'host' && str(body, 'Hostname') && !mode.startsWith('container:')) throw new InvalidParameterError('conflicting options: hostname and the UTS mode');
  if (mode.startsWith('container:')) {
    if (!mode.slice('container:'.length)) throw new InvalidParameterError('container network mode needs a container name or ID');
    if (published) throw new InvalidParameterError('conflicting options: port publishing and the container type network mode');
    if (str(body, 'Hostname')) throw new InvalidParameterError('conflicting options: hostname and the network mode');
    return null;
  }
  if (mode === 'none' || mode === 'host') return null;
  const network = mode === 'default' ? 'bridge' : mode;
  const [name, settings] = endpoints[0] ?? [network, {}];
  if (name !== network && name !== mode) {
    throw new InvalidParameterError(`Container cannot be connected to network endpoints: ${name}`);
  }
  const s = (settings ?? {}) as Doc;
  const aliases = strings(s.Aliases, 'Aliases') ?? [];
  const ipam = (obj(s, 'IPAMConfig') ?? {}) as Doc;
  const ipv4 = str(ipam, 'IPv4Address');
  if (str(ipam, 'IPv6Address')) throw new NotImplementedError('berth does not implement IPv6 addresses yet');
  // (Links come in HostConfig.Links too: the daemon takes them from there.)
  for (const k of ['DriverOpts', 'MacAddress']) if (!isEmpty(s[k])) refuse(`NetworkingConfig.EndpointsConfig.${k}`, 'a later issue');
  if (network === 'bridge') {
    if (aliases.length) throw new InvalidParameterError('network-scoped alias is supported only for containers in user defined networks');
    if (ipv4) throw new InvalidParameterError('user specified IP address is supported on user defined networks only');
  }
  return { network, aliases, ipv4 };
}

/** portBindings checks HostConfig.PortBindings ({"80/tcp": [{HostIp, HostPort}]}) and keeps it as given. */
function portBindings(v: unknown): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidParameterError('invalid type for field PortBindings: expected an object');
  const out: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  for (const [key, list] of Object.entries(v as Doc)) {
    if (!/^\d{1,5}(\/(tcp|udp|sctp))?$/.test(key) || Number(key.split('/')[0]) > 65535 || Number(key.split('/')[0]) < 1) throw new InvalidParameterError(`invalid port specification: "${key}"`);
    if (list === null) {
      out[key] = null;
      continue;
    }
    if (!Array.isArray(list)) throw new InvalidParameterError(`invalid port bindings for ${key}`);
    out[key] = list.map((b: Doc) => {
      const ip = str(b, 'HostIp');
      const port = str(b, 'HostPort');
      if (ip && !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new InvalidParameterError(`invalid IP address: ${ip}`);
      if (port && !/^\d{1,5}(-\d{1,5})?$/.test(port)) throw new InvalidParameterError(`invalid port specification: "${port}"`);
      return { HostIp: ip, HostPort: port };
    });
  }
  return out;
}

const ULIMITS = ['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];

/** checkUlimits checks --ulimit entries ({Name, Soft, Hard}) as dockerd's units.ParseUlimit does. */
function checkUlimits(v: unknown): Array<{ Name: string; Hard: number; Soft: number }> {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidParameterError('invalid type for field Ulimits: expected an array');
  return v.map((u: Doc) => {
    const name = str(u, 'Name');
    if (!ULIMITS.includes(name)) throw new InvalidParameterError(`invalid ulimit type: ${name}`);
    const soft = num(u, 'Soft');
    const hard = num(u, 'Hard');
    if (soft > hard) throw new InvalidParameterError(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
    return { Name: name, Hard: hard, Soft: soft };
  });
}
