/** The `version` job: GET /version, with the fields the docker CLI prints. */
import { release } from 'node:os';
import { API_VERSION, MIN_API_VERSION } from '../protocol/api.js';
import type { ComponentVersion, ExecStatus, VersionInfo } from '../protocol/types/system.js';
import { buildInfo, buildTimeGo, goArch } from '../build/info.js';

export function versionInfo(exec: ExecStatus | null): VersionInfo {
  const b = buildInfo();
  const buildTime = buildTimeGo(b.buildTime);
  const common = {
    ApiVersion: API_VERSION,
    Arch: goArch(),
    BuildTime: buildTime,
    Experimental: 'false',
    GitCommit: b.commit,
    GoVersion: `node ${process.version}`,
    KernelVersion: release(),
    MinAPIVersion: MIN_API_VERSION,
    Os: 'linux',
  };
  const components: ComponentVersion[] = [{ Name: 'Engine', Version: b.version, Details: common }];
  // dockerd lists docker-init after runc (berth's monitor, conmon, comes last).
  for (const c of [exec?.runtimeVersion, exec?.initVersion, exec?.monitorVersion]) {
    if (c) components.push({ Name: c.name, Version: c.version, Details: { GitCommit: c.commit } });
  }
  return {
    Platform: { Name: 'berth' },
    Components: components,
    Version: b.version,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: b.commit,
    GoVersion: common.GoVersion,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: release(),
    BuildTime: buildTime,
  };
}
