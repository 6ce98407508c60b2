/**
 * IPv4 arithmetic for IPAM: CIDRs as [base, prefix] over 32-bit integers, containment and
 * overlap, and the MAC dockerd derives from an address (02:42 then the four bytes).
 */
import { InvalidParameterError } from '../../src/errdefs/errors.js';

export interface Cidr {
  /** The network address, as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
}

export function ipToInt(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** parseCidr reads "10.1.0.0/16" (or "10.1.0.5/16": the host part is kept in `ip`). */
export function parseCidr(text: string): (Cidr & { ip: number }) | null {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) return null;
  const ip = ipToInt(m[1]!);
  const prefix = Number(m[2]);
  if (ip === null || prefix > 32) return null;
  return { base: (ip & mask(prefix)) >>> 0, prefix, ip };
}

export function cidrText(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** mustCidr is parseCidr for user input: a bad one is dockerd's 400. */
export function mustCidr(text: string, what: string): Cidr & { ip: number } {
  const c = parseCidr(text);
  if (!c) throw new InvalidParameterError(`invalid ${what}: ${text}`);
  return c;
}

/** macFor is dockerd's generated MAC: 02:42 and the IPv4 address's four bytes. */
export function macFor(ip: number): string {
  const bytes = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The pools dockerd picks a bridge's subnet from when none is given (its default address
 * pools): 172.17–31.0.0/16, then 192.168.0.0/20 … 192.168.240.0/20.
 */
export function defaultPools(): Cidr[] {
  const out: Cidr[] = [];
  for (let b = 17; b <= 31; b++) out.push({ base: ipToInt(`172.${b}.0.0`)!, prefix: 16 });
  for (let c = 0; c < 256; c += 16) out.push({ base: ipToInt(`192.168.${c}.0`)!, prefix: 20 });
  return out;
}
