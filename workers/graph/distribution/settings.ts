/**
 * The daemon's registry settings, held by the graph actor: the daemon sends them with the
 * graph job `registry_settings` at start-up and again on SIGHUP (dockerd reloads mirrors and
 * insecure registries); the job is replayed on a restarted graph actor, so they survive a
 * crash. Pull, push, login and search read them here: their jobs do not carry them.
 * They include --max-concurrent-downloads / --max-concurrent-uploads (dockerd reloads those too).
 */
import { DEFAULT_CERTS_DIR } from './hosts.js';
import type { RegistrySettings } from './transport.js';

let current: RegistrySettings = { mirrors: [], insecure: [], certsDir: DEFAULT_CERTS_DIR };

export function registrySettings(): RegistrySettings {
  return current;
}

export function setRegistrySettings(s: RegistrySettings): void {
  current = {
    mirrors: [...s.mirrors],
    insecure: [...s.insecure],
    certsDir: s.certsDir || DEFAULT_CERTS_DIR,
    maxConcurrentDownloads: s.maxConcurrentDownloads,
    maxConcurrentUploads: s.maxConcurrentUploads,
    timeoutMs: s.timeoutMs,
  };
}

/** How many layers a pull downloads at once: --max-concurrent-downloads (3; 0 = no limit). */
export function maxConcurrentDownloads(): number {
  const n = current.maxConcurrentDownloads ?? 3;
  return n > 0 ? n : Infinity;
}

/** How many layers a push uploads at once: --max-concurrent-uploads (5; 0 = no limit). */
export function maxConcurrentUploads(): number {
  const n = current.maxConcurrentUploads ?? 5;
  return n > 0 ? n : Infinity;
}

/** idleTimeout is a request's idle timeout, capped by the daemon's BERTH_REGISTRY_TIMEOUT_MS when set. */
export function idleTimeout(ms: number): number {
  const cap = current.timeoutMs ?? 0;
  return cap > 0 && (ms <= 0 || ms > cap) ? cap : ms;
}
