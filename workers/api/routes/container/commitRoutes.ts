/**
 * docker diff, export and commit (moby's getContainersChanges, getContainersExport and
 * postCommit): parse the request, run the daemon's job, write the answer. The export streams
 * the graph actor's tar.
 */
import { boolValue, readJson, writeJson, type RouteContext } from '../../httputils.js';
import { pipeToResponse, streamBegun } from '../../stream.js';
import type { ContainerRouteDeps } from './containerRoutes.js';

export async function getContainersChanges(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('container_changes', { name: ctx.vars.name! }, { signal: ctx.signal }));
}

export async function getContainersExport(ctx: RouteContext): Promise<void> {
  const { output, done } = ctx.engine.stream('container_export', { name: ctx.vars.name! }, { signal: ctx.signal });
  await streamBegun(output, done);
  // dockerd sets no Content-Type: Go's sniffing of a tar gives this one.
  ctx.res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
  await pipeToResponse(ctx, output, done);
}

/** The body's container config: its own fields, without HostConfig and NetworkingConfig (none: null, as dockerd's decoder). */
function commitConfig(body: unknown): Record<string, unknown> | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { HostConfig: _h, NetworkingConfig: _n, ...config } = body as Record<string, unknown>;
  return Object.keys(config).length ? config : null;
}

export function postCommit(deps: ContainerRouteDeps) {
  return async (ctx: RouteContext): Promise<void> => {
    const q = ctx.query;
    const body = await readJson(ctx.req, deps.maxJsonBody);
    // pause defaults to true since API 1.13 when it is not given.
    const pause = q.get('pause') ? boolValue(q, 'pause') : true;
    const res = await ctx.engine.job('container_commit', {
      name: q.get('container') ?? '',
      repo: q.get('repo') ?? '',
      tag: q.get('tag') ?? '',
      author: q.get('author') ?? '',
      comment: q.get('comment') ?? '',
      pause,
      changes: q.getAll('changes'),
      config: commitConfig(body),
    });
    writeJson(ctx.res, 201, res);
  };
}
