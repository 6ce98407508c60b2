/**
 * The network area: dockerd's documents (a network, a container's endpoint settings, port
 * maps) and the args of the network actor's jobs.
 */

export interface IpamConfig {
  Subnet: string;
  Gateway?: string;
  IPRange?: string;
}

/** A network as GET /networks/{id} shows it (Containers filled in on inspect). */
export interface NetworkDoc {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

/** "80/tcp" → its bindings (null: exposed, not published). */
export type PortMap = Record<string, PortBinding[] | null>;

/** A container's settings on one network (NetworkSettings.Networks[name]). */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string } | null;
  Links: string[] | null;
  Aliases: string[] | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  MacAddress: string;
  DriverOpts: Record<string, string> | null;
}

export interface AttachArgs {
  containerId: string;
  /** Without its leading slash. */
  containerName: string;
  /** The container's network namespace. */
  netns: string;
  /** A network name, ID or unique ID prefix. */
  network: string;
  aliases: string[];
  /** A requested address ('' = the next free one). */
  ipv4: string;
  /** Upstream resolvers for names that are not containers (user-defined networks). */
  dns: string[];
  /** Legacy --link on a user-defined network: an alias only this container resolves. */
  links: Array<{ name: string; alias: string }>;
}

export interface AttachResult {
  networkName: string;
  settings: EndpointSettings;
  /** The bridge device (for the hosts file and logs). */
  bridge: string;
  /** Whether the container's resolv.conf points at the embedded DNS server (127.0.0.11). */
  embeddedDns: boolean;
}

export interface PublishArgs {
  containerId: string;
  network: string;
  /** HostConfig.PortBindings. */
  bindings: PortMap;
  /** Config.ExposedPorts keys, for -P. */
  exposed: string[];
  publishAll: boolean;
}

export interface NetworkCreateArgs {
  body: Record<string, unknown> | null;
}

export interface NetworksPruneReport {
  NetworksDeleted: string[] | null;
}
