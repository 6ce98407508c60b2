/**
 * Fault-injection routes, mounted only when berthd runs with --debug-failpoints (otherwise
 * they do not exist: 404 page not found).
 *
 *   GET    /debug/failpoints               the table
 *   PUT    /debug/failpoints/job/<job>     {"action": "crash|exit|hang|oom|delay|error",
 *                                           "arg": ms|code|kind, "message": "...", "count": N}
 *   DELETE /debug/failpoints/job/<job>     remove one
 *   DELETE /debug/failpoints               remove all
 *   GET    /debug/actors                   every actor: state, restarts, jobs in flight
 *   GET    /debug/api                      the api actor's own status (a job it serves)
 */
import type { FailpointSpec } from '../../../../src/protocol/types/failpoints.js';
import { expectObject, field, readJson, writeJson, type RouteContext } from '../../httputils.js';
import type { Router } from '../../router.js';

export function debugRoutes(r: Router, deps: { maxJsonBody: number }): void {
  r.get('/debug/actors', async (ctx) => {
    writeJson(ctx.res, 200, await ctx.engine.job('actors', {}));
  });
  r.get('/debug/api', async (ctx) => {
    writeJson(ctx.res, 200, await ctx.engine.job('api_status', {}));
  });
  r.get('/debug/failpoints', async (ctx) => {
    writeJson(ctx.res, 200, await ctx.engine.job('failpoints_list', {}));
  });
  r.put('/debug/failpoints/{name:.*}', async (ctx: RouteContext) => {
    const body = expectObject((await readJson(ctx.req, deps.maxJsonBody)) ?? {}, 'the failpoint');
    const spec: FailpointSpec = {
      name: ctx.vars.name!,
      action: field(body, 'action', 'string') as FailpointSpec['action'],
      arg: body.arg as FailpointSpec['arg'],
      message: field(body, 'message', 'string'),
      count: field(body, 'count', 'number'),
    };
    writeJson(ctx.res, 200, await ctx.engine.job('failpoints_set', spec));
  });
  r.delete('/debug/failpoints/{name:.*}', async (ctx) => {
    await ctx.engine.job('failpoints_clear', { name: ctx.vars.name! });
    ctx.res.writeHead(204).end();
  });
  r.delete('/debug/failpoints', async (ctx) => {
    await ctx.engine.job('failpoints_clear', {});
    ctx.res.writeHead(204).end();
  });
}
