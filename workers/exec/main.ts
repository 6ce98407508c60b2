/**
 * The exec actor: owns OCI bundles, runtime calls, container monitors, stdio and logs.
 * It serves init_execdriver and exec_status now; the container jobs arrive with #4.
 */
import { runActor, type Handlers } from '../../src/actor/runtime.js';
import { RuncDriver } from './drivers/runc.js';

const driver = new RuncDriver();

const handlers: Handlers<'exec'> = {
  init_execdriver: async (config) => driver.init(config),
  exec_status: async () => driver.status(),
};

runActor('exec', { handlers });
