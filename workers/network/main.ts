/**
 * The network actor (seed §5.4.1): owns bridges, IPAM, ports, veths and firewall rules.
 * It serves init_networkdriver and network_status now; the container jobs arrive with #5.
 */
import { runActor, type Handlers } from '../../src/actor/runtime.js';
import { BridgeDriver } from './drivers/bridge.js';
import { Netns } from './netns.js';
import { UnavailableError } from '../../src/errdefs/errors.js';

const driver = new BridgeDriver();
let netns: Netns | null = null;

function namespaces(): Netns {
  if (!netns) throw new UnavailableError('the network driver is not initialised yet');
  return netns;
}

const handlers: Handlers<'network'> = {
  init_networkdriver: async (config) => {
    netns = new Netns(config.execRoot);
    return driver.init(config);
  },
  network_status: async () => driver.status(),
  netns_create: async ({ id, mode }) => namespaces().create(id, mode),
  netns_remove: async ({ id }) => namespaces().remove(id),
};

runActor('network', { handlers });
