/**
 * HEAD/GET/PUT /containers/{name}/archive (moby's router/container/copy.go): docker cp.
 * HEAD answers the X-Docker-Container-Path-Stat header alone; GET adds the tar (the job's
 * first frame is the stat, so the header is known before the body starts); PUT streams the
 * request body (a tar, maybe compressed) into the job and answers 200 with no body.
 */
import { InvalidParameterError } from '../../../../src/errdefs/errors.js';
import type { ContainerPathStat } from '../../../../src/protocol/types/archive.js';
import { boolValue, type RouteContext } from '../../httputils.js';
import { bodyChunks, pipeToResponse } from '../../stream.js';

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

/** archivePath is the query's path; dockerd's message when it is empty (sic). */
function archivePath(ctx: RouteContext): string {
  const path = ctx.query.get('path') ?? '';
  if (path === '') throw new InvalidParameterError('bad parameter: pathcannot be empty');
  return path;
}

/** The header is base64 of the compact JSON, fields in dockerd's order. */
function statHeader(s: ContainerPathStat): string {
  const doc = { name: s.name, size: s.size, mode: s.mode, mtime: s.mtime, linkTarget: s.linkTarget };
  return Buffer.from(JSON.stringify(doc)).toString('base64');
}

export async function headContainersArchive(ctx: RouteContext): Promise<void> {
  const stat = await ctx.engine.job('container_archive_stat', { name: ctx.vars.name!, path: archivePath(ctx) }, { signal: ctx.signal });
  // No Content-Type, no Content-Length (dockerd's HEAD answer).
  ctx.res.writeHead(200, { [STAT_HEADER]: statHeader(stat) });
  ctx.res.end();
}

export async function getContainersArchive(ctx: RouteContext): Promise<void> {
  const path = archivePath(ctx);
  const { output, done } = ctx.engine.stream('container_archive_get', { name: ctx.vars.name!, path }, { signal: ctx.signal });
  done.catch(() => {}); // its failure arrives through the output too
  const it = output[Symbol.asyncIterator]();
  const first = await it.next(); // rejects with the job's error (404 …) before anything is sent
  if (first.done) {
    await done;
    throw new InvalidParameterError('the archive job ended without a stat');
  }
  const stat = JSON.parse(Buffer.from(first.value).toString()) as ContainerPathStat;
  ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar', [STAT_HEADER]: statHeader(stat) });
  await pipeToResponse(ctx, { [Symbol.asyncIterator]: () => it }, done);
}

export async function putContainersArchive(ctx: RouteContext): Promise<void> {
  const path = archivePath(ctx);
  await ctx.engine.job(
    'container_archive_put',
    { name: ctx.vars.name!, path, noOverwriteDirNonDir: boolValue(ctx.query, 'noOverwriteDirNonDir'), copyUIDGID: boolValue(ctx.query, 'copyUIDGID') },
    { signal: ctx.signal, stdin: bodyChunks(ctx.req) },
  );
  ctx.res.writeHead(200, { 'Content-Length': 0 });
  ctx.res.end();
}
