/**
 * Handlers of the container area (moby's router/container): parse the request, run the
 * daemon's container job, write the answer. Attach hijacks the connection; wait, logs and
 * attach stream.
 */
import { InvalidParameterError } from '../../../../src/errdefs/errors.js';
import type { WaitCondition } from '../../../../src/protocol/types/containers.js';
import { boolValue, intValue, readJson, writeJson, type RouteContext } from '../../httputils.js';
import { hijack, isUpgrade, writeHijackError, writeSocket } from '../../hijack.js';
import { bodyChunks, pipeToResponse, streamBegun } from '../../stream.js';

export interface ContainerRouteDeps {
  maxJsonBody: number;
}

function noContent(ctx: RouteContext, status = 204): void {
  // A 200 without a body still says so (else Node would send it chunked).
  ctx.res.writeHead(status, status === 200 ? { 'Content-Length': 0 } : {});
  ctx.res.end();
}

export async function getContainersJSON(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  // (The old `before`/`since` parameters are ignored, as dockerd 20.10 ignores them.)
  const filters = q.get('filters') ?? undefined;
  const list = await ctx.engine.job('container_list', { all: boolValue(q, 'all'), limit: intValue(q, 'limit', 0), size: boolValue(q, 'size'), filters }, { signal: ctx.signal });
  writeJson(ctx.res, 200, list);
}

export function postContainersCreate(deps: ContainerRouteDeps) {
  return async (ctx: RouteContext): Promise<void> => {
    const body = await readJson(ctx.req, deps.maxJsonBody);
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
      throw new InvalidParameterError('the container configuration must be a JSON object');
    }
    const q = ctx.query;
    const res = await ctx.engine.job('container_create', { name: q.get('name') ?? '', body: (body ?? null) as Record<string, unknown> | null, platform: q.get('platform') ?? '' });
    writeJson(ctx.res, 201, res);
  };
}

export async function getContainersByName(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('container_inspect', { name: ctx.vars.name!, size: boolValue(ctx.query, 'size') }, { signal: ctx.signal }));
}

export async function postContainersStart(ctx: RouteContext): Promise<void> {
  // dockerd: a body of a HostConfig (more than "null"-sized, or chunked) is refused since 1.24.
  const len = Number(ctx.req.headers['content-length'] ?? 0);
  if (len > 7 || ctx.req.headers['transfer-encoding'] === 'chunked') {
    throw new InvalidParameterError('starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24');
  }
  const started = await ctx.engine.job('container_start', { name: ctx.vars.name! });
  noContent(ctx, started ? 204 : 304);
}

function stopArgs(ctx: RouteContext) {
  const q = ctx.query;
  return { name: ctx.vars.name!, signal: q.get('signal') ?? '', timeout: q.has('t') && q.get('t') !== '' ? intValue(q, 't', 10) : null };
}

export async function postContainersStop(ctx: RouteContext): Promise<void> {
  const stopped = await ctx.engine.job('container_stop', stopArgs(ctx));
  noContent(ctx, stopped ? 204 : 304);
}

export async function postContainersRestart(ctx: RouteContext): Promise<void> {
  await ctx.engine.job('container_restart', stopArgs(ctx));
  noContent(ctx);
}

export async function postContainersKill(ctx: RouteContext): Promise<void> {
  await ctx.engine.job('container_kill', { name: ctx.vars.name!, signal: ctx.query.get('signal') ?? '' });
  noContent(ctx);
}

export async function postContainersWait(ctx: RouteContext): Promise<void> {
  const c = ctx.query.get('condition');
  const condition: WaitCondition = c === 'next-exit' || c === 'removed' ? c : 'not-running';
  const { output, done } = ctx.engine.stream('container_wait', { name: ctx.vars.name!, condition }, { signal: ctx.signal });
  await streamBegun(output, done);
  // The headers go out at once: clients take them as "the wait is registered".
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  ctx.res.flushHeaders();
  await pipeToResponse(ctx, output, done);
}

export async function getContainersLogs(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  const { output, done } = ctx.engine.stream(
    'container_logs',
    {
      name: ctx.vars.name!,
      follow: boolValue(q, 'follow'),
      stdout: boolValue(q, 'stdout'),
      stderr: boolValue(q, 'stderr'),
      since: q.get('since') ?? '',
      until: q.get('until') ?? '',
      timestamps: boolValue(q, 'timestamps'),
      details: boolValue(q, 'details'),
      tail: q.get('tail') ?? '',
    },
    { signal: ctx.signal },
  );
  await streamBegun(output, done);
  // API 1.41 sends the log with no Content-Type, multiplexed or raw.
  ctx.res.writeHead(200);
  await pipeToResponse(ctx, output, done);
}

/**
 * POST /containers/{id}/attach: the container's stdio over the hijacked connection. The
 * client closing its side only ends the container's stdin; the stream ends when the
 * container does, on detach keys, or when the client goes away.
 */
export async function postContainersAttach(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  const socket = ctx.req.socket;
  const upgraded = isUpgrade(ctx);
  const stdin = boolValue(q, 'stdin') && upgraded;
  const { output, done } = ctx.engine.stream(
    'container_attach',
    {
      name: ctx.vars.name!,
      stdin,
      stdout: boolValue(q, 'stdout'),
      stderr: boolValue(q, 'stderr'),
      logs: boolValue(q, 'logs'),
      stream: boolValue(q, 'stream'),
      detachKeys: q.get('detachKeys') ?? '',
    },
    { signal: ctx.signal, stdin: stdin ? bodyChunks(socket) : undefined },
  );
  try {
    await streamBegun(output, done);
  } catch (err) {
    writeHijackError(ctx, err);
    return;
  }
  hijack(ctx);
  if (!stdin && upgraded) socket.resume(); // read (and drop) what the client sends, to see it leave
  try {
    for await (const chunk of output) await writeSocket(socket, chunk, ctx.signal);
    await done;
    socket.end();
  } catch (err) {
    ctx.log.debug('attach ended early', { error: (err as Error).message });
    socket.destroy();
  }
}

export async function postContainersResize(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  await ctx.engine.job('container_resize', { name: ctx.vars.name!, height: intValue(q, 'h', 0), width: intValue(q, 'w', 0) });
  noContent(ctx, 200);
}

export async function deleteContainers(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  await ctx.engine.job('container_delete', { name: ctx.vars.name!, force: boolValue(q, 'force'), volumes: boolValue(q, 'v'), link: boolValue(q, 'link') });
  noContent(ctx);
}

export async function postContainersRename(ctx: RouteContext): Promise<void> {
  await ctx.engine.job('container_rename', { name: ctx.vars.name!, newName: ctx.query.get('name') ?? '' });
  noContent(ctx);
}

export async function postContainersPrune(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('container_prune', { filters: ctx.query.get('filters') ?? undefined }));
}

export function postContainerExecCreate(deps: ContainerRouteDeps) {
  return async (ctx: RouteContext): Promise<void> => {
    const body = await readJson(ctx.req, deps.maxJsonBody);
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) throw new InvalidParameterError('the exec configuration must be a JSON object');
    writeJson(ctx.res, 201, await ctx.engine.job('container_exec_create', { name: ctx.vars.name!, body: (body ?? null) as Record<string, unknown> | null }));
  };
}

/**
 * POST /exec/{id}/start: detached, the session starts and the answer is an empty 200;
 * attached, the connection is hijacked as for attach and carries the session's stdio.
 */
export function postExecStart(deps: ContainerRouteDeps) {
  return async (ctx: RouteContext): Promise<void> => {
    const upgraded = isUpgrade(ctx);
    const body = (await readJson(ctx.req, deps.maxJsonBody)) as { Detach?: boolean; Tty?: boolean; ConsoleSize?: [number, number] | null } | undefined;
    const detach = body?.Detach === true;
    const args = { execId: ctx.vars.id!, detach, tty: body?.Tty === true, consoleSize: Array.isArray(body?.ConsoleSize) && body!.ConsoleSize![0] ? body!.ConsoleSize! : null };
    if (detach) {
      const { output, done } = ctx.engine.stream('container_exec_start', args, { signal: ctx.signal });
      for await (const _ of output) {
        // a detached session writes nothing
      }
      await done;
      ctx.res.writeHead(200, { 'Content-Length': 0 }).end();
      return;
    }
    const socket = ctx.req.socket;
    const { output, done } = ctx.engine.stream('container_exec_start', args, { signal: ctx.signal, stdin: upgraded ? bodyChunks(socket) : undefined });
    await streamBegun(output, done);
    hijack(ctx, true);
    try {
      for await (const chunk of output) await writeSocket(socket, chunk, ctx.signal);
      await done;
      socket.end();
    } catch (err) {
      ctx.log.debug('exec stream ended early', { error: (err as Error).message });
      socket.destroy();
    }
  };
}

export async function getExecJSON(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('container_exec_inspect', { execId: ctx.vars.id! }, { signal: ctx.signal }));
}

export async function postExecResize(ctx: RouteContext): Promise<void> {
  const q = ctx.query;
  await ctx.engine.job('container_exec_resize', { execId: ctx.vars.id!, height: intValue(q, 'h', 0), width: intValue(q, 'w', 0) });
  noContent(ctx, 200);
}
