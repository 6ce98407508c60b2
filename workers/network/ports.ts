/**
 * Published ports: what `-p` and `-P` ask for (HostConfig.PortBindings, ExposedPorts), the host
 * ports berth hands out (conflicts refused with dockerd's message, ephemeral ones from the
 * kernel's local port range), and the DNAT/ACCEPT/hairpin rules that make them reachable, from
 * other hosts and from the host's own loopback alike.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { ConflictError, InvalidParameterError, SystemError } from '../../src/errdefs/errors.js';
import type { PortBinding, PortMap } from '../../src/protocol/types/networks.js';

export interface PortRule {
  proto: 'tcp' | 'udp' | 'sctp';
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

/** parsePortKey reads "80/tcp" (the protocol defaults to tcp). */
export function parsePortKey(key: string): { port: number; proto: 'tcp' | 'udp' | 'sctp' } {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new InvalidParameterError(`invalid port specification: "${key}"`);
  return { port: Number(m[1]), proto: (m[2] ?? 'tcp') as 'tcp' | 'udp' | 'sctp' };
}

/** The kernel's ephemeral range (dockerd takes its published ports from it). */
async function localPortRange(): Promise<[number, number]> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '49153 60999');
  const [a, b] = text.trim().split(/\s+/).map(Number);
  return [a || 49153, b || 60999];
}

/** Whether something on the host already listens there (a port berth does not know of). */
function hostPortFree(proto: string, ip: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const addr = ip || '0.0.0.0';
    if (proto === 'udp') {
      const s = createSocket('udp4');
      s.once('error', (err) => resolve((err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'address already in use' : (err as Error).message));
      s.bind(port, addr, () => s.close(() => resolve(null)));
      return;
    }
    const srv = createServer();
    srv.once('error', (err) => resolve((err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'address already in use' : (err as Error).message));
    srv.listen({ port, host: addr, exclusive: true }, () => srv.close(() => resolve(null)));
  });
}

export class PortAllocator {
  /** "proto/ip/port" of every host port berth has handed out. */
  private readonly used = new Set<string>();
  /** Where the next ephemeral port search starts, per protocol (dockerd counts them apart). */
  private readonly next = new Map<string, number>();

  private key(proto: string, ip: string, port: number): string {
    return `${proto}/${ip || '0.0.0.0'}/${port}`;
  }

  /** Whether (proto, ip, port) collides with one in use: 0.0.0.0 collides with every address. */
  private taken(proto: string, ip: string, port: number): boolean {
    if (this.used.has(this.key(proto, ip, port))) return true;
    if (!ip || ip === '0.0.0.0') return [...this.used].some((k) => k.startsWith(`${proto}/`) && k.endsWith(`/${port}`));
    return this.used.has(this.key(proto, '0.0.0.0', port));
  }

  /** restore marks the ports of endpoints berth finds at start-up. */
  restore(rules: PortRule[]): void {
    for (const r of rules) this.used.add(this.key(r.proto, r.hostIp, r.hostPort));
  }

  release(rules: PortRule[]): void {
    for (const r of rules) this.used.delete(this.key(r.proto, r.hostIp, r.hostPort));
  }

  /**
   * allocate turns the requested bindings (and, with -P, every exposed port) into rules with
   * their host ports; all or nothing.
   */
  async allocate(bindings: PortMap, exposed: string[], publishAll: boolean, defaultIp: string): Promise<{ rules: PortRule[]; ports: PortMap }> {
    const wanted = new Map<string, PortBinding[]>();
    for (const [key, list] of Object.entries(bindings ?? {})) if (list && list.length) wanted.set(key, list);
    if (publishAll) for (const key of exposed) if (!wanted.has(key)) wanted.set(key, [{ HostIp: '', HostPort: '' }]);
    const rules: PortRule[] = [];
    const ports: PortMap = {};
    for (const key of exposed) ports[normalizeKey(key)] = null;
    try {
      for (const [key, list] of wanted) {
        const { port, proto } = parsePortKey(key);
        const out: PortBinding[] = [];
        for (const b of list) {
          const ip = b.HostIp || (defaultIp === '0.0.0.0' ? '' : defaultIp);
          const range = /^(\d+)-(\d+)$/.exec(b.HostPort ?? '');
          let hostPort: number;
          if (!b.HostPort) hostPort = await this.ephemeral(proto, ip);
          else if (range) hostPort = await this.fromRange(proto, ip, Number(range[1]), Number(range[2]));
          else {
            hostPort = Number(b.HostPort);
            if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535) throw new InvalidParameterError(`invalid port specification: "${b.HostPort}"`);
            await this.claim(proto, ip, hostPort);
          }
          const rule = { proto, hostIp: ip, hostPort, containerPort: port };
          rules.push(rule);
          out.push({ HostIp: ip || '0.0.0.0', HostPort: String(hostPort) });
        }
        ports[`${port}/${proto}`] = out;
      }
    } catch (err) {
      this.release(rules);
      throw err;
    }
    return { rules, ports };
  }

  /** claim takes one host port, or says who has it, in dockerd's words. */
  private async claim(proto: string, ip: string, port: number): Promise<void> {
    if (this.taken(proto, ip, port)) throw new ConflictError(`Bind for ${ip || '0.0.0.0'}:${port} failed: port is already allocated`);
    const busy = await hostPortFree(proto, ip, port);
    if (busy) throw new SystemError(`Error starting userland proxy: listen ${proto}4 ${ip || '0.0.0.0'}:${port}: bind: ${busy}`);
    this.used.add(this.key(proto, ip, port));
  }

  private async fromRange(proto: string, ip: string, lo: number, hi: number): Promise<number> {
    for (let p = lo; p <= hi; p++) {
      if (this.taken(proto, ip, p) || (await hostPortFree(proto, ip, p))) continue;
      this.used.add(this.key(proto, ip, p));
      return p;
    }
    throw new ConflictError(`Bind for ${ip || '0.0.0.0'}:${lo}-${hi} failed: port is already allocated`);
  }

  private async ephemeral(proto: string, ip: string): Promise<number> {
    const [lo, hi] = await localPortRange();
    const span = hi - lo + 1;
    const start = this.next.get(proto) ?? 0;
    for (let i = 0; i < span; i++) {
      const p = lo + ((start + i) % span);
      if (this.taken(proto, ip, p) || (await hostPortFree(proto, ip, p))) continue;
      this.next.set(proto, p - lo + 1);
      this.used.add(this.key(proto, ip, p));
      return p;
    }
    throw new SystemError('no free host port in the ephemeral range');
  }
}

export function normalizeKey(key: string): string {
  const { port, proto } = parsePortKey(key);
  return `${port}/${proto}`;
}

/** The nat and filter rules of one published port of a container at `ip` on `bridge`. */
export function portRules(r: PortRule, ip: string, bridge: string): { nat: string[]; filter: string[] } {
  const dst = r.hostIp && r.hostIp !== '0.0.0.0' ? ` -d ${r.hostIp}/32` : '';
  return {
    nat: [
      // No `! -i bridge` (dockerd's with --userland-proxy=false): containers reach published
      // ports on the host's addresses too, with no proxy process to carry them.
      `-A BERTH${dst} -p ${r.proto} -m ${r.proto} --dport ${r.hostPort} -j DNAT --to-destination ${ip}:${r.containerPort}`,
      // Hairpin: the container reaching itself through its published port.
      `-A BERTH-POSTROUTING -s ${ip}/32 -d ${ip}/32 -p ${r.proto} -m ${r.proto} --dport ${r.containerPort} -j MASQUERADE`,
    ],
    filter: [`-A BERTH -d ${ip}/32 ! -i ${bridge} -o ${bridge} -p ${r.proto} -m ${r.proto} --dport ${r.containerPort} -j ACCEPT`],
  };
}
