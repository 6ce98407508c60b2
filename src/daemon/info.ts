/**
 * The `info` job: GET /info with the fields dockerd 20.10 returns
 * (test/fixtures/dockerd-20.10/info.json). It asks each driver actor for its status; an actor
 * that is down makes the job fail with its `unavailable` error (503), rather than answer with
 * made-up values.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, hostname, machine, release, totalmem } from 'node:os';
import type { DaemonConfig } from '../config/config.js';
import { isLoopback } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import type { SystemInfo } from '../protocol/types/system.js';
import { buildInfo } from '../build/info.js';
import type { DaemonProfile } from './containers/seccomp.js';

export interface InfoDeps {
  engine: Engine;
  config: () => DaemonConfig;
  id: string;
  eventListeners: () => number;
  threads: () => number;
  containers: () => { total: number; running: number; paused: number; stopped: number };
  /** The containers' seccomp profile (its name for SecurityOptions; a warning when there is none). */
  seccomp: DaemonProfile;
}

function osRelease(): { pretty: string; version: string } {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const get = (k: string) => new RegExp(`^${k}=("?)(.*)\\1$`, 'm').exec(text)?.[2] ?? '';
    return { pretty: get('PRETTY_NAME') || 'Linux', version: get('VERSION_ID') };
  } catch {
    return { pretty: 'Linux', version: '' };
  }
}

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/** The proxy settings the daemon runs with, credentials masked as dockerd masks them. */
function proxy(name: string): string {
  const v = process.env[name] ?? process.env[name.toLowerCase()] ?? '';
  try {
    const u = new URL(v);
    if (u.password) u.password = 'xxxxx';
    return u.password || u.username ? u.toString() : v;
  } catch {
    return v;
  }
}

export async function systemInfo(deps: InfoDeps): Promise<SystemInfo> {
  const { engine } = deps;
  const cfg = deps.config();
  const [net, graph, exec] = await Promise.all([
    engine.call('network_status', {}),
    engine.call('graph_status', {}),
    engine.call('exec_status', {}),
  ]);
  const os = osRelease();
  const warnings = [...graph.warnings, ...exec.warnings, ...net.warnings];
  for (const h of cfg.hosts) {
    if (h.proto === 'tcp' && !cfg.tls && isLoopback(h.addr)) {
      warnings.unshift(
        `WARNING: API is accessible on http://${h.addr} without encryption.\n` +
          '         Access to the remote API is equivalent to root access on the host. Refer\n' +
          "         to the 'Docker daemon attack surface' section in the documentation for\n" +
          '         more information: https://docs.docker.com/go/attack-surface/',
      );
    }
  }
  if (deps.seccomp.warning) warnings.push(deps.seccomp.warning);
  if (cfg.debugFailpoints) {
    warnings.unshift('WARNING: berthd runs with --debug-failpoints: fault injection is enabled (PUT /debug/failpoints); do not use this daemon for real work');
  }
  // dockerd 20.10: the --insecure-registry CIDRs, then its default 127.0.0.0/8; IndexConfigs is a Go map (sorted by name).
  const insecureCidrs = [...new Set([...cfg.insecureRegistries.filter((r) => r.includes('/')), '127.0.0.0/8'])];
  const configs: Record<string, unknown> = {
    'docker.io': { Name: 'docker.io', Mirrors: cfg.registryMirrors.map((m) => m.replace(/\/?$/, '/')), Secure: true, Official: true },
  };
  for (const r of cfg.insecureRegistries.filter((x) => !x.includes('/'))) {
    configs[r] = { Name: r, Mirrors: [], Secure: false, Official: false };
  }
  const indexConfigs = Object.fromEntries(Object.keys(configs).sort().map((k) => [k, configs[k]]));
  const counts = deps.containers();
  const runtimeCommit = exec.runtimeVersion?.commit || exec.runtimeVersion?.version || '';
  // dockerd: the commit of `<init> --version` (Debian's tini prints none: ""), "N/A" when it cannot tell.
  const initCommit = exec.initVersion ? exec.initVersion.commit : 'N/A';
  return {
    ID: deps.id,
    Containers: counts.total,
    ContainersRunning: counts.running,
    ContainersPaused: counts.paused,
    ContainersStopped: counts.stopped,
    Images: graph.images,
    Driver: graph.driver,
    DriverStatus: graph.driverStatus,
    Plugins: { Volume: [], Network: [net.driver], Authorization: null, Log: [] },
    MemoryLimit: exec.cgroup.memoryLimit,
    SwapLimit: exec.cgroup.swapLimit,
    KernelMemory: exec.cgroup.kernelMemory,
    KernelMemoryTCP: exec.cgroup.kernelMemoryTCP,
    CpuCfsPeriod: exec.cgroup.cpuCfsPeriod,
    CpuCfsQuota: exec.cgroup.cpuCfsQuota,
    CPUShares: exec.cgroup.cpuShares,
    CPUSet: exec.cgroup.cpuSet,
    PidsLimit: exec.cgroup.pidsLimit,
    IPv4Forwarding: net.ipv4Forwarding,
    BridgeNfIptables: net.bridgeNfIptables,
    BridgeNfIp6tables: net.bridgeNfIp6tables,
    Debug: cfg.debug,
    NFd: openFds(),
    OomKillDisable: exec.cgroup.oomKillDisable,
    // Go counts goroutines; berth's unit of concurrency is a thread: main plus its actors.
    NGoroutines: deps.threads(),
    SystemTime: new Date().toISOString().replace(/\.(\d{3})Z$/, (_, ms: string) => `.${ms}000000Z`),
    LoggingDriver: cfg.logDriver,
    CgroupDriver: exec.cgroupDriver,
    CgroupVersion: exec.cgroupVersion,
    NEventsListener: deps.eventListeners(),
    KernelVersion: release(),
    OperatingSystem: os.pretty,
    OSVersion: os.version,
    OSType: 'linux',
    Architecture: machine(),
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: {
      AllowNondistributableArtifactsCIDRs: [],
      AllowNondistributableArtifactsHostnames: [],
      InsecureRegistryCIDRs: insecureCidrs,
      IndexConfigs: indexConfigs,
      Mirrors: cfg.registryMirrors.map((m) => m.replace(/\/?$/, '/')),
    },
    NCPU: availableParallelism(),
    MemTotal: totalmem(),
    GenericResources: null,
    DockerRootDir: cfg.dataRoot,
    HttpProxy: proxy('HTTP_PROXY'),
    HttpsProxy: proxy('HTTPS_PROXY'),
    NoProxy: process.env.NO_PROXY ?? process.env.no_proxy ?? '',
    Name: hostname(),
    Labels: cfg.labels,
    ExperimentalBuild: false,
    ServerVersion: buildInfo().version,
    Runtimes: exec.runtimes,
    DefaultRuntime: exec.defaultRuntime,
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: false,
    Isolation: '',
    // dockerd's GetInitPath(): --init-path as given, else "docker-init" (berth may run tini-static under that name).
    InitBinary: cfg.initPath || 'docker-init',
    ContainerdCommit: { ID: '', Expected: '' },
    RuncCommit: { ID: runtimeCommit, Expected: runtimeCommit },
    InitCommit: { ID: initCommit, Expected: initCommit },
    // dockerd's fillSecurityOptions: "default", the --seccomp-profile path, or "unconfined" (later dockerd's); nothing without seccomp.
    SecurityOptions: deps.seccomp.name ? [`name=seccomp,profile=${deps.seccomp.name}`] : [],
    Warnings: warnings,
  };
}
