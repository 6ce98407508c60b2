/**
 * The embedded DNS server of containers on user-defined networks, where dockerd has it: at
 * 127.0.0.11:53 inside each container's network namespace. The sockets are made in that
 * namespace (native socketInNetns) on free ports, and two NAT rules inside the namespace send
 * port 53 there — so a container can still run its own server on port 53, as with dockerd.
 * The answers come from this actor's endpoints (names and aliases per network); other names go
 * to the container's --dns servers, or the host's.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import type { ActorLogger } from '../../src/actor/runtime.js';
import { SystemError } from '../../src/errdefs/errors.js';
import { native } from '../../src/native/native.js';
import { canonicalAddress } from './dns/message.js';
import { Resolver, type DnsRecords } from './dns/resolver.js';
import { DnsServer, datagramSocket } from './dns/server.js';

const DNS_IP = '127.0.0.11';

interface Running {
  server: DnsServer;
  resolver: Resolver;
}

/** The host's nameservers (loopback ones included: the forwarding runs in the host's namespace). */
async function hostNameservers(): Promise<string[]> {
  const text = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  return text.split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((x): x is string => Boolean(x));
}

/** The rules inside the container's namespace: its port 53 at 127.0.0.11 is our server's. */
function natRules(udpPort: number, tcpPort: number): string {
  return [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':BERTH_OUTPUT - [0:0]',
    ':BERTH_POSTROUTING - [0:0]',
    `-A OUTPUT -d ${DNS_IP}/32 -j BERTH_OUTPUT`,
    `-A POSTROUTING -d ${DNS_IP}/32 -j BERTH_POSTROUTING`,
    `-A BERTH_OUTPUT -d ${DNS_IP}/32 -p udp -m udp --dport 53 -j DNAT --to-destination ${DNS_IP}:${udpPort}`,
    `-A BERTH_OUTPUT -d ${DNS_IP}/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination ${DNS_IP}:${tcpPort}`,
    `-A BERTH_POSTROUTING -s ${DNS_IP}/32 -p udp -m udp --sport ${udpPort} -j SNAT --to-source :53`,
    `-A BERTH_POSTROUTING -s ${DNS_IP}/32 -p tcp -m tcp --sport ${tcpPort} -j SNAT --to-source :53`,
    'COMMIT',
    '',
  ].join('\n');
}

function restoreIn(netns: string, rules: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The whole nat table of the container's own namespace: only these rules live there.
    const child = spawn('nsenter', [`--net=${netns}`, 'iptables-restore', '-w', '5'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new SystemError(`embedded DNS rules: ${stderr.trim() || `iptables-restore exited with ${code}`}`))));
    child.stdin.end(rules);
  });
}

export class ContainerDns {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly records: DnsRecords,
    private readonly log: ActorLogger,
  ) {}

  /** start serves a container (or updates the networks it searches, if it is served already). */
  async start(containerId: string, netns: string, networks: string[], dns: string[], links: Array<{ name: string; alias: string }> = []): Promise<void> {
    const have = this.running.get(containerId);
    if (have) {
      have.resolver.setNetworks(networks);
      return;
    }
    const n = native();
    const udpFd = n.socketInNetns(netns, false, DNS_IP, 0);
    const tcpFd = n.socketInNetns(netns, true, DNS_IP, 0);
    const udp = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ fd: udpFd }, () => resolve());
    });
    const tcp = createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ fd: tcpFd }, () => resolve());
    });
    const upstreams = (dns.length ? dns : await hostNameservers()).filter((a) => canonicalAddress(a) !== null).map((address) => ({ address }));
    // Legacy links: their aliases are this container's alone, so it gets its own view of the records.
    const alias = new Map(links.map((l) => [l.alias.toLowerCase(), l.name.toLowerCase()]));
    const records: DnsRecords = alias.size
      ? { lookup: (net, name) => this.records.lookup(net, alias.get(name) ?? name), reverse: (net, addr) => this.records.reverse(net, addr) }
      : this.records;
    const resolver = new Resolver({ records, networks, upstreams, log: (m) => this.log.debug(`dns ${containerId.slice(0, 12)}: ${m}`) });
    const server = new DnsServer(resolver, { udp: datagramSocket(udp), tcp });
    try {
      await restoreIn(netns, natRules(udp.address().port, (tcp.address() as AddressInfo).port));
    } catch (err) {
      await server.close();
      throw err;
    }
    this.running.set(containerId, { server, resolver });
  }

  async stop(containerId: string): Promise<void> {
    const r = this.running.get(containerId);
    if (!r) return;
    this.running.delete(containerId);
    await r.server.close();
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.running.keys()]) await this.stop(id);
  }
}
