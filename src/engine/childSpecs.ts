/**
 * The actors berthd runs, as data (OTP child specs), in start order: the drivers first, the
 * API server last, so nothing is served by an actor whose peers are not up. Entries are the
 * compiled workers (dist/workers/<id>/main.js): Node 20 cannot start a .ts worker.
 */
import type { ChildSpec } from './actorHandle.js';

const entry = (id: string) => new URL(`../../workers/${id}/main.js`, import.meta.url);

export function childSpecs(): ChildSpec[] {
  return [
    { id: 'network', entry: entry('network'), restart: 'permanent', shutdownMs: 5_000, startMs: 10_000, resourceLimits: { maxOldGenerationSizeMb: 256 } },
    { id: 'graph', entry: entry('graph'), restart: 'permanent', shutdownMs: 10_000, startMs: 10_000, resourceLimits: { maxOldGenerationSizeMb: 1024 } },
    { id: 'exec', entry: entry('exec'), restart: 'permanent', shutdownMs: 5_000, startMs: 10_000, resourceLimits: { maxOldGenerationSizeMb: 512 } },
    { id: 'api', entry: entry('api'), restart: 'permanent', shutdownMs: 5_000, startMs: 10_000, resourceLimits: { maxOldGenerationSizeMb: 512 } },
  ];
}
