/**
 * The daemon's registry settings, held by the graph actor: the daemon sends them with the
 * graph job `registry_settings` at start-up and again on SIGHUP (dockerd reloads mirrors and
 * insecure registries); the job is replayed on a restarted graph actor, so they survive a
 * crash. Pull, push, login and search read them here: their jobs do not carry them.
 */
import { DEFAULT_CERTS_DIR } from './hosts.js';
import type { RegistrySettings } from './transport.js';

let current: RegistrySettings = { mirrors: [], insecure: [], certsDir: DEFAULT_CERTS_DIR };

export function registrySettings(): RegistrySettings {
  return current;
}

export function setRegistrySettings(s: RegistrySettings): void {
  current = { mirrors: [...s.mirrors], insecure: [...s.insecure], certsDir: s.certsDir || DEFAULT_CERTS_DIR };
}
