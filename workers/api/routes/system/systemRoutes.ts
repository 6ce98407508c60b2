/**
 * Handlers of the system area: /_ping, /version, /info, /events. Thin: parse the request,
 * run the job, write the answer. /_ping and /version are answered here without an engine round
 * trip (/version from a cache filled once from the `version` job).
 */
import type { RouteContext } from '../../httputils.js';
import { writeJson } from '../../httputils.js';
import { pipeToResponse, streamBegun } from '../../stream.js';

const OK = Buffer.from('OK');
const PING_HEADERS = {
  'Builder-Version': '1',
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Pragma: 'no-cache',
  'Content-Type': 'text/plain; charset=utf-8',
};

/** pingHandler answers GET and HEAD /_ping as dockerd: "OK", never cached. */
export async function pingHandler(ctx: RouteContext): Promise<void> {
  const head = ctx.req.method === 'HEAD';
  ctx.res.writeHead(200, { ...PING_HEADERS, 'Content-Length': head ? 0 : OK.length });
  ctx.res.end(head ? undefined : OK);
}

export function makeVersionHandler(cached: () => Promise<Buffer>) {
  return async function getVersion(ctx: RouteContext): Promise<void> {
    const body = await cached();
    ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    ctx.res.end(body);
  };
}

export async function getInfo(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('info', {}, { signal: ctx.signal }));
}

/**
 * getEvents streams events as JSON lines. A bad query fails before the stream starts, with a
 * JSON error; otherwise the 200 headers go out at once (clients wait for them) and the body
 * follows until `until` passes or the client leaves.
 */
export async function getEvents(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  const { output, done } = ctx.engine.stream(
    'events',
    { since: q.get('since') ?? undefined, until: q.get('until') ?? undefined, filters: q.get('filters') ?? undefined },
    { signal: ctx.signal },
  );
  await streamBegun(output, done);
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  ctx.res.flushHeaders();
  await pipeToResponse(ctx, output, done);
}

export async function getSystemDf(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('system_df', {}, { signal: ctx.signal }));
}
