/**
 * The network driver contract (the seed's networkdriver, libnetwork's driverapi in spirit).
 *
 * Today a driver is initialised from the daemon's bridge config and reports its status; the
 * jobs that give containers their interfaces (allocate_interface, release_interface,
 * allocate_port, link) join this contract with the network issue (#5).
 *
 * Words: `config` is the seed's bridge settings (-b, --bip, --fixed-cidr, --mtu, --icc,
 * --iptables, --ip-forward, --ip-masq, --ip, --dns, --dns-search).
 */
import type { NetworkDriverConfig } from '../../src/protocol/types/config.js';
import type { NetworkStatus } from '../../src/protocol/types/system.js';

export interface NetworkDriver {
  readonly name: string;
  /** init checks the host against the config and prepares what the driver owns. */
  init(config: NetworkDriverConfig, bridge: string): Promise<NetworkStatus>;
  status(): Promise<NetworkStatus>;
}
