/**
 * Handlers of the volume area (moby's router/volume): thin, the daemon's volume store does the
 * work (volume_* jobs).
 */
import { boolValue, expectObject, readJson, writeJson, type RouteContext } from '../../httputils.js';

export interface VolumeRouteDeps {
  maxJsonBody: number;
}

export async function getVolumesList(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('volume_list', { filters: ctx.query.get('filters') ?? undefined }, { signal: ctx.signal }));
}

export async function getVolumeByName(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('volume_inspect', { name: ctx.vars.name! }, { signal: ctx.signal }));
}

export function postVolumesCreate(deps: VolumeRouteDeps) {
  return async (ctx: RouteContext): Promise<void> => {
    const body = await readJson(ctx.req, deps.maxJsonBody);
    const doc = body === undefined || body === null ? null : expectObject(body, 'the volume configuration');
    writeJson(ctx.res, 201, await ctx.engine.job('volume_create', { body: doc }));
  };
}

export async function deleteVolumes(ctx: RouteContext): Promise<void> {
  await ctx.engine.job('volume_remove', { name: ctx.vars.name!, force: boolValue(ctx.query, 'force') });
  ctx.res.writeHead(204).end();
}

export async function postVolumesPrune(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('volume_prune', { filters: ctx.query.get('filters') ?? undefined }));
}
