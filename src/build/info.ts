/** What this berthd was built from (dist/build-info.json, written by scripts/postbuild.mjs). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native/native.js';

export interface BuildInfo {
  version: string;
  commit: string;
  /** ISO 8601. */
  buildTime: string;
}

let cached: BuildInfo | null = null;

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  try {
    cached = JSON.parse(readFileSync(join(packageRoot(), 'dist', 'build-info.json'), 'utf8')) as BuildInfo;
  } catch {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    cached = { version: pkg.version, commit: 'unknown', buildTime: new Date(0).toISOString() };
  }
  return cached;
}

/** goArch names the CPU as Go (and the Engine API) do. */
export function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

/** buildTimeGo formats the build time as dockerd's /version does: 2026-05-07T21:09:36.000000000+00:00. */
export function buildTimeGo(iso: string): string {
  const d = new Date(iso);
  const ns = String(d.getUTCMilliseconds() * 1_000_000).padStart(9, '0');
  return `${d.toISOString().slice(0, 19)}.${ns}+00:00`;
}
