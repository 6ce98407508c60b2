/**
 * POST /auth (docker login) and GET /images/search, as dockerd 20.10's routes: thin handlers
 * over the graph actor's `auth` and `search` jobs (workers/graph/distribution/login.ts,
 * search.ts). Errors dockerd answers with 500 (a body that is not JSON, a limit that is not a
 * number) are worded as Go's decoders word them.
 */
import { SystemError } from '../../../../src/errdefs/errors.js';
import type { Router } from '../../router.js';
import { readBody, writeJson, type RouteContext } from '../../httputils.js';
import { authConfigFrom, registryAuthOf } from '../../registryAuth.js';

const MAX_AUTH_BODY = 1 << 20;

/** dockerd's json.Decode into *types.AuthConfig: errors are 500s with Go's text. */
function decodeAuthBody(body: Buffer): Record<string, string> {
  const text = body.toString('utf8');
  if (text.trim() === '') throw new SystemError('EOF');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    const c = text.trimStart()[0];
    throw new SystemError(`invalid character '${c}' looking for beginning of value`);
  }
  if (doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new SystemError(`json: cannot unmarshal ${Array.isArray(doc) ? 'array' : typeof doc === 'string' ? 'string' : typeof doc} into Go value of type types.AuthConfig`);
  }
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    const known = ['username', 'password', 'auth', 'email', 'serveraddress', 'identitytoken', 'registrytoken'].includes(k.toLowerCase());
    if (known && v !== null && typeof v !== 'string') {
      throw new SystemError(`json: cannot unmarshal ${typeof v === 'object' ? (Array.isArray(v) ? 'array' : 'object') : typeof v} into Go struct field AuthConfig.${k.toLowerCase()} of type string`);
    }
  }
  return (authConfigFrom(doc) ?? {}) as Record<string, string>;
}

export async function postAuth(ctx: RouteContext): Promise<void> {
  const auth = decodeAuthBody(await readBody(ctx.req, MAX_AUTH_BODY));
  writeJson(ctx.res, 200, await ctx.engine.job('auth', { auth }, { signal: ctx.signal }));
}

export async function getImagesSearch(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  let limit = 25;
  const raw = q.get('limit');
  if (raw !== null && raw !== '') {
    if (!/^[+-]?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new SystemError(`strconv.Atoi: parsing ${JSON.stringify(raw)}: ${/^[+-]?\d+$/.test(raw) ? 'value out of range' : 'invalid syntax'}`);
    limit = Number(raw);
  }
  const results = await ctx.engine.job('search', { term: q.get('term') ?? '', limit, filters: q.get('filters') ?? undefined, auth: registryAuthOf(ctx.req.headers) }, { signal: ctx.signal });
  writeJson(ctx.res, 200, results);
}

export function registryRoutes(r: Router): void {
  r.post('/auth', postAuth);
  r.get('/images/search', getImagesSearch);
}
