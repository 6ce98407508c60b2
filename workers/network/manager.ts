/**
 * NetworkManager: the network actor's state and dockerd's network semantics — the predefined
 * networks (bridge, host, none), user-defined bridge networks, IPAM (a subnet per network from
 * dockerd's pools, addresses handed out in turn), endpoints (a container on a network: its
 * veth, address, MAC, aliases) and published ports. Its state is in
 * <data-root>/network/state.json, written atomically on every change, so a restarted berthd
 * finds every network, address and port where it was (the links and rules are still there:
 * the kernel keeps them).
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { ActorLogger } from '../../src/actor/runtime.js';
import { ContainerDns } from './containerDns.js';
import type { DnsRecords } from './dns/resolver.js';
import { join } from 'node:path';
import { ConflictError, ForbiddenError, InvalidParameterError, NotFoundError, SystemError } from '../../src/errdefs/errors.js';
import { atomicWriteFile } from '../../src/fs/atomic.js';
import { mkdirs } from '../../src/fs/mkdirs.js';
import { Filters } from '../../src/protocol/filters.js';
import { sortKeys } from '../../src/protocol/json.js';
import { nowRfc3339Nano } from '../../src/protocol/time.js';
import type { NetworkDriverConfig } from '../../src/protocol/types/config.js';
import type { AttachArgs, AttachResult, EndpointSettings, IpamConfig, NetworkDoc, NetworksPruneReport, PortMap, PublishArgs } from '../../src/protocol/types/networks.js';
import { Firewall } from './iptables.js';
import { cidrText, contains, defaultPools, intToIp, ipToInt, macFor, mustCidr, overlaps, parseCidr, size, type Cidr } from './ipnet.js';
import { addVeth, createBridge, deleteLink, hostRoutes, linkAddresses, setForwarding } from './links.js';
import { PortAllocator, portRules, type PortRule } from './ports.js';

/** A network as berth keeps it: dockerd's document, without Containers, plus its device. */
export interface NetworkRecord extends Omit<NetworkDoc, 'Containers'> {
  /** The bridge device ('' for host and null networks). */
  bridge: string;
  /** Unused (kept for state files of earlier versions). */
  nextIp: number;
  /** Whether berth made the bridge device (only then does it delete it). */
  ownBridge?: boolean;
  /** The default bridge's gateway is not shown when berth picked the subnet (dockerd's way). */
  hideGateway?: boolean;
}

export interface EndpointRecord {
  networkId: string;
  containerId: string;
  containerName: string;
  endpointId: string;
  ip: string;
  prefix: number;
  gateway: string;
  mac: string;
  aliases: string[];
  /** Whether the address was asked for (--ip): shown as IPAMConfig. */
  requestedIp: string;
  ifname: string;
  hostVeth: string;
  netns: string;
  dns: string[];
  ports: PortRule[];
  /** Legacy link aliases this container resolves (user-defined networks). */
  links?: Array<{ name: string; alias: string }>;
}

interface State {
  networks: NetworkRecord[];
  endpoints: EndpointRecord[];
}

const DEFAULT_BRIDGE = 'berth0';
const OPT = 'com.docker.network.bridge.';

export class NetworkManager implements DnsRecords {
  private state: State = { networks: [], endpoints: [] };
  private dns: ContainerDns | null = null;
  private config!: NetworkDriverConfig;
  private firewall = new Firewall(false);
  private readonly ports = new PortAllocator();
  private file = '';
  private saving: Promise<void> = Promise.resolve();

  get defaultBridge(): string {
    return this.state.networks.find((n) => n.Name === 'bridge')?.bridge ?? '';
  }

  /**
   * init loads the state, makes the predefined networks, the default bridge (its subnet from
   * --bip, the -b bridge's own address, or the first of dockerd's pools no route uses), the
   * firewall chains and rules, and re-creates what user networks need.
   */
  async init(config: NetworkDriverConfig, log: ActorLogger): Promise<void> {
    this.config = config;
    this.dns = new ContainerDns(this, log);
    this.firewall = new Firewall(config.iptables && config.bridge !== 'none');
    this.file = join(config.dataRoot, 'network', 'state.json');
    await mkdirs(join(config.dataRoot, 'network'), 0o700);
    try {
      this.state = JSON.parse(await readFile(this.file, 'utf8')) as State;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SystemError(`cannot read ${this.file}: ${(err as Error).message}`);
    }
    for (const [name, driver] of [['host', 'host'], ['none', 'null']] as const) {
      if (!this.byName(name)) this.state.networks.push(this.record(name, driver, [], {}, {}, false, ''));
    }
    const disabled = config.bridge === 'none';
    const old = this.byName('bridge');
    if (disabled) {
      if (old) this.state.networks = this.state.networks.filter((n) => n !== old);
    } else {
      await this.initDefaultBridge(old);
    }
    if (!disabled && config.ipForward) await setForwarding();
    await this.firewall.setup();
    for (const n of this.state.networks) {
      if (n.Driver !== 'bridge') continue;
      if (n.Name !== 'bridge' || !config.bridge) {
        const made = await createBridge(n.bridge, this.gatewayCidr(n), this.mtu(n));
        n.ownBridge = n.ownBridge || made;
      }
      await this.firewall.ensureAll('nat', this.networkRules(n).nat);
      await this.firewall.ensureAll('filter', this.networkRules(n).filter);
    }
    // Endpoints of containers that still run keep their ports (their rules are in the kernel),
    // and their name server (its sockets were this process's: made again).
    for (const ep of this.state.endpoints) this.ports.restore(ep.ports);
    for (const id of this.containers()) {
      const ep = this.endpointsOf(id)[0]!;
      if (!(await stat(ep.netns).then(() => true, () => false))) continue;
      await this.serveDns(id).catch((err) => log.warn(`embedded DNS of ${id.slice(0, 12)}: ${(err as Error).message}`));
    }
    await this.save();
  }

  // ---- names (the embedded DNS server's records) ----------------------------------------------

  /** The user-defined networks a container is on (the ones with name resolution), by name. */
  private userNetworks(containerId: string): string[] {
    return this.endpointsOf(containerId)
      .map((e) => this.networkOf(e.networkId))
      .filter((n): n is NetworkRecord => !!n && n.Name !== 'bridge')
      .map((n) => n.Name);
  }

  private async serveDns(containerId: string): Promise<void> {
    const networks = this.userNetworks(containerId);
    if (networks.length === 0) return this.dns?.stop(containerId);
    const ep = this.endpointsOf(containerId)[0]!;
    const links = this.endpointsOf(containerId).flatMap((e) => e.links ?? []);
    await this.dns?.start(containerId, ep.netns, networks, ep.dns, links);
  }

  lookup(network: string, name: string): { ipv4: string[]; ipv6: string[] } | null {
    const n = this.byName(network);
    if (!n) return null;
    const ipv4: string[] = [];
    for (const ep of this.state.endpoints) {
      if (ep.networkId !== n.Id) continue;
      const names = [ep.containerName, ...ep.aliases].map((x) => x.toLowerCase());
      if (names.includes(name)) ipv4.push(ep.ip);
    }
    return ipv4.length ? { ipv4, ipv6: [] } : null;
  }

  reverse(network: string, address: string): string | null {
    const n = this.byName(network);
    return this.state.endpoints.find((e) => n && e.networkId === n.Id && e.ip === address)?.containerName ?? null;
  }

  private async initDefaultBridge(old: NetworkRecord | undefined): Promise<void> {
    const c = this.config;
    const name = c.bridge || DEFAULT_BRIDGE;
    let subnet: Cidr & { ip: number };
    if (c.bridge) {
      // -b: an existing bridge, and its address (dockerd: "bridge not found" otherwise).
      const addrs = await linkAddresses(c.bridge);
      if (addrs === null) throw new SystemError(`bridge ${c.bridge} does not exist: -b attaches containers to an existing bridge`);
      if (addrs.length === 0) throw new SystemError(`bridge ${c.bridge} has no IPv4 address`);
      subnet = mustCidr(addrs[0]!, 'bridge address');
    } else if (c.bip) {
      subnet = mustCidr(c.bip, '--bip');
    } else if (old && old.bridge === name && old.IPAM.Config[0]) {
      const cfg = old.IPAM.Config[0];
      subnet = { ...mustCidr(cfg.Subnet, 'subnet'), ip: ipToInt(cfg.Gateway ?? '')! };
    } else {
      const existing = await linkAddresses(name);
      if (existing && existing.length) subnet = mustCidr(existing[0]!, 'bridge address');
      else {
        const free = await this.freePool([]);
        subnet = { ...free, ip: free.base + 1 };
      }
    }
    const cfg: IpamConfig = { Subnet: cidrText(subnet), Gateway: intToIp(subnet.ip) };
    if (c.fixedCidr) cfg.IPRange = cidrText(mustCidr(c.fixedCidr, '--fixed-cidr'));
    const options: Record<string, string> = {
      [`${OPT}default_bridge`]: 'true',
      [`${OPT}enable_icc`]: String(c.icc),
      [`${OPT}enable_ip_masquerade`]: String(c.ipMasq),
      [`${OPT}host_binding_ipv4`]: c.defaultIp || '0.0.0.0',
      [`${OPT}name`]: name,
      'com.docker.network.driver.mtu': String(c.mtu || 1500),
    };
    const rec = old ?? this.record('bridge', 'bridge', [cfg], options, {}, false, name);
    rec.IPAM.Config = [cfg];
    rec.hideGateway = !c.bip;
    rec.Options = options;
    rec.bridge = name;
    if (!old) this.state.networks.push(rec);
    const made = await createBridge(name, `${cfg.Gateway}/${subnet.prefix}`, c.mtu || 1500);
    rec.ownBridge = !c.bridge && (rec.ownBridge || made);
  }

  private record(name: string, driver: string, config: IpamConfig[], options: Record<string, string>, labels: Record<string, string>, internal: boolean, bridge: string): NetworkRecord {
    return {
      Name: name,
      Id: randomBytes(32).toString('hex'),
      Created: nowRfc3339Nano(),
      Scope: 'local',
      Driver: driver,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: driver === 'bridge' && name !== 'bridge' ? {} : null, Config: config },
      Internal: internal,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Options: options,
      Labels: labels,
      bridge,
      nextIp: 0,
    };
  }

  /** freePool is the first of dockerd's pools that no route, network or `taken` overlaps. */
  private async freePool(taken: Cidr[]): Promise<Cidr> {
    const used: Cidr[] = [...taken];
    for (const r of await hostRoutes()) {
      const c = parseCidr(r);
      if (c) used.push(c);
    }
    for (const n of this.state.networks) for (const cfg of n.IPAM.Config) used.push(mustCidr(cfg.Subnet, 'subnet'));
    const pool = defaultPools().find((p) => !used.some((u) => overlaps(p, u)));
    if (!pool) throw new ForbiddenError('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
    return pool;
  }

  private mtu(n: NetworkRecord): number {
    return Number(n.Options['com.docker.network.driver.mtu'] ?? 0) || this.config.mtu || 1500;
  }

  private gatewayCidr(n: NetworkRecord): string {
    const cfg = n.IPAM.Config[0]!;
    return `${cfg.Gateway}/${mustCidr(cfg.Subnet, 'subnet').prefix}`;
  }

  /**
   * The rules of one bridge network (dockerd's per-bridge rules, in berth's chains):
   * masquerading of its subnet, forwarding in and out, ICC, isolation from the other bridges.
   */
  private networkRules(n: NetworkRecord): { nat: string[]; filter: string[] } {
    const br = n.bridge;
    const subnet = n.IPAM.Config[0]!.Subnet;
    const icc = n.Options[`${OPT}enable_icc`] !== 'false';
    const masq = n.Options[`${OPT}enable_ip_masquerade`] !== 'false';
    const nat: string[] = [];
    const filter: string[] = [];
    if (n.Internal) {
      filter.push(`-A BERTH-ISOLATION-STAGE-1 ! -s ${subnet} -o ${br} -j DROP`, `-A BERTH-ISOLATION-STAGE-1 ! -d ${subnet} -i ${br} -j DROP`);
    } else {
      if (masq) nat.push(`-A BERTH-POSTROUTING -s ${subnet} ! -o ${br} -j MASQUERADE`);
      // Published ports reached from 127.0.0.1: their source must become the bridge's address.
      nat.push(`-A BERTH-POSTROUTING -o ${br} -m addrtype --src-type LOCAL -j MASQUERADE`);
      filter.push(
        `-A BERTH-FORWARD -o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
        `-A BERTH-FORWARD -o ${br} -j BERTH`,
        `-A BERTH-FORWARD -i ${br} ! -o ${br} -j ACCEPT`,
        `-A BERTH-ISOLATION-STAGE-1 -i ${br} ! -o ${br} -j BERTH-ISOLATION-STAGE-2`,
        `-A BERTH-ISOLATION-STAGE-2 -o ${br} -j DROP`,
      );
    }
    filter.push(`-A BERTH-FORWARD -i ${br} -o ${br} -j ${icc ? 'ACCEPT' : 'DROP'}`);
    return { nat, filter };
  }

  private save(): Promise<void> {
    const text = JSON.stringify(this.state);
    this.saving = this.saving.then(() => atomicWriteFile(this.file, text, 0o600));
    return this.saving;
  }

  private byName(name: string): NetworkRecord | undefined {
    return this.state.networks.find((n) => n.Name === name);
  }

  /** find resolves a network as dockerd: full ID, exact name, then a unique ID prefix. */
  find(ref: string): NetworkRecord {
    const byId = this.state.networks.find((n) => n.Id === ref);
    if (byId) return byId;
    const byName = this.byName(ref);
    if (byName) return byName;
    const hits = this.state.networks.filter((n) => n.Id.startsWith(ref));
    if (ref && hits.length === 1) return hits[0]!;
    if (hits.length > 1) throw new InvalidParameterError(`${hits.length} matches found based on ID prefix: network ${ref} is ambiguous`);
    throw new NotFoundError(`network ${ref} not found`);
  }

  // ---- documents ----------------------------------------------------------------------------

  doc(n: NetworkRecord, withContainers = true): NetworkDoc {
    const { bridge: _bridge, nextIp: _next, ownBridge: _own, hideGateway: _hide, ...rest } = n;
    // dockerd shows the default bridge's subnet without its gateway.
    if (n.Name === 'bridge' && n.hideGateway) rest.IPAM = { ...rest.IPAM, Config: rest.IPAM.Config.map((c) => ({ Subnet: c.Subnet, ...(c.IPRange ? { IPRange: c.IPRange } : {}) })) };
    const containers: NetworkDoc['Containers'] = {};
    for (const ep of withContainers ? this.state.endpoints.filter((e) => e.networkId === n.Id) : []) {
      containers[ep.containerId] = { Name: ep.containerName, EndpointID: ep.endpointId, MacAddress: ep.mac, IPv4Address: `${ep.ip}/${ep.prefix}`, IPv6Address: '' };
    }
    const { Options, Labels, ...head } = rest;
    return { ...head, Containers: sortKeys(containers)!, Options: sortKeys(Options)!, Labels: sortKeys(Labels)! };
  }

  list(filters: string | undefined): NetworkDoc[] {
    const f = Filters.parse(filters);
    for (const k of f.keys()) if (!['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'].includes(k)) throw new InvalidParameterError(`Invalid filter '${k}'`);
    for (const t of f.get('type')) if (t !== 'custom' && t !== 'builtin') throw new InvalidParameterError(`invalid filter: 'type'='${t}'`);
    const predefined = (n: NetworkRecord) => ['bridge', 'host', 'none'].includes(n.Name);
    return this.state.networks
      .filter((n) => f.fuzzyMatch('name', n.Name) && f.fuzzyMatch('id', n.Id) && f.exactMatch('driver', n.Driver) && f.exactMatch('scope', n.Scope) && f.matchKVList('label', n.Labels))
      .filter((n) => !f.has('type') || f.get('type').includes(predefined(n) ? 'builtin' : 'custom'))
      .filter((n) => {
        if (!f.has('dangling')) return true;
        const want = f.get('dangling')[0] === 'true' || f.get('dangling')[0] === '1';
        const dangling = !predefined(n) && !this.state.endpoints.some((e) => e.networkId === n.Id);
        return want === dangling;
      })
      // GET /networks shows no containers (dockerd 20.10 fills them only on inspect).
      .map((n) => this.doc(n, false));
  }

  // ---- create, remove, prune ----------------------------------------------------------------

  async create(body: Record<string, unknown> | null): Promise<{ Id: string; Warning: string }> {
    if (!body) throw new InvalidParameterError('invalid network config: missing body');
    const name = typeof body.Name === 'string' ? body.Name : '';
    if (!name) throw new SystemError('invalid name: ');
    const driver = typeof body.Driver === 'string' && body.Driver ? body.Driver : 'bridge';
    if (['bridge', 'host', 'none'].includes(name)) throw new ForbiddenError(`operation is not permitted on predefined ${name} network `);
    if (this.byName(name)) throw new ConflictError(`network with name ${name} already exists`);
    if (driver === 'host' || driver === 'null') throw new ForbiddenError(`only one instance of "${driver}" network is allowed`);
    if (driver !== 'bridge') throw new NotFoundError(`plugin "${driver}" not found`);
    if (body.EnableIPv6 === true) throw new InvalidParameterError('berth does not support IPv6 networks yet');
    if (this.config.bridge === 'none') throw new ForbiddenError('networking is disabled (-b none): bridge networks cannot be created');
    const ipam = (body.IPAM ?? {}) as { Driver?: string; Config?: Array<Record<string, unknown>> | null; Options?: Record<string, string> | null };
    if (ipam.Driver && ipam.Driver !== 'default') throw new NotFoundError(`plugin "${ipam.Driver}" not found`);
    const options = { ...((body.Options ?? {}) as Record<string, string>) };
    for (const k of ['enable_icc', 'enable_ip_masquerade']) {
      const v = options[`${OPT}${k}`];
      if (v !== undefined && !/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(v)) {
        throw new SystemError(`failed to parse ${OPT}${k} value: ${v} (strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax)`);
      }
    }
    const labels = { ...((body.Labels ?? {}) as Record<string, string>) };
    const configs = ipam.Config ?? [];
    if (configs.length > 1) throw new InvalidParameterError('berth supports one IPv4 subnet per network');
    let cfg: IpamConfig;
    const ask = configs[0];
    if (ask && typeof ask.Subnet === 'string' && ask.Subnet) {
      const sub = parseCidr(ask.Subnet);
      if (!sub) throw new SystemError(`Invalid subnet ${ask.Subnet} : invalid CIDR address: ${ask.Subnet}`);
      if (sub.ip !== sub.base) throw new InvalidParameterError(`invalid subnet ${ask.Subnet}: it should be ${cidrText(sub)}`);
      for (const n of this.state.networks) {
        for (const c of n.IPAM.Config) if (overlaps(sub, mustCidr(c.Subnet, 'subnet'))) throw new ForbiddenError('Pool overlaps with other one on this address space');
      }
      let gw = sub.base + 1;
      if (typeof ask.Gateway === 'string' && ask.Gateway) {
        const g = ipToInt(ask.Gateway);
        if (g === null || !contains(sub, g)) throw new SystemError(`failed to allocate gateway (${ask.Gateway}): Requested address is out of range`);
        gw = g;
      }
      cfg = { Subnet: cidrText(sub) };
      if (typeof ask.IPRange === 'string' && ask.IPRange) {
        const r = mustCidr(ask.IPRange, 'ip-range');
        if (!(r.prefix >= sub.prefix && contains(sub, r.base))) throw new InvalidParameterError(`no matching subnet for range ${ask.IPRange}`);
        cfg.IPRange = cidrText(r);
      }
      cfg.Gateway = intToIp(gw); // dockerd's key order: Subnet, IPRange, Gateway
    } else {
      if (ask && (ask.Gateway || ask.IPRange)) throw new InvalidParameterError('a gateway or IP range needs a subnet');
      const pool = await this.freePool([]);
      cfg = { Subnet: cidrText(pool), Gateway: intToIp(pool.base + 1) };
    }
    const rec = this.record(name, 'bridge', [cfg], options, labels, body.Internal === true, '');
    rec.Attachable = body.Attachable === true;
    rec.IPAM.Options = ipam.Options ?? null;
    rec.bridge = options[`${OPT}name`] || `br-${rec.Id.slice(0, 12)}`;
    if (rec.bridge.length > 15) throw new InvalidParameterError(`bridge name ${rec.bridge} is too long (15 characters at most)`);
    rec.ownBridge = await createBridge(rec.bridge, this.gatewayCidr(rec), this.mtu(rec));
    try {
      const rules = this.networkRules(rec);
      await this.firewall.add(rules);
    } catch (err) {
      if (rec.ownBridge) await deleteLink(rec.bridge);
      throw err;
    }
    this.state.networks.push(rec);
    await this.save();
    return { Id: rec.Id, Warning: '' };
  }

  async remove(ref: string): Promise<{ id: string; name: string; type: string }> {
    const n = this.find(ref);
    if (['bridge', 'host', 'none'].includes(n.Name)) throw new ForbiddenError(`${n.Name} is a pre-defined network and cannot be removed`);
    if (this.state.endpoints.some((e) => e.networkId === n.Id)) {
      throw new ForbiddenError(`error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
    }
    await this.dropNetwork(n);
    this.state.networks = this.state.networks.filter((x) => x !== n);
    await this.save();
    return { id: n.Id, name: n.Name, type: n.Driver };
  }

  private async dropNetwork(n: NetworkRecord): Promise<void> {
    const rules = this.networkRules(n);
    await this.firewall.remove(rules);
    if (n.ownBridge) await deleteLink(n.bridge);
  }

  async prune(filters: string | undefined): Promise<{ report: NetworksPruneReport; removed: Array<{ id: string; name: string; type: string }> }> {
    const f = Filters.parse(filters);
    for (const k of f.keys()) if (!['label', 'label!', 'until'].includes(k)) throw new InvalidParameterError(`Invalid filter '${k}'`);
    const removed: Array<{ id: string; name: string; type: string }> = [];
    for (const n of [...this.state.networks]) {
      if (['bridge', 'host', 'none'].includes(n.Name)) continue;
      if (this.state.endpoints.some((e) => e.networkId === n.Id)) continue;
      if (!f.matchKVList('label', n.Labels)) continue;
      removed.push(await this.remove(n.Id));
    }
    return { report: { NetworksDeleted: removed.length ? removed.map((r) => r.name) : null }, removed };
  }

  // ---- endpoints ------------------------------------------------------------------------------

  /**
   * attach connects a container (its network namespace) to a network: for a bridge network, an
   * address from IPAM, a veth into the namespace named ethN, the default route on its first
   * network; host and none need nothing here.
   */
  async attach(a: AttachArgs): Promise<AttachResult> {
    const n = this.find(a.network);
    const settings: EndpointSettings = {
      IPAMConfig: a.ipv4 ? { IPv4Address: a.ipv4 } : null, Links: null, Aliases: a.aliases.length ? a.aliases : null, NetworkID: n.Id, EndpointID: '',
      Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: '', DriverOpts: null,
    };
    if (n.Driver !== 'bridge') {
      settings.EndpointID = randomBytes(32).toString('hex');
      return { networkName: n.Name, settings, bridge: '', embeddedDns: false };
    }
    if (this.state.endpoints.some((e) => e.networkId === n.Id && e.containerId === a.containerId)) {
      throw new ForbiddenError(`endpoint with name ${a.containerName} already exists in network ${n.Name}`);
    }
    const cfg = n.IPAM.Config[0]!;
    const subnet = mustCidr(cfg.Subnet, 'subnet');
    const ip = a.ipv4 ? this.claimIp(n, a.ipv4) : this.nextIp(n);
    const mine = this.state.endpoints.filter((e) => e.containerId === a.containerId);
    const ep: EndpointRecord = {
      networkId: n.Id,
      containerId: a.containerId,
      containerName: a.containerName,
      endpointId: randomBytes(32).toString('hex'),
      ip: intToIp(ip),
      prefix: subnet.prefix,
      gateway: cfg.Gateway ?? '',
      mac: macFor(ip),
      // dockerd adds the container's short ID to its aliases on user-defined networks.
      aliases: n.Name === 'bridge' ? a.aliases : [...a.aliases.filter((x) => x !== a.containerId.slice(0, 12)), a.containerId.slice(0, 12)],
      requestedIp: a.ipv4,
      ifname: `eth${firstFreeIndex(mine.map((e) => e.ifname))}`,
      hostVeth: `veth${randomBytes(4).toString('hex').slice(0, 7)}`,
      netns: a.netns,
      dns: a.dns,
      ports: [],
      links: a.links,
    };
    await addVeth({
      netns: a.netns,
      ifname: ep.ifname,
      hostVeth: ep.hostVeth,
      bridge: n.bridge,
      mac: ep.mac,
      cidr: `${ep.ip}/${ep.prefix}`,
      // The first network a container joins gives it its default route (an internal one too, as dockerd).
      gateway: mine.length === 0 ? ep.gateway : null,
      mtu: this.mtu(n),
    });
    this.state.endpoints.push(ep);
    await this.save();
    if (n.Name !== 'bridge') {
      try {
        await this.serveDns(a.containerId);
      } catch (err) {
        await this.detach(a.containerId, n.Id);
        throw err;
      }
    }
    return { networkName: n.Name, settings: this.settings(n, ep), bridge: n.bridge, embeddedDns: n.Name !== 'bridge' };
  }

  settings(n: NetworkRecord, ep: EndpointRecord): EndpointSettings {
    return {
      IPAMConfig: ep.requestedIp ? { IPv4Address: ep.requestedIp } : null,
      Links: null,
      Aliases: ep.aliases.length ? ep.aliases : null,
      NetworkID: n.Id,
      EndpointID: ep.endpointId,
      Gateway: ep.gateway,
      IPAddress: ep.ip,
      IPPrefixLen: ep.prefix,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      MacAddress: ep.mac,
      DriverOpts: null,
    };
  }

  private claimIp(n: NetworkRecord, text: string): number {
    const cfg = n.IPAM.Config[0]!;
    const subnet = mustCidr(cfg.Subnet, 'subnet');
    const ip = ipToInt(text);
    if (ip === null) throw new InvalidParameterError(`invalid IPv4 address: ${text}`);
    if (!contains(subnet, ip)) throw new SystemError(`Invalid address ${text}: It does not belong to any of this network's subnets`);
    if (n.Name === 'bridge') throw new InvalidParameterError('user specified IP address is supported on user defined networks only');
    if (text === cfg.Gateway || this.state.endpoints.some((e) => e.networkId === n.Id && e.ip === text)) {
      throw new ForbiddenError(`Address already in use`);
    }
    return ip;
  }

  /** nextIp hands out the lowest free address of the pool (dockerd reuses a freed one at once). */
  private nextIp(n: NetworkRecord): number {
    const cfg = n.IPAM.Config[0]!;
    const subnet = mustCidr(cfg.Subnet, 'subnet');
    const pool: Cidr = cfg.IPRange ? mustCidr(cfg.IPRange, 'ip-range') : subnet;
    const used = new Set(this.state.endpoints.filter((e) => e.networkId === n.Id).map((e) => e.ip));
    if (cfg.Gateway) used.add(cfg.Gateway);
    for (let i = 0; i < size(pool); i++) {
      const ip = pool.base + i;
      // Never the subnet's own address or its broadcast (a range may start at its network address).
      if (ip === subnet.base || ip === subnet.base + size(subnet) - 1 || used.has(intToIp(ip))) continue;
      return ip;
    }
    throw new ForbiddenError(`no available IPv4 addresses on this network's address pools: ${n.Name} (${n.Id})`);
  }

  /** detach disconnects a container from a network: its ports, its veth, its address. */
  async detach(containerId: string, network: string, namespaceGoes = false): Promise<void> {
    const n = this.find(network);
    const ep = this.state.endpoints.find((e) => e.networkId === n.Id && e.containerId === containerId);
    if (!ep) return;
    await this.unpublishEndpoint(n, ep);
    // Deleting a veth takes ~20 ms; the kernel destroys the pair with its namespace anyway.
    if (!namespaceGoes) await deleteLink(ep.hostVeth);
    this.state.endpoints = this.state.endpoints.filter((e) => e !== ep);
    await this.save();
    if (n.Name !== 'bridge') await this.serveDns(containerId).catch(() => {});
  }

  /** publish programs a container's published ports on a bridge network it is attached to. */
  async publish(p: PublishArgs): Promise<PortMap> {
    const n = this.find(p.network);
    const ep = this.state.endpoints.find((e) => e.networkId === n.Id && e.containerId === p.containerId);
    const hostIp = n.Options[`${OPT}host_binding_ipv4`] || this.config.defaultIp || '0.0.0.0';
    const { rules, ports } = await this.ports.allocate(p.bindings, p.exposed, p.publishAll, hostIp);
    if (!ep || n.Driver !== 'bridge') {
      this.ports.release(rules);
      return ports;
    }
    try {
      const all = rules.map((r) => portRules(r, ep.ip, n.bridge));
      // One container port published twice needs its ACCEPT and hairpin rules once.
      await this.firewall.add({ nat: [...new Set(all.flatMap((r) => r.nat))], filter: [...new Set(all.flatMap((r) => r.filter))] });
    } catch (err) {
      this.ports.release(rules);
      throw err;
    }
    ep.ports = rules;
    await this.save();
    return ports;
  }

  private async unpublishEndpoint(n: NetworkRecord, ep: EndpointRecord): Promise<void> {
    if (!ep.ports.length) return;
    const all = ep.ports.map((r) => portRules(r, ep.ip, n.bridge));
    await this.firewall.remove({ nat: [...new Set(all.flatMap((r) => r.nat))], filter: [...new Set(all.flatMap((r) => r.filter))] });
    this.ports.release(ep.ports);
    ep.ports = [];
  }

  /** The endpoints of a container (for the daemon's reconciliation and the DNS server). */
  endpointsOf(containerId: string): EndpointRecord[] {
    return this.state.endpoints.filter((e) => e.containerId === containerId);
  }

  /** Every container with an endpoint (the daemon removes those of containers that no longer run). */
  containers(): string[] {
    return [...new Set(this.state.endpoints.map((e) => e.containerId))];
  }

  networkOf(id: string): NetworkRecord | undefined {
    return this.state.networks.find((n) => n.Id === id);
  }

  /** All endpoints (for name resolution). */
  allEndpoints(): EndpointRecord[] {
    return this.state.endpoints;
  }

  /**
   * teardown, on a clean stop without --live-restore (no container runs): every endpoint and
   * rule berth made goes, and the bridges with them; the next start makes them again.
   */
  async teardown(): Promise<void> {
    for (const ep of [...this.state.endpoints]) {
      const n = this.networkOf(ep.networkId);
      if (n) await this.detach(ep.containerId, n.Id).catch(() => {});
    }
    for (const n of this.state.networks) {
      if (n.Driver !== 'bridge') continue;
      const rules = this.networkRules(n);
      await this.firewall.remove(rules);
      // A bridge berth did not make (-b, or a name that existed) is the user's: it stays.
      if (n.ownBridge) await deleteLink(n.bridge);
    }
    await this.firewall.teardown();
    await this.dns?.stopAll();
    await this.save();
  }
}

function firstFreeIndex(names: string[]): number {
  for (let i = 0; ; i++) if (!names.includes(`eth${i}`)) return i;
}
