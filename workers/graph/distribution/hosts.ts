/**
 * Where to talk to a registry, as dockerd 20.10 decides (registry/service_v2.go, config.go,
 * registry.go):
 *
 *  - docker.io (and index.docker.io): every --registry-mirror first (mirror: true), then
 *    https://registry-1.docker.io with the system CAs.
 *  - any other host: https first; if the host is insecure, plain http after it. A host is
 *    insecure when it is named in --insecure-registry, or when one of its addresses (the name is
 *    resolved, as dockerd does) lies in 127.0.0.0/8, ::1 (berth adds it; dockerd 20.10 has only
 *    127.0.0.0/8) or an --insecure-registry CIDR.
 *  - TLS of a secure host: the system CAs plus <certsDir>/<host[:port]>/*.crt, and the client
 *    pair *.cert + *.key (a .cert without its .key, or a .key without its .cert, is dockerd's
 *    error). An insecure host's certificate is not verified and its certs dir is not read.
 */
import { lookup } from 'node:dns/promises';
import { readdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { InvalidParameterError, SystemError } from '../../../src/errdefs/errors.js';
import type { Endpoint, RegistrySettings } from './transport.js';

/** dockerd's default certs dir; the daemon passes its own (BERTH_REGISTRY_CERTS_DIR in tests). */
export const DEFAULT_CERTS_DIR = '/etc/docker/certs.d';
/** The name references use for Docker Hub. */
export const INDEX_NAME = 'docker.io';
export const INDEX_HOSTNAME = 'index.docker.io';
export const DEFAULT_V2_REGISTRY = 'https://registry-1.docker.io';
/** The v1 index (search on Docker Hub), dockerd's IndexServer. */
export const INDEX_SERVER = 'https://index.docker.io/v1/';

/** Always insecure (dockerd's default --insecure-registry 127.0.0.0/8; ::1 is berth's addition). */
const LOOPBACK_CIDRS = ['127.0.0.0/8', '::1/128'];

export function normalizeIndexName(name: string): string {
  return name === INDEX_HOSTNAME ? INDEX_NAME : name;
}

/** The host part of "host:port", "[v6]:port", "host" or a bare IPv6 address. */
export function hostOnly(hostPort: string): string {
  const v6 = /^\[([^\]]+)\](?::\d*)?$/.exec(hostPort);
  if (v6) return v6[1]!;
  if (isIP(hostPort) === 6) return hostPort;
  const i = hostPort.lastIndexOf(':');
  return i >= 0 ? hostPort.slice(0, i) : hostPort;
}

/** An address as a bigint in a 128-bit space (IPv4 in its v4-mapped form, as Go's To16). */
function ipToBig(ip: string): bigint | null {
  const kind = isIP(ip);
  if (kind === 4) return (0xffffn << 32n) | BigInt(ip.split('.').reduce((a, o) => a * 256 + Number(o), 0));
  if (kind !== 6) return null;
  let s = ip.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const v4 = dotted[1]!.split('.').map(Number);
    s = s.slice(0, -dotted[1]!.length) + `${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return null;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

/** Go's net.ParseCIDR + Contains, over both families (an IPv4 CIDR matches v4-mapped addresses). */
export function cidrMatch(cidr: string, ip: string): boolean {
  const m = /^(.+)\/(\d{1,3})$/.exec(cidr);
  if (!m) return false;
  const base = ipToBig(m[1]!);
  const addr = ipToBig(ip);
  if (base === null || addr === null) return false;
  const bits = Number(m[2]) + (isIP(m[1]!) === 4 ? 96 : 0);
  if (bits > 128) return false;
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(128 - bits);
  return (base & mask) === (addr & mask);
}

async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
}

/** dockerd's isSecureIndex: a named insecure registry, else no address in an insecure CIDR. */
export async function isSecureIndex(hostPort: string, settings: RegistrySettings): Promise<boolean> {
  const name = normalizeIndexName(hostPort);
  if (name === INDEX_NAME) return true;
  const cidrs = [...LOOPBACK_CIDRS];
  for (const entry of settings.insecure) {
    if (entry.includes('/') && !entry.includes('://')) cidrs.push(entry);
    else if (normalizeIndexName(entry.replace(/^https?:\/\//, '').replace(/\/+$/, '')) === name) return false;
  }
  const addrs = await addressesOf(hostOnly(name));
  return !addrs.some((a) => cidrs.some((c) => cidrMatch(c, a)));
}

/**
 * readCertsDirectory reads <dir>/*.crt (CAs, added to the system's), and the *.cert/*.key
 * client pairs, in name order as dockerd's ReadCertsDirectory. A missing directory is no error.
 */
export async function readCertsDirectory(dir: string): Promise<Endpoint['tls']> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return {};
    throw new SystemError(`open ${dir}: ${e.code === 'EACCES' ? 'permission denied' : e.code === 'ENOTDIR' ? 'not a directory' : e.message}`);
  }
  const tls: Endpoint['tls'] = {};
  for (const name of names) {
    if (name.endsWith('.crt')) {
      (tls.ca ??= []).push(await readFile(join(dir, name)));
    }
    if (name.endsWith('.cert')) {
      const keyName = `${name.slice(0, -'.cert'.length)}.key`;
      if (!names.includes(keyName)) {
        throw new InvalidParameterError(`missing key ${keyName} for client certificate ${name}. CA certificates must use the extension .crt`);
      }
      const cert = await readFile(join(dir, name));
      const key = await readFile(join(dir, keyName));
      try {
        createSecureContext({ cert, key });
      } catch (err) {
        throw new SystemError(`tls: failed to load the key pair ${join(dir, name)}, ${join(dir, keyName)}: ${(err as Error).message}`);
      }
      // Node presents one client certificate: the first pair (Go would pick by the server's CA list).
      if (!tls.cert) {
        tls.cert = cert;
        tls.key = key;
      }
    }
    if (name.endsWith('.key')) {
      const certName = `${name.slice(0, -'.key'.length)}.cert`;
      if (!names.includes(certName)) throw new InvalidParameterError(`missing client certificate ${certName} for key ${name}`);
    }
  }
  return tls;
}

/** The TLS settings of a host: its certs dir when secure (dockerd's newTLSConfig). */
export async function tlsFor(hostPort: string, secure: boolean, settings: RegistrySettings): Promise<Endpoint['tls']> {
  if (!secure || !settings.certsDir) return {};
  // dockerd's cleanPath: the host name never walks out of the certs dir.
  if (hostPort.includes('/') || hostPort === '..' || hostPort === '.') return {};
  return readCertsDirectory(join(settings.certsDir, hostPort));
}

/** endpointsFor lists where to reach `host` (a reference's registry name), in the order to try them. */
export async function endpointsFor(host: string, settings: RegistrySettings): Promise<Endpoint[]> {
  const name = normalizeIndexName(host);
  if (name === INDEX_NAME) {
    const out: Endpoint[] = [];
    for (const m of settings.mirrors) {
      const u = new URL(/^https?:\/\//.test(m) ? m : `https://${m}`);
      const secure = await isSecureIndex(u.host, settings);
      out.push({
        url: `${u.protocol}//${u.host}${u.pathname}`.replace(/\/+$/, ''),
        host: INDEX_NAME,
        mirror: true,
        insecure: !secure,
        tls: u.protocol === 'https:' ? await tlsFor(u.host, secure, settings) : {},
      });
    }
    out.push({ url: DEFAULT_V2_REGISTRY, host: INDEX_NAME, mirror: false, insecure: false, tls: {} });
    return out;
  }
  const secure = await isSecureIndex(name, settings);
  const out: Endpoint[] = [{ url: `https://${name}`, host: name, mirror: false, insecure: !secure, tls: await tlsFor(name, secure, settings) }];
  if (!secure) out.push({ url: `http://${name}`, host: name, mirror: false, insecure: true, tls: {} });
  return out;
}
