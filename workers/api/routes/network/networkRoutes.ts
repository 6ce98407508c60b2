/**
 * Handlers of the network area (moby's router/network): networks are the network actor's;
 * connecting and disconnecting a container goes through the daemon, which owns the container.
 */
import { InvalidParameterError } from '../../../../src/errdefs/errors.js';
import { expectObject, readJson, writeJson, type RouteContext } from '../../httputils.js';

export interface NetworkRouteDeps {
  maxJsonBody: number;
}

export async function getNetworksList(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('network_list', { filters: ctx.query.get('filters') ?? undefined }, { signal: ctx.signal }));
}

export async function getNetwork(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('network_inspect', { name: ctx.vars.id! }, { signal: ctx.signal }));
}

export function postNetworksCreate(deps: NetworkRouteDeps) {
  return async (ctx: RouteContext): Promise<void> => {
    const body = await readJson(ctx.req, deps.maxJsonBody);
    const doc = body === undefined ? null : expectObject(body, 'the network configuration');
    writeJson(ctx.res, 201, await ctx.engine.job('network_create', { body: doc }));
  };
}

export async function deleteNetwork(ctx: RouteContext): Promise<void> {
  await ctx.engine.job('network_remove', { name: ctx.vars.id! });
  ctx.res.writeHead(204).end();
}

export async function postNetworksPrune(ctx: RouteContext): Promise<void> {
  writeJson(ctx.res, 200, await ctx.engine.job('network_prune', { filters: ctx.query.get('filters') ?? undefined }));
}

function connectBody(body: unknown): Record<string, unknown> {
  const doc = expectObject(body ?? {}, 'the request');
  if (typeof doc.Container !== 'string' || !doc.Container) throw new InvalidParameterError('a container name or ID is required');
  return doc;
}

export function postNetworkConnect(deps: NetworkRouteDeps) {
  return async (ctx: RouteContext): Promise<void> => {
    const doc = connectBody(await readJson(ctx.req, deps.maxJsonBody));
    const ep = (doc.EndpointConfig ?? {}) as { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null };
    await ctx.engine.job('container_connect', {
      network: ctx.vars.id!,
      container: doc.Container as string,
      aliases: ep.Aliases ?? [],
      ipv4: ep.IPAMConfig?.IPv4Address ?? '',
    });
    ctx.res.writeHead(200, { 'Content-Length': 0 }).end();
  };
}

export function postNetworkDisconnect(deps: NetworkRouteDeps) {
  return async (ctx: RouteContext): Promise<void> => {
    const doc = connectBody(await readJson(ctx.req, deps.maxJsonBody));
    await ctx.engine.job('container_disconnect', { network: ctx.vars.id!, container: doc.Container as string, force: doc.Force === true });
    ctx.res.writeHead(200, { 'Content-Length': 0 }).end();
  };
}
