/**
 * The Engine API version berth speaks: up to 1.41 (dockerd 20.10), and /vX.Y/ prefixes down to
 * 1.24, the floor dockerd 25–28 use by default.
 */
export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';

/** compareVersions compares dotted versions numerically: -1, 0 or 1 (moby's versions.compare). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number.parseInt(pa[i] ?? '0', 10) || 0;
    const y = Number.parseInt(pb[i] ?? '0', 10) || 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
