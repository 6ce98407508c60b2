/**
 * Every berthd flag, as data: dockerd's names (the seed's Config fields plus the API server's),
 * the daemon.json key each one shares, its default and its help line. The parser, the
 * daemon.json loader, --help and the reload event all read this one table.
 */

/** 'map': repeatable key=value (dockerd's MapOpts), an object of strings in daemon.json. */
export type FlagType = 'string' | 'bool' | 'int' | 'list' | 'map';

export interface FlagSpec {
  /** Long name without dashes. */
  name: string;
  short?: string;
  type: FlagType;
  /** daemon.json key; absent = command line only. */
  key?: string;
  default: string | boolean | number | string[];
  usage: string;
  /** Shown in help as the value's name. */
  arg?: string;
  /** Another name for `name` (the seed's -g/--graph, -e/--exec-driver). */
  aliasOf?: string;
  deprecated?: string;
  hidden?: boolean;
}

export const DEFAULTS = {
  pidfile: '/run/berth/berthd.pid',
  dataRoot: '/var/lib/berth',
  execRoot: '/run/berth',
  socket: '/run/berth/berth.sock',
  configFile: '/etc/berth/daemon.json',
};

export const FLAGS: readonly FlagSpec[] = [
  // The seed's Config (§5.0), with dockerd's names.
  { name: 'pidfile', short: 'p', type: 'string', key: 'pidfile', default: DEFAULTS.pidfile, arg: 'string', usage: 'Path to use for daemon PID file' },
  { name: 'data-root', type: 'string', key: 'data-root', default: DEFAULTS.dataRoot, arg: 'string', usage: 'Root directory of persistent berth state' },
  { name: 'graph', short: 'g', type: 'string', key: 'graph', default: '', arg: 'string', usage: 'Root of the berth runtime', aliasOf: 'data-root', deprecated: 'use --data-root' },
  { name: 'dns', type: 'list', key: 'dns', default: [], arg: 'list', usage: 'DNS server to use' },
  { name: 'dns-search', type: 'list', key: 'dns-search', default: [], arg: 'list', usage: 'DNS search domains to use' },
  { name: 'registry-mirror', type: 'list', key: 'registry-mirrors', default: [], arg: 'list', usage: 'Preferred registry mirror' },
  { name: 'insecure-registry', type: 'list', key: 'insecure-registries', default: [], arg: 'list', usage: 'Enable insecure registry communication' },
  { name: 'max-concurrent-downloads', type: 'int', key: 'max-concurrent-downloads', default: 3, arg: 'int', usage: 'Set the max concurrent downloads for each pull' },
  { name: 'max-concurrent-uploads', type: 'int', key: 'max-concurrent-uploads', default: 5, arg: 'int', usage: 'Set the max concurrent uploads for each push' },
  { name: 'iptables', type: 'bool', key: 'iptables', default: true, usage: 'Enable addition of iptables rules' },
  { name: 'ip-forward', type: 'bool', key: 'ip-forward', default: true, usage: 'Enable net.ipv4.ip_forward' },
  { name: 'ip-masq', type: 'bool', key: 'ip-masq', default: true, usage: 'Enable IP masquerading' },
  { name: 'ip', type: 'string', key: 'ip', default: '0.0.0.0', arg: 'ip', usage: 'Default IP when binding container ports' },
  { name: 'bridge', short: 'b', type: 'string', key: 'bridge', default: '', arg: 'string', usage: 'Attach containers to a network bridge ("none" disables networking)' },
  { name: 'bip', type: 'string', key: 'bip', default: '', arg: 'string', usage: 'Specify network bridge IP' },
  { name: 'fixed-cidr', type: 'string', key: 'fixed-cidr', default: '', arg: 'string', usage: 'IPv4 subnet for fixed IPs' },
  { name: 'icc', type: 'bool', key: 'icc', default: true, usage: 'Enable inter-container communication' },
  { name: 'storage-driver', short: 's', type: 'string', key: 'storage-driver', default: '', arg: 'string', usage: 'Storage driver to use (overlay2, vfs)' },
  { name: 'storage-opt', type: 'list', key: 'storage-opts', default: [], arg: 'list', usage: 'Storage driver options' },
  { name: 'default-runtime', type: 'string', key: 'default-runtime', default: 'runc', arg: 'string', usage: 'Default OCI runtime for containers' },
  { name: 'init', type: 'bool', key: 'init', default: false, usage: 'Run an init in the container to forward signals and reap processes' },
  { name: 'init-path', type: 'string', key: 'init-path', default: '', arg: 'string', usage: 'Path to the docker-init binary (default: docker-init, else tini-static, found in PATH)' },
  { name: 'log-driver', type: 'string', key: 'log-driver', default: 'json-file', arg: 'string', usage: 'Default driver for container logs (json-file, none)' },
  { name: 'log-opt', type: 'map', key: 'log-opts', default: [], arg: 'map', usage: 'Default log driver options for containers' },
  { name: 'exec-driver', short: 'e', type: 'string', default: '', arg: 'string', usage: 'Exec driver to use', aliasOf: 'default-runtime', deprecated: 'use --default-runtime' },
  { name: 'mtu', type: 'int', key: 'mtu', default: 0, arg: 'int', usage: 'Set the containers network MTU (0 = 1500)' },
  { name: 'live-restore', type: 'bool', key: 'live-restore', default: false, usage: 'Keep containers running while the daemon is down (by default a clean shutdown stops them)' },
  { name: 'shutdown-timeout', type: 'int', key: 'shutdown-timeout', default: 15, arg: 'int', usage: 'Default shutdown timeout in seconds for containers' },
  { name: 'seccomp-profile', type: 'string', key: 'seccomp-profile', default: '', arg: 'string', usage: 'Path to seccomp profile, or "unconfined" (default: /usr/share/containers/seccomp.json when present)' },
  { name: 'selinux-enabled', type: 'bool', key: 'selinux-enabled', default: false, usage: 'Enable selinux support' },
  // The API server (seed §5.7) and the daemon around it.
  { name: 'exec-root', type: 'string', key: 'exec-root', default: DEFAULTS.execRoot, arg: 'string', usage: 'Root directory for execution state files' },
  { name: 'host', short: 'H', type: 'list', key: 'hosts', default: [], arg: 'list', usage: 'Daemon socket(s) to connect to' },
  { name: 'tls', type: 'bool', key: 'tls', default: false, usage: 'Use TLS; implied by --tlsverify' },
  { name: 'tlsverify', type: 'bool', key: 'tlsverify', default: false, usage: 'Use TLS and verify the remote' },
  { name: 'tlscacert', type: 'string', key: 'tlscacert', default: '', arg: 'string', usage: 'Trust certs signed only by this CA (default "~/.docker/ca.pem")' },
  { name: 'tlscert', type: 'string', key: 'tlscert', default: '', arg: 'string', usage: 'Path to TLS certificate file (default "~/.docker/cert.pem")' },
  { name: 'tlskey', type: 'string', key: 'tlskey', default: '', arg: 'string', usage: 'Path to TLS key file (default "~/.docker/key.pem")' },
  { name: 'api-cors-header', type: 'string', key: 'api-cors-header', default: '', arg: 'string', usage: 'Set CORS headers in the Engine API' },
  { name: 'group', short: 'G', type: 'string', key: 'group', default: 'docker', arg: 'string', usage: 'Group for the unix socket (root if "docker" does not exist)' },
  { name: 'label', type: 'list', key: 'labels', default: [], arg: 'list', usage: 'Set key=value labels to the daemon' },
  { name: 'debug', short: 'D', type: 'bool', key: 'debug', default: false, usage: 'Enable debug mode' },
  { name: 'log-level', short: 'l', type: 'string', key: 'log-level', default: 'info', arg: 'string', usage: 'Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")' },
  { name: 'config-file', type: 'string', default: DEFAULTS.configFile, arg: 'string', usage: 'Daemon configuration file' },
  { name: 'debug-failpoints', type: 'bool', default: false, usage: 'Enable fault injection (PUT /debug/failpoints/job/<job>): for chaos tests only' },
  { name: 'version', short: 'v', type: 'bool', default: false, usage: 'Print version information and quit' },
  { name: 'help', short: 'h', type: 'bool', default: false, usage: 'Print usage' },
];

export const FLAG_BY_NAME = new Map(FLAGS.map((f) => [f.name, f]));
export const FLAG_BY_SHORT = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short!, f]));
export const FLAG_BY_KEY = new Map(FLAGS.filter((f) => f.key).map((f) => [f.key!, f]));

/** usage renders --help, dockerd's layout. */
export function usage(): string {
  const lines = ['', 'Usage:\tberthd [OPTIONS]', '', 'A container daemon that speaks the Docker Engine API.', '', 'Options:'];
  const rows = FLAGS.filter((f) => !f.hidden).map((f) => {
    const names = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.arg ? ` ${f.arg}` : ''}`;
    let help = f.usage;
    if (f.deprecated) help += ` (deprecated: ${f.deprecated})`;
    else if (f.type === 'string' && f.default && !/\(default/.test(help)) help += ` (default "${String(f.default)}")`;
    else if (f.type === 'bool' && f.default === true) help += ' (default true)';
    return [names, help] as const;
  });
  const width = Math.max(...rows.map(([n]) => n.length)) + 3;
  for (const [n, h] of rows) lines.push(`  ${n.padEnd(width)}${h}`);
  return lines.join('\n') + '\n';
}
