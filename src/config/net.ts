/** IPv4 CIDR arithmetic for --bip and --fixed-cidr (Node has isIP but no CIDR type). */
import { isIPv4 } from 'node:net';

export interface Cidr {
  /** The address as written (for --bip, the bridge's own address). */
  ip: number;
  prefix: number;
  /** The network address. */
  network: number;
}

export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** parseCidr reads "a.b.c.d/n"; null when it is not one (Go's net.ParseCIDR, IPv4 only). */
export function parseCidr(s: string): Cidr | null {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(s);
  if (!m || !isIPv4(m[1]!)) return null;
  const prefix = Number(m[2]);
  if (prefix > 32) return null;
  const ip = ipv4ToInt(m[1]!);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { ip, prefix, network: (ip & mask) >>> 0 };
}

/** contains says whether `inner` lies wholly inside `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (inner.prefix < outer.prefix) return false;
  const mask = outer.prefix === 0 ? 0 : (0xffffffff << (32 - outer.prefix)) >>> 0;
  return ((inner.network & mask) >>> 0) === outer.network;
}
