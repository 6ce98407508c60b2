/**
 * The parts of the daemon's configuration each actor receives with its init job. The whole
 * DaemonConfig lives in src/config; actors only see what they own.
 */

/** Args of init_networkdriver: the seed's bridge driver config. */
export interface NetworkDriverConfig {
  bridge: string;
  bip: string;
  fixedCidr: string;
  mtu: number;
  icc: boolean;
  iptables: boolean;
  ipForward: boolean;
  ipMasq: boolean;
  defaultIp: string;
  dns: string[];
  dnsSearch: string[];
  dataRoot: string;
  execRoot: string;
}

/** Args of init_graphdriver. */
export interface GraphDriverConfig {
  dataRoot: string;
  /** '' = pick the best the kernel supports. */
  driver: string;
  options: string[];
}

/** Args of init_execdriver. */
export interface ExecDriverConfig {
  dataRoot: string;
  execRoot: string;
  defaultRuntime: string;
  selinuxEnabled: boolean;
  /** --init-path ('' or absent: docker-init, else tini-static, found in PATH). */
  initPath?: string;
}

/** One listening address of the API server (a parsed -H). */
export interface ApiHost {
  proto: 'unix' | 'tcp';
  /** Socket path (unix) or host:port (tcp). */
  addr: string;
  /** The -H value as the user wrote it (for messages). */
  spec: string;
}

/** Args of serveapi (the seed's job env lives in the job's Env). */
export interface ServeApiArgs {
  hosts: ApiHost[];
  /** The group (name) for unix sockets; '' = docker if it exists, else root. */
  socketGroup: string;
  /** true when the group came from -G (then a missing group is an error). */
  socketGroupExplicit: boolean;
  corsHeader: string;
  tls: boolean;
  tlsVerify: boolean;
  tlsCa: string;
  tlsCert: string;
  tlsKey: string;
  /** Extra routes for fault injection, only with --debug-failpoints. */
  failpoints: boolean;
  /** Max request body for JSON endpoints, bytes. */
  maxJsonBody: number;
}
