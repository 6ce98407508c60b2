/**
 * The registry routes of the image area (moby's router/image and router/distribution): docker
 * pull (POST /images/create?fromImage=), docker push, GET /distribution/{name}/json. Thin: the
 * graph actor's jobs do the work; the progress stream is piped as dockerd's JSON messages (an
 * error before the stream begins is an HTTP error, after it an errorDetail line).
 */
import type { RegistryAuth } from '../../../../src/protocol/types/distribution.js';
import { writeJson, type RouteContext } from '../../httputils.js';
import { authConfigFrom, registryAuthOf } from '../../registryAuth.js';
import { bodyChunks, pipeJsonMessages } from '../../stream.js';
import { InvalidParameterError } from '../../../../src/errdefs/errors.js';

/** X-Registry-Auth as dockerd reads it for pull, push and /distribution: unreadable means anonymous. */
const registryAuth = (ctx: RouteContext): RegistryAuth | null => registryAuthOf(ctx.req.headers);

/**
 * begun waits for the job's stream to start (200 and the stream) or to fail before its first
 * line (an HTTP error). It waits on the stream's own frames, not on a race with the job's reply:
 * the reply comes by another channel and can overtake the stream's first frames, which turned
 * an error after "Pulling from" (no matching manifest …) into an HTTP 404 now and then.
 */
async function begun(output: { begun: Promise<boolean> }, done: Promise<unknown>): Promise<void> {
  try {
    await output.begun;
  } catch (err) {
    await done; // the job's own error (the stream carried the same one)
    throw err;
  }
}

/** POST /images/create?fromImage=&tag=&platform= (docker pull). */
export async function postImagesCreatePull(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  const { output, done } = ctx.engine.stream(
    'image_pull',
    { image: q.get('fromImage') ?? '', tag: q.get('tag') ?? '', platform: q.get('platform') ?? '', auth: registryAuth(ctx) },
    { signal: ctx.signal },
  );
  await begun(output, done);
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
  await begun(output, done);
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  await pipeJsonMessages(ctx, output, done);
}

/** GET /distribution/{name}/json */
export async function getDistributionInfo(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('distribution_inspect', { name: ctx.vars.name ?? '', auth: registryAuth(ctx) }, { signal: ctx.signal }));
}
