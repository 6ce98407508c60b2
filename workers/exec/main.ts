/**
 * The exec actor: owns OCI bundles, runtime calls, container monitors, stdio and logs.
 */
import { runActor, type Handlers } from '../../src/actor/runtime.js';
import { RuncDriver } from './drivers/runc.js';

const driver = new RuncDriver();

const handlers: Handlers<'exec'> = {
  init_execdriver: async (config, ctx) => driver.init(config, ctx),
  exec_status: async () => driver.status(),
  exec_create: async ({ spec }) => driver.create(spec),
  exec_start: async ({ id }) => driver.start(id),
  exec_kill: async ({ id, signal }) => driver.kill(id, signal),
  exec_delete: async ({ id }) => driver.delete(id),
  exec_resize: async ({ id, height, width }) => driver.resize(id, height, width),
  exec_attach: async (args, ctx) => driver.attach(args, ctx),
  exec_logs: async (args, ctx) => driver.logs(args, ctx),
  exec_containers: async () => driver.list(),
  exec_process: async (args, ctx) => driver.exec(args, ctx),
  exec_process_resize: async ({ id, execId, height, width }) => driver.execResize(id, execId, height, width),
  exec_pause: async ({ id }) => driver.pause(id),
  exec_resume: async ({ id }) => driver.resume(id),
  exec_update: async ({ id, resources }) => driver.update(id, resources),
  exec_top: async ({ id, psArgs }) => driver.top(id, psArgs),
  exec_stats: async ({ id, pid, networks }) => driver.stats(id, pid, networks),
};

runActor('exec', { handlers });
