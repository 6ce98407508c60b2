/**
 * The network actor (seed §5.4.1): owns bridges, IPAM, ports, veths, firewall rules and the
 * containers' network namespaces. Network events (create, connect, disconnect, destroy) are
 * published from here, where they happen.
 */
import { runActor, type EngineClient, type Handlers } from '../../src/actor/runtime.js';
import { UnavailableError } from '../../src/errdefs/errors.js';
import { BridgeDriver } from './drivers/bridge.js';
import { NetworkManager } from './manager.js';
import { Netns } from './netns.js';

const driver = new BridgeDriver();
const manager = new NetworkManager();
let netns: Netns | null = null;
let ready = false;

function namespaces(): Netns {
  if (!netns) throw new UnavailableError('the network driver is not initialised yet');
  return netns;
}

function networks(): NetworkManager {
  if (!ready) throw new UnavailableError('the network driver is not initialised yet');
  return manager;
}

function event(engine: EngineClient, action: string, id: string, attributes: Record<string, string>): void {
  void engine.job('log', { Type: 'network', Action: action, Actor: { ID: id, Attributes: attributes } }).catch(() => {});
}

const handlers: Handlers<'network'> = {
  init_networkdriver: async (config, ctx) => {
    netns = new Netns(config.execRoot);
    await manager.init(config, ctx.log);
    ready = true;
    return driver.init(config, manager.defaultBridge);
  },
  network_status: async () => driver.status(),
  netns_create: async ({ id, mode }) => namespaces().create(id, mode),
  netns_remove: async ({ id }) => namespaces().remove(id),
  network_list: async ({ filters }) => networks().list(filters),
  network_inspect: async ({ name }) => {
    const m = networks();
    return m.doc(m.find(name));
  },
  network_create: async ({ body }, ctx) => {
    const m = networks();
    const r = await m.create(body);
    const n = m.find(r.Id);
    event(ctx.engine, 'create', n.Id, { name: n.Name, type: n.Driver });
    return r;
  },
  network_remove: async ({ name }, ctx) => {
    const r = await networks().remove(name);
    event(ctx.engine, 'destroy', r.id, { name: r.name, type: r.type });
  },
  network_prune: async ({ filters }, ctx) => {
    const { report, removed } = await networks().prune(filters);
    for (const r of removed) event(ctx.engine, 'destroy', r.id, { name: r.name, type: r.type });
    event(ctx.engine, 'prune', '', { reclaimed: '0' });
    return report;
  },
  allocate_interface: async (args, ctx) => {
    const r = await networks().attach(args);
    event(ctx.engine, 'connect', r.settings.NetworkID, { container: args.containerId, name: r.networkName, type: driverOf(r.settings.NetworkID) });
    return r;
  },
  release_interface: async ({ containerId, network, namespaceGoes }, ctx) => {
    const m = networks();
    const n = m.find(network);
    await m.detach(containerId, n.Id, namespaceGoes === true);
    event(ctx.engine, 'disconnect', n.Id, { container: containerId, name: n.Name, type: n.Driver });
  },
  allocate_port: async (args) => networks().publish(args),
  network_endpoints: async () => networks().allEndpoints().map((e) => ({ containerId: e.containerId, networkId: e.networkId })),
  network_teardown: async () => networks().teardown(),
};

function driverOf(id: string): string {
  return manager.networkOf(id)?.Driver ?? 'bridge';
}

runActor('network', { handlers });
