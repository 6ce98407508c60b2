/**
 * The registry routes of the image area (moby's router/image and router/distribution): docker
 * pull (POST /images/create?fromImage=), docker push, GET /distribution/{name}/json. Thin: the
 * graph actor's jobs do the work; the progress stream is piped as dockerd's JSON messages (an
 * error before the stream begins is an HTTP error, after it an errorDetail line).
 */
import type { RegistryAuth } from '../../../../src/protocol/types/distribution.js';
import { writeJson, type RouteContext } from '../../httputils.js';
import { authConfigFrom, registryAuthOf } from '../../registryAuth.js';
import { bodyChunks, pipeJsonMessages, streamBegun } from '../../stream.js';
import { InvalidParameterError } from '../../../../src/errdefs/errors.js';

/** X-Registry-Auth as dockerd reads it for pull, push and /distribution: unreadable means anonymous. */
const registryAuth = (ctx: RouteContext): RegistryAuth | null => registryAuthOf(ctx.req.headers);


/** POST /images/create?fromImage=&tag=&platform= (docker pull). */
export async function postImagesCreatePull(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  const { output, done } = ctx.engine.stream(
    'image_pull',
    { image: q.get('fromImage') ?? '', tag: q.get('tag') ?? '', platform: q.get('platform') ?? '', auth: registryAuth(ctx) },
    { signal: ctx.signal },
  );
  await streamBegun(output, done);
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  await pipeJsonMessages(ctx, output, done);
}

/**
 * pushAuth: X-Registry-Auth, or (the old API) the auth config as the JSON body; neither is
 * dockerd's 400 "Bad parameters and missing X-Registry-Auth: EOF".
 */
async function pushAuth(ctx: RouteContext): Promise<RegistryAuth | null> {
  if (ctx.req.headers['x-registry-auth']) return registryAuth(ctx);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of bodyChunks(ctx.req)) {
    chunks.push(c);
    n += c.length;
    if (n > 64 << 10) break;
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) throw new InvalidParameterError('Bad parameters and missing X-Registry-Auth: EOF');
  try {
    return authConfigFrom(JSON.parse(text));
  } catch (err) {
    throw new InvalidParameterError(`Bad parameters and missing X-Registry-Auth: ${(err as Error).message}`);
  }
}

/** POST /images/{name}/push?tag= */
export async function postImagesPush(ctx: RouteContext): Promise<void> {
  const auth = await pushAuth(ctx);
  const { output, done } = ctx.engine.stream('image_push', { name: ctx.vars.name ?? '', tag: ctx.query.get('tag') ?? '', auth }, { signal: ctx.signal });
  await streamBegun(output, done);
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  await pipeJsonMessages(ctx, output, done);
}

/** GET /distribution/{name}/json */
export async function getDistributionInfo(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('distribution_inspect', { name: ctx.vars.name ?? '', auth: registryAuth(ctx) }, { signal: ctx.signal }));
}
