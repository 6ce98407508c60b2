/**
 * DnsTable: the records of the embedded DNS server, kept by the network actor as containers
 * join and leave networks (dockerd keeps the same in each network's svcRecords).
 */
import { canonicalAddress } from './message.js';
import type { Addresses, DnsRecords } from './resolver.js';

/** One container's records on one network. */
export interface DnsEntry {
  /** The container's name first (PTR answers give it), then its aliases and other DNS names. */
  names: string[];
  ipv4: string[];
  ipv6: string[];
}

interface Stored {
  /** As given: a PTR answer keeps the container name's case, as dockerd's ipMap does. */
  names: string[];
  /** Lowercased, to compare without case (dockerd's svcMap keys are lowercased). */
  keys: string[];
  ipv4: string[];
  ipv6: string[];
}

/**
 * DnsTable is a DnsRecords keyed by network, then by endpoint (any key the actor likes, such
 * as the endpoint id). Addresses are kept canonical, so "fd00:0::2" and "fd00::2" are one.
 */
export class DnsTable implements DnsRecords {
  private readonly byNetwork = new Map<string, Map<string, Stored>>();

  set(network: string, key: string, entry: DnsEntry): void {
    let endpoints = this.byNetwork.get(network);
    if (!endpoints) {
      endpoints = new Map();
      this.byNetwork.set(network, endpoints);
    }
    endpoints.set(key, {
      names: [...entry.names],
      keys: entry.names.map((n) => n.toLowerCase()),
      ipv4: canonicalList(entry.ipv4),
      ipv6: canonicalList(entry.ipv6),
    });
  }

  delete(network: string, key: string): void {
    this.byNetwork.get(network)?.delete(key);
  }

  deleteNetwork(network: string): void {
    this.byNetwork.delete(network);
  }

  lookup(network: string, name: string): Addresses | null {
    let found = false;
    // Two containers can share a name (a network alias, say): all their addresses, once each.
    const ipv4 = new Set<string>();
    const ipv6 = new Set<string>();
    for (const entry of this.byNetwork.get(network)?.values() ?? []) {
      if (!entry.keys.includes(name)) continue;
      found = true;
      for (const a of entry.ipv4) ipv4.add(a);
      for (const a of entry.ipv6) ipv6.add(a);
    }
    return found ? { ipv4: [...ipv4], ipv6: [...ipv6] } : null;
  }

  reverse(network: string, address: string): string | null {
    // The first entry with the address wins, as the first element of dockerd's ipMap set does.
    for (const entry of this.byNetwork.get(network)?.values() ?? []) {
      const owns = entry.ipv4.includes(address) || entry.ipv6.includes(address);
      if (owns && entry.names.length > 0) return entry.names[0]!;
    }
    return null;
  }
}

function canonicalList(addresses: string[]): string[] {
  const out: string[] = [];
  for (const a of addresses) {
    const c = canonicalAddress(a);
    if (c !== null) out.push(c);
  }
  return out;
}
