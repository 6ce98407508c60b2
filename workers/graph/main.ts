/**
 * The graph actor: owns the graph driver (layers, root filesystems), the layer, image and
 * reference stores, and the piscina pool that does their CPU-bound work. init_graphdriver is
 * replayed after a crash: it reopens the stores from disk and finishes what a crash
 * interrupted. Image jobs are thin: each calls its verb in images/.
 */
import { runActor, type Handlers } from '../../src/actor/runtime.js';
import { SystemError, UnavailableError } from '../../src/errdefs/errors.js';
import { mkdirs } from '../../src/fs/mkdirs.js';
import { join } from 'node:path';
import type { GraphDriver } from './driver.js';
import { chooseDriver } from './drivers/index.js';
import { createPool, type TaskPool } from './pool.js';
import { ImageService } from './images/service.js';
import { listImages } from './images/list.js';
import { imageHistory, inspectImage } from './images/inspect.js';
import { tagImage } from './images/tag.js';
import { removeImage } from './images/remove.js';
import { imageUsage, pruneImages } from './images/prune.js';
import { importImage } from './images/importImage.js';
import { loadImages } from './images/load.js';
import { saveImages } from './images/save.js';
import { commitImage } from './images/commit.js';
import { Rootfs } from './rootfs.js';
import { dirSize, prefillVolume, setVolumeLog } from './volumes.js';
import { archiveGet, archiveStat } from './archive/get.js';
import { archivePut } from './archive/put.js';
import { setRegistrySettings, registrySettings } from './distribution/settings.js';
import { transport } from './distribution/session.js';
import { registryLogin } from './distribution/login.js';
import { searchRegistry } from './distribution/search.js';
import { Distribution } from './distribution/registry.js';
import { pullImage } from './distribution/pull.js';
import { pushImage } from './distribution/push.js';
import { distributionInspect } from './distribution/inspect.js';

let driver: GraphDriver | null = null;
let pool: TaskPool | null = null;
let service: ImageService | null = null;
let dist: Distribution | null = null;

/** The registry client (transport, v2 metadata), made on first use. */
async function distribution(): Promise<Distribution> {
  if (!dist) {
    const s = images();
    const { createTransport } = await import('./distribution/transport.js');
    dist = new Distribution(createTransport(), s.dataRoot, s.driver.name);
  }
  return dist;
}

function images(): ImageService {
  if (!service) throw new UnavailableError('the image store is not open yet');
  return service;
}

let rootfsStore: Rootfs | null = null;
function rootfs(): Rootfs {
  if (!rootfsStore) throw new UnavailableError('the graph driver is not initialised yet');
  return rootfsStore;
}

const handlers: Handlers<'graph'> = {
  init_graphdriver: async ({ dataRoot, driver: requested, options }, ctx) => {
    const d = await chooseDriver(requested, dataRoot);
    await d.init(join(dataRoot, d.name), options);
    await mkdirs(join(dataRoot, 'image', d.name), 0o700);
    pool ??= createPool();
    service = await ImageService.open(dataRoot, d, pool, ctx.engine, ctx.log);
    rootfsStore = new Rootfs(service, d, join(dataRoot, 'image', d.name, 'layerdb'));
    driver = d;
    dist = null;
    return { ...(await d.status()), images: service.images.list().length };
  },
  graph_status: async () => {
    if (!driver) throw new UnavailableError('the graph driver is not initialised yet');
    return { ...(await driver.status()), images: images().images.list().length };
  },
  image_list: async (args) => listImages(images(), args),
  image_inspect: async ({ name }) => inspectImage(images(), name),
  image_history: async ({ name }) => imageHistory(images(), name),
  image_tag: async ({ name, repo, tag }) => tagImage(images(), name, repo, tag),
  image_delete: async ({ name, force, noprune }) => (await removeImage(images(), name, force, !noprune)).items,
  image_prune: async ({ filters }) => pruneImages(images(), filters),
  image_df: async () => imageUsage(images()),
  image_import: async (args, ctx) => importImage(images(), args, ctx),
  image_load: async ({ quiet }, ctx) => loadImages(images(), quiet, ctx),
  image_save: async ({ names }, ctx) => saveImages(images(), names, ctx),
  image_resolve: async ({ name }) => {
    const img = images().resolve(name);
    return { id: img.id, config: (img.config.config ?? {}) as Record<string, unknown> };
  },
  // docker cp: paths resolved through fds inside the container's root (archive/containerfs.ts).
  archive_stat: async (args) => archiveStat(args),
  archive_get: async (args, ctx) => archiveGet(args, ctx),
  archive_put: async (args, ctx) => archivePut(args, ctx),
  rootfs_create: async ({ id, image }) => rootfs().create(id, image),
  rootfs_mount: async ({ id }) => rootfs().mount(id),
  rootfs_unmount: async ({ id }) => rootfs().unmount(id),
  rootfs_remove: async ({ id }) => rootfs().remove(id),
  rootfs_usage: async ({ id }) => rootfs().usage(id),
  volume_prefill: async ({ rootfs: root, destination, volumePath, inUseElsewhere }, ctx) => {
    setVolumeLog((msg) => ctx.log.warn(msg));
    await prefillVolume(root, destination, volumePath, inUseElsewhere);
  },
  volume_usage: async ({ paths }) => Promise.all(paths.map((p) => dirSize(p))),
  rootfs_changes: async ({ id }) => rootfs().changes(id),
  rootfs_export: async ({ id }, ctx) => {
    const { path } = await rootfs().mount(id);
    const out = ctx.takeStdout();
    if (!out) throw new SystemError('export needs an output stream');
    await images().pool.exportRoot({ out, root: path });
  },
  image_commit: async (args) => commitImage(images(), rootfs(), args),
  registry_settings: async (settings) => setRegistrySettings(settings),
  auth: async ({ auth }) => registryLogin(transport, registrySettings(), auth ?? {}),
  search: async (args, ctx) => searchRegistry(args, registrySettings(), ctx.signal),
  image_pull: async (args, ctx) => pullImage(images(), await distribution(), args, ctx),
  image_push: async (args, ctx) => pushImage(images(), await distribution(), args, ctx),
  distribution_inspect: async ({ name, auth }, ctx) => distributionInspect(await distribution(), name, auth, ctx.signal),
};

runActor('graph', {
  handlers,
  shutdown: async () => {
    await pool?.close();
    pool = null;
  },
  stats: () => ({ driver: driver?.name ?? null, pool: pool?.stats ?? null, images: service?.images.list().length ?? 0 }),
});
