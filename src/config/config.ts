/**
 * DaemonConfig: the seed's Config (§5.0) plus the API server's settings, from flags and
 * daemon.json, validated once (§5.1) before anything is created on disk. Every problem found
 * here stops berthd with a clear message and nothing half-made.
 */
import { existsSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { isIP, isIPv4 } from 'node:net';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { ApiHost } from '../protocol/types/config.js';
import type { LogLevel } from '../protocol/messages.js';
import { DEFAULTS, FLAGS, FLAG_BY_NAME } from './flags.js';
import { UsageError, parseFlags, type FlagValue } from './parse.js';
import { ConfigFileError, conflictMessage, loadDaemonJson } from './daemonJson.js';
import { cidrContains, parseCidr } from './net.js';
import { LogOptError, jsonFileOptions, validateLogOpts } from '../logdriver/options.js';
import { goFileError } from '../daemon/containers/seccomp.js';

export interface DaemonConfig {
  pidfile: string;
  dataRoot: string;
  execRoot: string;
  dns: string[];
  dnsSearch: string[];
  registryMirrors: string[];
  insecureRegistries: string[];
  /** Layers a pull downloads at once (dockerd's --max-concurrent-downloads, 3; 0 = no limit). */
  maxConcurrentDownloads: number;
  /** Layers a push uploads at once (dockerd's --max-concurrent-uploads, 5; 0 = no limit). */
  maxConcurrentUploads: number;
  /**
   * certs.d of the registries (<dir>/<host[:port]>/ca.crt, *.cert/*.key): dockerd's
   * /etc/docker/certs.d, or BERTH_REGISTRY_CERTS_DIR (tests point it at a temp dir). Not a flag.
   */
  registryCertsDir: string;
  /**
   * A cap on every registry request's idle timeout (ms; 0 = the transport's own: 15 s ping, 30-60 s
   * manifests and blobs). BERTH_REGISTRY_TIMEOUT_MS, for tests of a hanging registry. Not a flag.
   */
  registryTimeoutMs: number;
  iptables: boolean;
  ipForward: boolean;
  ipMasq: boolean;
  ip: string;
  bridge: string;
  bip: string;
  fixedCidr: string;
  icc: boolean;
  storageDriver: string;
  storageOpts: string[];
  defaultRuntime: string;
  /** --init: containers that do not say (HostConfig.Init null) run docker-init as their PID 1. */
  init: boolean;
  /** --init-path: the init binary bind-mounted at /sbin/docker-init ('' = docker-init, else tini-static, in PATH). */
  initPath: string;
  mtu: number;
  /** --log-driver: containers' logging driver when they name none (json-file, none). */
  logDriver: string;
  /** --log-opt (daemon.json log-opts): its options, merged under containers' own when the driver is this one. */
  logOpts: Record<string, string>;
  /** --seccomp-profile: the containers' default seccomp profile (a path), "unconfined", or '' (the distribution's). */
  seccompProfile: string;
  selinuxEnabled: boolean;
  /** Containers outlive a clean shutdown (they always outlive a crash: conmon holds them). */
  liveRestore: boolean;
  /** Seconds a clean shutdown gives containers to stop. */
  shutdownTimeout: number;
  hosts: ApiHost[];
  tls: boolean;
  tlsVerify: boolean;
  tlsCaCert: string;
  tlsCert: string;
  tlsKey: string;
  apiCorsHeader: string;
  group: string;
  /** true when -G (or "group") was given: then a missing group is an error. */
  groupExplicit: boolean;
  labels: string[];
  debug: boolean;
  logLevel: LogLevel;
  configFile: string;
  debugFailpoints: boolean;
}

/** A configuration problem: message on stderr, exit 1 (dockerd's behaviour). */
export class ConfigError extends Error {}

/** What the command line asks for before any daemon starts. */
export type Invocation = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: DaemonConfig };

export const STORAGE_DRIVERS = ['overlay2', 'overlay', 'vfs'];
export const RUNTIMES = ['runc', 'crun'];
const LOG_LEVELS: Record<string, LogLevel> = { debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error', fatal: 'error', panic: 'error' };

function arg(value: string, flag: string, why: string): ConfigError {
  return new ConfigError(`invalid argument "${value}" for "${flag}" flag: ${why}`);
}

/**
 * parseHost reads one -H value: unix:///path, unix:// (the default socket), tcp://host:port,
 * tcp://host (2375, or 2376 with TLS), tcp://:port (127.0.0.1).
 */
export function parseHost(spec: string, tls: boolean): ApiHost {
  const bad = (why: string) => arg(spec, '-H, --host', why);
  const m = /^([a-z]+):\/\/(.*)$/.exec(spec.trim());
  if (!m) throw bad(`Invalid bind address format: ${spec}`);
  const [, proto, rest] = m;
  if (proto === 'unix') {
    const path = rest || DEFAULTS.socket;
    if (!isAbsolute(path)) throw bad(`unix socket path must be absolute: ${path}`);
    if (Buffer.byteLength(path) > 107) throw bad(`unix socket path is longer than 107 bytes: ${path}`);
    return { proto: 'unix', addr: path, spec };
  }
  if (proto === 'tcp') {
    const hp = /^(?:\[([0-9a-fA-F:.]+)\]|([^:/[\]]*))(?::([^/]*))?\/?$/.exec(rest!);
    if (!hp) throw bad(`Invalid bind address format: ${spec}`);
    const host = hp[1] ?? (hp[2] || '127.0.0.1');
    const portText = hp[3];
    let port = tls ? 2376 : 2375;
    if (portText !== undefined) {
      if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw bad(`invalid port "${portText}"`);
      port = Number(portText);
    }
    if (host !== 'localhost' && !isIP(host)) throw bad(`invalid host "${host}": berth listens on IP addresses or localhost`);
    return { proto: 'tcp', addr: `${host.includes(':') ? `[${host}]` : host}:${port}`, spec };
  }
  if (proto === 'fd') throw bad('berth does not support socket activation (fd://); use unix:// or tcp://');
  throw bad(`Invalid bind address format: ${spec}`);
}

/** isLoopback says whether a tcp listen address is reachable only from this host. */
export function isLoopback(addr: string): boolean {
  const host = addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.'));
}

function groupExists(name: string): boolean {
  if (/^\d+$/.test(name)) return true;
  try {
    return readFileSync('/etc/group', 'utf8').split('\n').some((l) => l.split(':')[0] === name);
  } catch {
    return false;
  }
}

/**
 * loadConfig turns argv into an Invocation. Command-line mistakes throw UsageError (exit 2);
 * configuration problems throw ConfigError (exit 1).
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Invocation {
  const parsed = parseFlags(argv);
  if (parsed.values.get('help')) return { kind: 'help' };
  if (parsed.values.get('version')) return { kind: 'version' };
  if (parsed.positional.length > 0) throw new UsageError('"berthd" accepts no argument(s).', true);

  const configFile = resolve(String(parsed.values.get('config-file') ?? DEFAULTS.configFile));
  let file: ReturnType<typeof loadDaemonJson>;
  try {
    file = loadDaemonJson(configFile, parsed.values.has('config-file'));
  } catch (err) {
    if (err instanceof ConfigFileError) throw new ConfigError(err.message);
    throw err;
  }
  const conflicts: Array<{ key: string; flag: FlagValue; file: FlagValue }> = [];
  for (const [name, f] of file) {
    if (parsed.values.has(name)) conflicts.push({ key: f.key, flag: parsed.values.get(name)!, file: f.value });
  }
  if (conflicts.length) throw new ConfigError(conflictMessage(configFile, conflicts));

  const value = <T extends FlagValue>(name: string): T => {
    if (parsed.values.has(name)) return parsed.values.get(name) as T;
    if (file.has(name)) return file.get(name)!.value as T;
    return FLAG_BY_NAME.get(name)!.default as T;
  };
  const given = (name: string) => parsed.values.has(name) || file.has(name);
  const shown = (name: string) => parsed.typed.get(name) ?? `--${name}`;

  // Paths are absolute, as dockerd makes them.
  const pidfile = resolve(value<string>('pidfile'));
  const dataRoot = resolve(value<string>('data-root') || DEFAULTS.dataRoot);
  const execRoot = resolve(value<string>('exec-root'));

  const logLevelText = value<string>('log-level');
  const debug = value<boolean>('debug');
  const level = LOG_LEVELS[logLevelText.toLowerCase()];
  if (!level) throw new ConfigError(`unable to parse logging level: ${logLevelText}`);

  // Network (the seed's bridge settings).
  const bridge = value<string>('bridge');
  const bip = value<string>('bip');
  const fixedCidr = value<string>('fixed-cidr');
  if (bip && bridge) throw new ConfigError('You specified -b & --bip, mutually exclusive options. Please specify only one');
  const bipCidr = bip ? parseCidr(bip) : null;
  if (bip && !bipCidr) throw arg(bip, '--bip', `invalid CIDR address: ${bip}`);
  const fixed = fixedCidr ? parseCidr(fixedCidr) : null;
  if (fixedCidr && !fixed) throw arg(fixedCidr, '--fixed-cidr', `invalid CIDR address: ${fixedCidr}`);
  if (bipCidr && fixed && !cidrContains(bipCidr, fixed)) {
    throw new ConfigError(`--fixed-cidr ${fixedCidr} is not inside --bip ${bip}: the containers' address pool must be part of the bridge's subnet`);
  }
  const mtu = value<number>('mtu');
  if (mtu !== 0 && (mtu < 68 || mtu > 65535)) throw arg(String(mtu), shown('mtu'), 'MTU must be between 68 and 65535 (0 means 1500)');
  const ip = value<string>('ip');
  if (!isIP(ip)) throw arg(ip, '--ip', `${ip} is not an ip address`);
  const dns = value<string[]>('dns');
  for (const d of dns) if (!isIP(d)) throw arg(d, '--dns', `${d} is not an ip address`);
  const dnsSearch = value<string[]>('dns-search');
  for (const d of dnsSearch) {
    if (d !== '.' && !/^(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(d)) {
      throw arg(d, '--dns-search', `${d} is not a valid domain`);
    }
  }
  const mirrors = value<string[]>('registry-mirror');
  for (const m of mirrors) {
    let ok = false;
    try {
      const u = new URL(m);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.pathname.replace(/\/$/, '') === '';
    } catch {
      ok = false;
    }
    if (!ok) throw arg(m, '--registry-mirror', `invalid mirror: "${m}" is not a valid URI (want http(s)://host[:port])`);
  }

  // dockerd's config.Validate: a negative limit is refused (0 means no limit, as its transfer manager).
  const maxDownloads = value<number>('max-concurrent-downloads');
  if (maxDownloads < 0) throw new ConfigError(`invalid max concurrent downloads: ${maxDownloads}`);
  const maxUploads = value<number>('max-concurrent-uploads');
  if (maxUploads < 0) throw new ConfigError(`invalid max concurrent uploads: ${maxUploads}`);

  // Drivers.
  const storageDriver = value<string>('storage-driver');
  if (storageDriver && !STORAGE_DRIVERS.includes(storageDriver)) {
    throw new ConfigError(`failed to start daemon: error initializing graphdriver: driver not supported: ${storageDriver} (berth has ${STORAGE_DRIVERS.join(', ')})`);
  }
  const storageOpts = value<string[]>('storage-opt');
  for (const o of storageOpts) if (!/^[^=]+=/.test(o)) throw arg(o, '--storage-opt', 'expected key=value');
  // dockerd's setupDefaultLogConfig (and, ahead of any container, the json-file logger's own checks).
  const logDriver = value<string>('log-driver');
  const logOpts: Record<string, string> = {};
  for (const o of value<string[]>('log-opt')) {
    const i = o.indexOf('=');
    logOpts[i < 0 ? o : o.slice(0, i)] = i < 0 ? '' : o.slice(i + 1);
  }
  try {
    validateLogOpts(logDriver, logOpts);
    if (logDriver === 'json-file') jsonFileOptions(logOpts, null);
  } catch (err) {
    if (!(err instanceof LogOptError)) throw err;
    throw new ConfigError(`failed to start daemon: failed to set log opts: ${err.message}`);
  }
  const defaultRuntime = value<string>('default-runtime');
  if (!RUNTIMES.includes(defaultRuntime)) throw new ConfigError(`specified default runtime '${defaultRuntime}' does not exist`);
  // dockerd's setupSeccompProfile: a profile that cannot be read stops the daemon ("builtin" is later dockerd's name for the default).
  const seccompProfile = value<string>('seccomp-profile');
  if (seccompProfile && seccompProfile !== 'unconfined' && seccompProfile !== 'builtin') {
    try {
      readFileSync(seccompProfile);
    } catch (err) {
      throw new ConfigError(`opening seccomp profile (${seccompProfile}) failed: ${goFileError(seccompProfile, err as NodeJS.ErrnoException)}`);
    }
  }

  // API server.
  const tlsVerify = value<boolean>('tlsverify');
  const tls = value<boolean>('tls') || tlsVerify;
  const certDir = env.DOCKER_CERT_PATH || join(homedir(), '.docker');
  const tlsFile = (name: string, base: string): string => {
    if (given(name)) return resolve(value<string>(name));
    const dflt = join(certDir, base);
    return existsSync(dflt) ? dflt : '';
  };
  const tlsCaCert = tls ? tlsFile('tlscacert', 'ca.pem') : '';
  const tlsCert = tls ? tlsFile('tlscert', 'cert.pem') : '';
  const tlsKey = tls ? tlsFile('tlskey', 'key.pem') : '';
  if (tls) {
    const need: Array<[string, string]> = [['--tlscert', tlsCert], ['--tlskey', tlsKey]];
    if (tlsVerify) need.unshift(['--tlscacert', tlsCaCert]);
    const missing = need.filter(([, p]) => !p).map(([f]) => f);
    if (missing.length) {
      throw new ConfigError(`failed to create API server: ${tlsVerify ? '--tlsverify' : '--tls'} needs ${missing.join(', ')} (no such file in ${certDir} either)`);
    }
    for (const [f, p] of need) if (!existsSync(p)) throw new ConfigError(`failed to create API server: ${f} ${p}: no such file or directory`);
  }
  const hostSpecs = value<string[]>('host');
  const hosts = (hostSpecs.length ? hostSpecs : [`unix://${DEFAULTS.socket}`]).map((h) => parseHost(h, tls));
  for (const h of hosts) {
    if (h.proto === 'tcp' && !isLoopback(h.addr) && !tlsVerify) {
      throw new ConfigError(
        `refusing to listen on ${h.spec} without --tlsverify: anyone who can reach that address would get root on this host. ` +
          'Use --tlsverify with --tlscacert, --tlscert and --tlskey, or listen on a loopback address (tcp://127.0.0.1:2375)',
      );
    }
  }
  const seen = new Set<string>();
  for (const h of hosts) {
    if (seen.has(h.addr)) throw arg(h.spec, '-H, --host', `${h.addr} is given twice`);
    seen.add(h.addr);
  }
  const group = value<string>('group');
  const groupExplicit = given('group');
  if (groupExplicit && !groupExists(group)) throw new ConfigError(`failed to load listeners: group ${group} not found`);

  const labels = value<string[]>('label');
  for (const l of labels) if (!/^[^=]+=/.test(l)) throw arg(l, '--label', 'bad attribute format: expected key=value');

  return {
    kind: 'run',
    config: {
      pidfile,
      dataRoot,
      execRoot,
      dns,
      dnsSearch,
      registryMirrors: mirrors,
      insecureRegistries: value<string[]>('insecure-registry'),
      maxConcurrentDownloads: maxDownloads,
      maxConcurrentUploads: maxUploads,
      registryCertsDir: process.env.BERTH_REGISTRY_CERTS_DIR || '/etc/docker/certs.d',
      registryTimeoutMs: Math.max(0, Number(process.env.BERTH_REGISTRY_TIMEOUT_MS) || 0),
      iptables: value<boolean>('iptables'),
      ipForward: value<boolean>('ip-forward'),
      ipMasq: value<boolean>('ip-masq'),
      ip,
      bridge,
      bip,
      fixedCidr,
      icc: value<boolean>('icc'),
      storageDriver,
      storageOpts,
      defaultRuntime,
      init: value<boolean>('init'),
      initPath: value<string>('init-path'),
      mtu,
      logDriver,
      logOpts,
      seccompProfile,
      selinuxEnabled: value<boolean>('selinux-enabled'),
      liveRestore: value<boolean>('live-restore'),
      shutdownTimeout: value<number>('shutdown-timeout'),
      hosts,
      tls,
      tlsVerify,
      tlsCaCert,
      tlsCert,
      tlsKey,
      apiCorsHeader: value<string>('api-cors-header'),
      group,
      groupExplicit,
      labels,
      debug,
      logLevel: debug ? 'debug' : level,
      configFile,
      debugFailpoints: value<boolean>('debug-failpoints'),
    },
  };
}

/** The flags, for the reload event's attributes (dockerd lists its config there). */
export function configAttributes(c: DaemonConfig): Record<string, string> {
  const list = (v: string[]) => `[${v.join(' ')}]`;
  return {
    bip: c.bip,
    bridge: c.bridge,
    'data-root': c.dataRoot,
    debug: String(c.debug),
    'default-runtime': c.defaultRuntime,
    dns: list(c.dns),
    'dns-search': list(c.dnsSearch),
    'fixed-cidr': c.fixedCidr,
    icc: String(c.icc),
    'insecure-registries': list(c.insecureRegistries),
    ip: c.ip,
    'ip-forward': String(c.ipForward),
    'ip-masq': String(c.ipMasq),
    iptables: String(c.iptables),
    labels: list(c.labels),
    'live-restore': String(c.liveRestore),
    'log-driver': c.logDriver,
    'log-level': c.logLevel,
    'max-concurrent-downloads': String(c.maxConcurrentDownloads),
    'max-concurrent-uploads': String(c.maxConcurrentUploads),
    mtu: String(c.mtu),
    'registry-mirrors': list(c.registryMirrors),
    'storage-driver': c.storageDriver,
  };
}

export { UsageError, FLAGS };
