/**
 * pause, unpause, top, stats and update (moby's router/container: postContainersPause …,
 * getContainersTop, getContainersStats, postContainerUpdate): thin handlers over the daemon's jobs.
 */
import { InvalidParameterError } from '../../../../src/errdefs/errors.js';
import { boolValue, readJson, writeJson, type RouteContext } from '../../httputils.js';
import { pipeToResponse, streamBegun } from '../../stream.js';
import type { ContainerRouteDeps } from './containerRoutes.js';

export async function postContainersPause(ctx: RouteContext): Promise<void> {
  await ctx.engine.job('container_pause', { name: ctx.vars.name! });
  ctx.res.writeHead(204).end();
}

export async function postContainersUnpause(ctx: RouteContext): Promise<void> {
  await ctx.engine.job('container_unpause', { name: ctx.vars.name! });
  ctx.res.writeHead(204).end();
}

export async function getContainersTop(ctx: RouteContext): Promise<void> {
  const res = await ctx.engine.job('container_top', { name: ctx.vars.name!, psArgs: ctx.query.get('ps_args') ?? '' });
  // dockerd's key order: Processes first.
  writeJson(ctx.res, 200, { Processes: res.Processes, Titles: res.Titles });
}

export async function getContainersStats(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  const stream = q.has('stream') ? boolValue(q, 'stream') : true;
  const oneShot = boolValue(q, 'one-shot');
  if (oneShot && stream) throw new InvalidParameterError('cannot have stream=true and one-shot=true');
  const { output, done } = ctx.engine.stream('container_stats', { name: ctx.vars.name!, stream, oneShot }, { signal: ctx.signal });
  await streamBegun(output, done);
  if (!stream) {
    // One document, with its length (as dockerd sends it).
    const chunks: Buffer[] = [];
    for await (const c of output) chunks.push(Buffer.from(c));
    await done;
    const body = Buffer.concat(chunks);
    ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    ctx.res.end(body);
    return;
  }
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  ctx.res.flushHeaders();
  await pipeToResponse(ctx, output, done);
}

export function postContainerUpdate(deps: ContainerRouteDeps) {
  return async (ctx: RouteContext): Promise<void> => {
    const body = await readJson(ctx.req, deps.maxJsonBody);
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) throw new InvalidParameterError('the update must be a JSON object');
    const res = await ctx.engine.job('container_update', { name: ctx.vars.name!, body: (body ?? {}) as Record<string, unknown> });
    writeJson(ctx.res, 200, { Warnings: res.Warnings });
  };
}
