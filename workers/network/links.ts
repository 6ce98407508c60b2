/**
 * Links, with iproute2: bridges, and a container's veth pair made from inside its network
 * namespace (so the container's end is born there, named ethN) with its peer sent to berthd's
 * own namespace. Each step is one `ip -batch` process.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { SystemError } from '../../src/errdefs/errors.js';

const run = promisify(execFile);

function batch(commands: string[], netns: string | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const [cmd, args] = netns ? ['nsenter', [`--net=${netns}`, 'ip', '-batch', '-']] : ['ip', ['-batch', '-']];
    const child = spawn(cmd, args as string[], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new SystemError(stderr.trim() || `ip exited with ${code}`))));
    child.stdin.end(commands.join('\n') + '\n');
  });
}

export interface LinkAddress {
  /** "172.18.0.1/16" */
  cidr: string;
}

/** The IPv4 addresses (CIDR form) of a link, or null if the link does not exist. */
export async function linkAddresses(name: string): Promise<string[] | null> {
  try {
    const { stdout } = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', name]);
    const doc = JSON.parse(stdout) as Array<{ addr_info?: Array<{ local: string; prefixlen: number }> }>;
    return (doc[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
  } catch {
    return null;
  }
}

/** The IPv4 routes of the host's main table, as CIDRs (for picking a free subnet). */
export async function hostRoutes(): Promise<string[]> {
  const { stdout } = await run('ip', ['-j', '-4', 'route', 'show']);
  const doc = JSON.parse(stdout) as Array<{ dst: string }>;
  return doc.map((r) => r.dst).filter((d) => d !== 'default').map((d) => (d.includes('/') ? d : `${d}/32`));
}

/** linkKind is a link's type ("bridge", "veth", … ; "" for a plain device), or null if there is none. */
export async function linkKind(name: string): Promise<string | null> {
  try {
    const { stdout } = await run('ip', ['-j', '-d', 'link', 'show', 'dev', name]);
    const doc = JSON.parse(stdout) as Array<{ linkinfo?: { info_kind?: string } }>;
    return doc[0]?.linkinfo?.info_kind ?? '';
  } catch {
    return null;
  }
}

/**
 * createBridge makes (or completes) a bridge with its gateway address, up; it says whether it
 * made the link (only then may berth delete it). An existing link that is not a bridge is
 * refused, as dockerd does: a network must never take over the host's own interfaces.
 */
export async function createBridge(name: string, gatewayCidr: string, mtu: number): Promise<boolean> {
  const kind = await linkKind(name);
  if (kind !== null && kind !== 'bridge') throw new SystemError(`existing interface ${name} is not a bridge`);
  const existing = kind === null ? null : await linkAddresses(name);
  const cmds: string[] = [];
  // dockerd's bridges have a 02:42 MAC too (random: they have no address of their own yet).
  if (kind === null) cmds.push(`link add ${name} address 02:42:${[...randomBytes(4)].map((b) => b.toString(16).padStart(2, '0')).join(':')} type bridge`);
  if (!existing?.includes(gatewayCidr)) cmds.push(`addr add ${gatewayCidr} brd + dev ${name}`);
  cmds.push(`link set ${name} mtu ${mtu}`, `link set ${name} up`);
  try {
    await batch(cmds, null);
  } catch (err) {
    throw new SystemError(`cannot create bridge ${name}: ${(err as Error).message}`);
  }
  // No IPv6 on it (berth has none), as docker0 has no link-local address.
  await writeFile(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1').catch(() => {});
  // Published ports answer on 127.0.0.1 through DNAT to the bridge: the kernel must route
  // loopback-sourced packets there (dockerd does the same without its userland proxy).
  await writeFile(`/proc/sys/net/ipv4/conf/${name}/route_localnet`, '1').catch(() => {});
  return kind === null;
}

export async function deleteLink(name: string): Promise<void> {
  await run('ip', ['link', 'del', name]).catch(() => {});
}

export interface VethPlan {
  netns: string;
  /** The container's interface: eth0, eth1, … */
  ifname: string;
  hostVeth: string;
  bridge: string;
  mac: string;
  cidr: string;
  gateway: string | null;
  mtu: number;
}

/** addVeth wires a container into a bridge: two `ip` processes, one in each namespace. */
export async function addVeth(p: VethPlan): Promise<void> {
  const inside = [
    `link add ${p.ifname} type veth peer name ${p.hostVeth} netns ${process.pid}`,
    `link set ${p.ifname} address ${p.mac} mtu ${p.mtu}`,
    `addr add ${p.cidr} brd + dev ${p.ifname}`,
    `link set ${p.ifname} up`,
  ];
  if (p.gateway) inside.push(`route add default via ${p.gateway} dev ${p.ifname}`);
  try {
    await batch(inside, p.netns);
    // Hairpin on the bridge port: a container can reach its own published port on the host's address.
    await batch([`link set ${p.hostVeth} master ${p.bridge} mtu ${p.mtu} up`, `link set ${p.hostVeth} type bridge_slave hairpin on`], null);
  } catch (err) {
    await deleteLink(p.hostVeth);
    throw new SystemError(`cannot connect the container to ${p.bridge}: ${(err as Error).message}`);
  }
}

export async function setForwarding(): Promise<void> {
  const now = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '1')).trim();
  if (now !== '1') await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
}
