/**
 * The registry routes of the image area (moby's router/image and router/distribution): docker
 * pull (POST /images/create?fromImage=), docker push, GET /distribution/{name}/json. Thin: the
 * graph actor's jobs do the work; the progress stream is piped as dockerd's JSON messages (an
 * error before the stream begins is an HTTP error, after it an errorDetail line).
 */
import type { RegistryAuth } from '../../../../src/protocol/types/distribution.js';
import { writeJson, type RouteContext } from '../../httputils.js';
import { bodyChunks, pipeJsonMessages } from '../../stream.js';
import { InvalidParameterError } from '../../../../src/errdefs/errors.js';

/**
 * registryAuth decodes X-Registry-Auth (base64url JSON) as dockerd does for pull and push: a
 * header it cannot read counts as no credentials, not as an error.
 */
export function registryAuth(ctx: RouteContext): RegistryAuth | null {
  const h = ctx.req.headers['x-registry-auth'];
  const enc = Array.isArray(h) ? h[0] : h;
  if (!enc) return null;
  try {
    const doc = JSON.parse(Buffer.from(enc.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) as Record<string, unknown>;
    if (!doc || typeof doc !== 'object') return null;
    const str = (k: string) => (typeof doc[k] === 'string' ? (doc[k] as string) : undefined);
    const auth: RegistryAuth = {
      username: str('username'),
      password: str('password'),
      auth: str('auth'),
      serveraddress: str('serveraddress'),
      identitytoken: str('identitytoken'),
      registrytoken: str('registrytoken'),
    };
    return Object.values(auth).some((v) => v) ? auth : null;
  } catch {
    return null;
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
  await Promise.race([output.begun, done]);
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
    const doc = JSON.parse(text) as RegistryAuth;
    return doc && typeof doc === 'object' ? doc : null;
  } catch (err) {
    throw new InvalidParameterError(`Bad parameters and missing X-Registry-Auth: ${(err as Error).message}`);
  }
}

/** POST /images/{name}/push?tag= */
export async function postImagesPush(ctx: RouteContext): Promise<void> {
  const auth = await pushAuth(ctx);
  const { output, done } = ctx.engine.stream('image_push', { name: ctx.vars.name ?? '', tag: ctx.query.get('tag') ?? '', auth }, { signal: ctx.signal });
  await Promise.race([output.begun, done]);
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  await pipeJsonMessages(ctx, output, done);
}

/** GET /distribution/{name}/json */
export async function getDistributionInfo(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('distribution_inspect', { name: ctx.vars.name ?? '', auth: registryAuth(ctx) }, { signal: ctx.signal }));
}
