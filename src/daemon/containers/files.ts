/**
 * The files dockerd writes for each container and bind-mounts over /etc: hostname, hosts and
 * resolv.conf, in <data-root>/containers/<id>/. resolv.conf follows libnetwork's rules: the
 * host's, without loopback nameservers (they mean nothing in another network namespace), with
 * Google's public servers if none is left, and --dns/--dns-search/--dns-option replacing
 * their parts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const HOSTS_DEFAULT = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

export interface NetFilesInput {
  dir: string;
  hostname: string;
  domainname: string;
  networkMode: string;
  /** The container's addresses on its networks (the first is its own line in hosts). */
  addresses: string[];
  /** On a user-defined network: resolv.conf points at the embedded server, 127.0.0.11. */
  embeddedDns: boolean;
  extraHosts: string[];
  /** What --add-host's "host-gateway" stands for (the default bridge's address). */
  hostGateway: string;
  /** Lines for legacy --link targets ("IP\talias id name"), before the container's own. */
  linkHosts: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
}

export interface NetFiles {
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
}

/** hostResolvConf is the host's resolver configuration (systemd-resolved's upstream file when the stub is in use). */
async function hostResolvConf(): Promise<string> {
  const main = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  if (/^\s*nameserver\s+127\.0\.0\.53\s*$/m.test(main)) {
    const upstream = await readFile('/run/systemd/resolve/resolv.conf', 'utf8').catch(() => '');
    if (upstream) return upstream;
  }
  return main;
}

export function resolvConf(base: string, o: { dns: string[]; dnsSearch: string[]; dnsOptions: string[]; keepLoopback: boolean }): string {
  const lines = base.split('\n');
  let nameservers = lines.map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((x): x is string => Boolean(x));
  if (!o.keepLoopback) nameservers = nameservers.filter((ns) => !/^127\./.test(ns) && ns !== '::1');
  if (o.dns.length) nameservers = o.dns;
  if (nameservers.length === 0) nameservers = ['8.8.8.8', '8.8.4.4'];
  const search = o.dnsSearch.length ? o.dnsSearch : lines.flatMap((l) => /^\s*(?:search|domain)\s+(.*)$/.exec(l)?.[1]?.trim().split(/\s+/) ?? []);
  const options = o.dnsOptions.length ? o.dnsOptions : lines.flatMap((l) => /^\s*options\s+(.*)$/.exec(l)?.[1]?.trim().split(/\s+/) ?? []);
  // dockerd's order: search, nameservers, options.
  const out: string[] = [];
  if (search.length && !(search.length === 1 && search[0] === '.')) out.push(`search ${search.join(' ')}`);
  out.push(...nameservers.map((ns) => `nameserver ${ns}`));
  if (options.length) out.push(`options ${options.join(' ')}`);
  return out.join('\n') + '\n';
}

/** writeNetFiles (re)writes the three files for a start; --network host gets the host's own. */
export async function writeNetFiles(i: NetFilesInput): Promise<NetFiles> {
  const files: NetFiles = {
    hostnamePath: join(i.dir, 'hostname'),
    hostsPath: join(i.dir, 'hosts'),
    resolvConfPath: join(i.dir, 'resolv.conf'),
  };
  const host = i.networkMode === 'host';
  await writeInPlace(files.hostnamePath, `${i.hostname}\n`);
  let hosts: string[];
  if (host) hosts = (await readFile('/etc/hosts', 'utf8').catch(() => HOSTS_DEFAULT.join('\n'))).trimEnd().split('\n');
  else hosts = [...HOSTS_DEFAULT];
  for (const h of i.extraHosts) {
    const at = h.indexOf(':');
    const ip = h.slice(at + 1);
    hosts.push(`${ip === 'host-gateway' ? i.hostGateway : ip}\t${h.slice(0, at)}`);
  }
  hosts.push(...i.linkHosts);
  // The container's own name, at each of its addresses (dockerd: hostname.domainname first).
  if (!host) for (const a of i.addresses) hosts.push(`${a}\t${i.domainname ? `${i.hostname}.${i.domainname} ` : ''}${i.hostname}`);
  await writeInPlace(files.hostsPath, hosts.join('\n') + '\n');
  const base = await hostResolvConf();
  let text = resolvConf(base, { dns: i.dns, dnsSearch: i.dnsSearch, dnsOptions: i.dnsOptions, keepLoopback: host });
  if (i.embeddedDns) {
    // As dockerd 20.10: the embedded server (which forwards to the servers above), the search
    // domains, and ndots:0 unless an ndots option was given.
    const lines = text.split('\n');
    const search = lines.filter((l) => l.startsWith('search '));
    const options = lines.find((l) => l.startsWith('options '))?.slice(8).split(' ') ?? [];
    if (!options.some((o) => o.startsWith('ndots:'))) options.push('ndots:0');
    text = [...search, 'nameserver 127.0.0.11', `options ${options.join(' ')}`, ''].join('\n');
  }
  await writeInPlace(files.resolvConfPath, text);
  return files;
}

/**
 * writeInPlace rewrites a file keeping its inode: a running container sees these files through
 * bind mounts of the inodes, so a connect must change them, not replace them.
 */
async function writeInPlace(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o644 });
}
