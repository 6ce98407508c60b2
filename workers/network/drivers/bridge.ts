/**
 * The bridge driver's status (the seed's bridge.InitDriver reports): the host's forwarding and
 * bridge-netfilter settings, as dockerd's `docker info` warnings. The bridges, addresses and
 * rules themselves are the NetworkManager's (manager.ts).
 * `-b none` disables container networking, as in the seed (DisableNetwork).
 */
import { readFile } from 'node:fs/promises';
import type { NetworkDriverConfig } from '../../../src/protocol/types/config.js';
import type { NetworkStatus } from '../../../src/protocol/types/system.js';
import type { NetworkDriver } from '../driver.js';

async function sysctl(path: string): Promise<boolean | null> {
  try {
    return (await readFile(path, 'utf8')).trim() === '1';
  } catch {
    return null; // absent: e.g. br_netfilter not loaded
  }
}

export class BridgeDriver implements NetworkDriver {
  readonly name = 'bridge';
  private config: NetworkDriverConfig | null = null;

  private bridge = '';

  async init(config: NetworkDriverConfig, bridge: string): Promise<NetworkStatus> {
    this.config = config;
    this.bridge = bridge;
    return this.status();
  }

  async status(): Promise<NetworkStatus> {
    const cfg = this.config;
    const forwarding = (await sysctl('/proc/sys/net/ipv4/ip_forward')) ?? false;
    const nf4 = await sysctl('/proc/sys/net/bridge/bridge-nf-call-iptables');
    const nf6 = await sysctl('/proc/sys/net/bridge/bridge-nf-call-ip6tables');
    const disabled = cfg?.bridge === 'none';
    const warnings: string[] = [];
    if (!disabled) {
      if (!forwarding && cfg && !cfg.ipForward) warnings.push('WARNING: IPv4 forwarding is disabled');
      if (nf4 !== true) warnings.push('WARNING: bridge-nf-call-iptables is disabled');
      if (nf6 !== true) warnings.push('WARNING: bridge-nf-call-ip6tables is disabled');
    }
    return {
      driver: this.name,
      bridge: disabled ? 'none' : this.bridge || cfg?.bridge || 'berth0',
      disabled,
      ipv4Forwarding: forwarding,
      bridgeNfIptables: nf4 === true,
      bridgeNfIp6tables: nf6 === true,
      warnings,
    };
  }
}
