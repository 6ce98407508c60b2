/**
 * The exec driver contract (the seed's execdriver).
 *
 * Today a driver finds its runtime and monitor binaries, checks the host's cgroups and reports
 * its status; the container operations (create, start, kill, wait, delete, state, exec,
 * resize) join this contract with the container issue (#4).
 */
import type { ExecDriverConfig } from '../../src/protocol/types/config.js';
import type { ExecStatus } from '../../src/protocol/types/system.js';

export interface ExecDriver {
  readonly name: string;
  init(config: ExecDriverConfig): Promise<ExecStatus>;
  status(): Promise<ExecStatus>;
}
