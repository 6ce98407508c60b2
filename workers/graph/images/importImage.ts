/**
 * POST /images/create?fromSrc=- (docker import): the request body is one layer, compressed or
 * not; the image config is written as dockerd's (config.ts), with the `changes` applied and the
 * message as comment. Everything is checked before the body is read; the answer is one status
 * line with the new image's ID.
 */
import type { JobContext } from '../../../src/actor/runtime.js';
import { InvalidParameterError, SystemError } from '../../../src/errdefs/errors.js';
import type { ImportArgs } from '../../../src/protocol/types/images.js';
import { nowRfc3339Nano } from '../../../src/protocol/time.js';
import { buildInfo, goArch } from '../../../src/build/info.js';
import { isValidTag, parseNormalized, type Reference } from '../reference.js';
import type { ImageConfig } from '../store/images.js';
import { applyChanges, containerConfig, marshalConfig } from './config.js';
import { Progress } from '../progress.js';
import type { ImageService } from './service.js';

/** os reads the platform parameter: only linux images can be made here. */
function platformOS(platform: string): string {
  if (!platform) return 'linux';
  const parts = platform.split('/');
  if (parts.length > 3 || parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw new InvalidParameterError(`"${platform}": cannot parse platform specifier: invalid argument`);
  }
  if (parts[0]!.toLowerCase() !== 'linux') throw new InvalidParameterError('operating system is not supported');
  return 'linux';
}

export async function importImage(s: ImageService, args: ImportArgs, ctx: JobContext): Promise<{ id: string }> {
  let ref: Reference | null = null;
  if (args.repo) {
    ref = parseNormalized(args.repo);
    if (ref.digest) throw new InvalidParameterError('cannot import digest reference');
    if (args.tag) {
      if (!isValidTag(args.tag)) throw new InvalidParameterError('invalid tag format');
      ref = { name: ref.name, tag: args.tag };
    }
    ref.tag ??= 'latest';
  }
  const os = platformOS(args.platform);
  const config = applyChanges({}, args.changes);
  const port = ctx.takeStdin();
  if (!port) throw new SystemError('import needs a request body');

  let diffID: string;
  try {
    const maxBytes = await s.spaceLeft();
    const { layer } = await s.layers.register(null, (dir) => s.pool.apply({ source: { port }, root: dir, format: s.driver.format, maxBytes }));
    diffID = layer.diffID;
  } catch (err) {
    throw new SystemError(`Error processing tar file: ${(err as Error).message}`);
  }
  const created = nowRfc3339Nano();
  const comment = args.message || 'Imported from -';
  const cfg: ImageConfig = {
    architecture: goArch(),
    comment,
    config: containerConfig(config),
    container_config: containerConfig(null) as Record<string, unknown>,
    created,
    docker_version: buildInfo().version,
    history: [{ created, comment }],
    os,
    rootfs: { type: 'layers', diff_ids: [diffID] },
  };
  const { image } = await s.images.create(marshalConfig(cfg), true);
  if (ref) await s.tag(image, ref);
  await s.images.settle(image.id);
  await s.event('import', image, image.id);
  await new Progress(ctx.stdout).status(image.id);
  return { id: image.id };
}
