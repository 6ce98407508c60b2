/**
 * The network driver contract (the seed's networkdriver, libnetwork's driverapi in spirit).
 *
 * The actor's jobs, as the seed names them, and where they live:
 *   init_networkdriver   NetworkManager.init (bridge, IPAM state, firewall chains) and the
 *                        driver's status (the host's forwarding and bridge-netfilter settings)
 *   allocate_interface   NetworkManager.attach: an address, a veth into the container's
 *                        namespace, its MAC and route; the embedded DNS server on user networks
 *   release_interface    NetworkManager.detach
 *   allocate_port        NetworkManager.publish (ports.ts: host ports, DNAT/ACCEPT rules)
 *   link                 legacy --link is the daemon's (hosts lines and environment, on the
 *                        default bridge); with --icc=true, as by default, it needs no rule
 * Networks themselves (create, inspect, remove, prune) are NetworkManager's too. Only the
 * bridge driver exists; `host` and `null` networks need nothing of a driver.
 *
 * Words: `config` is the seed's bridge settings (-b, --bip, --fixed-cidr, --mtu, --icc,
 * --iptables, --ip-forward, --ip-masq, --ip, --dns, --dns-search).
 */
import type { NetworkDriverConfig } from '../../src/protocol/types/config.js';
import type { NetworkStatus } from '../../src/protocol/types/system.js';

export interface NetworkDriver {
  readonly name: string;
  /** init checks the host against the config; `bridge` is the default bridge's device. */
  init(config: NetworkDriverConfig, bridge: string): Promise<NetworkStatus>;
  status(): Promise<NetworkStatus>;
}
