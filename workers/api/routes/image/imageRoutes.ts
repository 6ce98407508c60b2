/**
 * Handlers of the image area (moby's router/image): parse the request, run the graph actor's
 * job, write the answer. Uploads (import, load) stream the request body into the job; the
 * archive of a save streams out of it.
 */
import { InvalidParameterError, NotImplementedError } from '../../../../src/errdefs/errors.js';
import { boolValue, writeJson, type RouteContext } from '../../httputils.js';
import { bodyChunks, pipeJsonMessages, pipeToResponse, streamBegun } from '../../stream.js';
import { postImagesCreatePull } from './distributionRoutes.js';

export async function getImagesJSON(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  const list = await ctx.engine.job('image_list', { all: boolValue(q, 'all'), digests: boolValue(q, 'digests'), filters: q.get('filters') ?? undefined }, { signal: ctx.signal });
  writeJson(ctx.res, 200, list);
}

export async function getImagesByName(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('image_inspect', { name: ctx.vars.name! }, { signal: ctx.signal }));
}

export async function getImagesHistory(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('image_history', { name: ctx.vars.name! }, { signal: ctx.signal }));
}

export async function postImagesTag(ctx: RouteContext): Promise<void> {
  await ctx.engine.job('image_tag', { name: ctx.vars.name!, repo: ctx.query.get('repo') ?? '', tag: ctx.query.get('tag') ?? '' });
  // dockerd: 201, no body, no Content-Type.
  ctx.res.writeHead(201, { 'Content-Length': 0 }).end();
}

export async function deleteImages(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  writeJson(ctx.res, 200, await ctx.engine.job('image_delete', { name: ctx.vars.name ?? '', force: boolValue(q, 'force'), noprune: boolValue(q, 'noprune') }));
}

export async function postImagesPrune(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('image_prune', { filters: ctx.query.get('filters') ?? undefined }));
}

/** POST /images/create: a pull (fromImage, distributionRoutes.ts), or an import from the request body. */
export async function postImagesCreate(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  const fromSrc = q.get('fromSrc');
  if (q.get('fromImage')) return postImagesCreatePull(ctx);
  if (fromSrc === null) throw new InvalidParameterError('either fromImage (pull) or fromSrc (import) is required');
  if (fromSrc !== '-') throw new NotImplementedError('berth imports from the request body (fromSrc=-) only; importing from a URL is not implemented yet');
  const { output, done } = ctx.engine.stream(
    'image_import',
    { repo: q.get('repo') ?? '', tag: q.get('tag') ?? '', message: q.get('message') ?? '', changes: q.getAll('changes'), platform: q.get('platform') ?? '' },
    { signal: ctx.signal, stdin: bodyChunks(ctx.req) },
  );
  await streamBegun(output, done);
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  await pipeJsonMessages(ctx, output, done);
}

export async function postImagesLoad(ctx: RouteContext): Promise<void> {
  // A missing quiet means quiet, as in dockerd.
  const quiet = ctx.query.has('quiet') ? boolValue(ctx.query, 'quiet') : true;
  const { output, done } = ctx.engine.stream('image_load', { quiet }, { signal: ctx.signal, stdin: bodyChunks(ctx.req) });
  await streamBegun(output, done);
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  await pipeJsonMessages(ctx, output, done);
}

async function save(ctx: RouteContext, names: string[]): Promise<void> {
  const { output, done } = ctx.engine.stream('image_save', { names }, { signal: ctx.signal });
  await streamBegun(output, done);
  ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  await pipeToResponse(ctx, output, done);
}

export async function getImagesGet(ctx: RouteContext): Promise<void> {
  await save(ctx, ctx.query.getAll('names'));
}

export async function getImagesGetByName(ctx: RouteContext): Promise<void> {
  await save(ctx, [ctx.vars.name!]);
}
