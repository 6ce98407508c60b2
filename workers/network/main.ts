/**
 * The network actor (seed §5.4.1): owns bridges, IPAM, ports, veths and firewall rules.
 * It serves init_networkdriver and network_status now; the container jobs arrive with #5.
 */
import { runActor, type Handlers } from '../../src/actor/runtime.js';
import { BridgeDriver } from './drivers/bridge.js';

const driver = new BridgeDriver();

const handlers: Handlers<'network'> = {
  init_networkdriver: async (config) => driver.init(config),
  network_status: async () => driver.status(),
};

runActor('network', { handlers });
