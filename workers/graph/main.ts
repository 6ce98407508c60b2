/**
 * The graph actor: owns the graph driver (layers, image store, root filesystems) and the
 * piscina pool for hashing and decompression. It serves init_graphdriver and graph_status now;
 * layer and image jobs arrive with #3.
 */
import { mkdirs } from '../../src/fs/mkdirs.js';
import { join } from 'node:path';
import { runActor, type Handlers } from '../../src/actor/runtime.js';
import { UnavailableError } from '../../src/errdefs/errors.js';
import type { GraphDriver } from './driver.js';
import { chooseDriver } from './drivers/index.js';
import { createPool, type TaskPool } from './pool.js';

let driver: GraphDriver | null = null;
let pool: TaskPool | null = null;

const handlers: Handlers<'graph'> = {
  init_graphdriver: async ({ dataRoot, driver: requested, options }) => {
    const d = await chooseDriver(requested, dataRoot);
    await d.init(join(dataRoot, d.name), options);
    await mkdirs(join(dataRoot, 'image', d.name), 0o700);
    driver = d;
    pool ??= createPool();
    return d.status();
  },
  graph_status: async () => {
    if (!driver) throw new UnavailableError('the graph driver is not initialised yet');
    return driver.status();
  },
};

runActor('graph', {
  handlers,
  shutdown: async () => {
    await pool?.close();
    pool = null;
  },
  stats: () => ({ driver: driver?.name ?? null, pool: pool?.stats ?? null }),
});
