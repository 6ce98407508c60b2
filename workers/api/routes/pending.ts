/**
 * Engine API routes berth does not serve yet. They answer 501 with a message that says so,
 * rather than 404: the docker CLI reads a 404 from POST /containers/create as "no such image"
 * and would go pulling. Swarm routes answer as a dockerd outside swarm mode does (503).
 * A route leaves this table when its issue lands.
 */
import { NotFoundError, NotImplementedError, UnavailableError } from '../../../src/errdefs/errors.js';
import type { Router } from '../router.js';

const PENDING: ReadonlyArray<readonly [string, string, string]> = [
  // [method, path, issue]
  ['GET', '/containers/{id}/attach/ws', 'a later issue (websocket attach)'],
  ['POST', '/build', 'a later issue'], ['POST', '/build/prune', 'a later issue'],
  ['GET', '/plugins', 'a later issue'], ['GET', '/plugins/privileges', 'a later issue'], ['POST', '/plugins/pull', 'a later issue'],
  ['DELETE', '/plugins/{name:.*}', 'a later issue'],
  ['POST', '/plugins/{name:.*}/enable', 'a later issue'], ['POST', '/plugins/{name:.*}/disable', 'a later issue'],
  ['POST', '/plugins/{name:.*}/upgrade', 'a later issue'], ['POST', '/plugins/create', 'a later issue'],
  ['POST', '/plugins/{name:.*}/push', 'a later issue'], ['POST', '/plugins/{name:.*}/set', 'a later issue'],
  ['POST', '/session', 'a later issue'],
];

const SWARM: ReadonlyArray<readonly [string, string]> = [
  ['GET', '/nodes'], ['GET', '/nodes/{id}'], ['DELETE', '/nodes/{id}'], ['POST', '/nodes/{id}/update'],
  ['GET', '/swarm'], ['POST', '/swarm/init'], ['POST', '/swarm/join'], ['POST', '/swarm/leave'], ['POST', '/swarm/update'],
  ['GET', '/swarm/unlockkey'], ['POST', '/swarm/unlock'],
  ['GET', '/services'], ['POST', '/services/create'], ['GET', '/services/{id}'], ['DELETE', '/services/{id}'],
  ['POST', '/services/{id}/update'], ['GET', '/services/{id}/logs'], ['GET', '/tasks'], ['GET', '/tasks/{id}'],
  ['GET', '/tasks/{id}/logs'], ['GET', '/secrets'], ['POST', '/secrets/create'], ['GET', '/secrets/{id}'],
  ['DELETE', '/secrets/{id}'], ['POST', '/secrets/{id}/update'], ['GET', '/configs'], ['POST', '/configs/create'],
  ['GET', '/configs/{id}'], ['DELETE', '/configs/{id}'], ['POST', '/configs/{id}/update'],
];

/**
 * Lookups of objects berth has none of yet: "not found", as dockerd answers for a name it does
 * not know. `docker inspect NAME` tries each kind in turn and stops at the first answer that
 * is not a 404, so a 501 here would break it for containers and images too.
 */
const NONE_YET: ReadonlyArray<readonly [string, (name: string) => string]> = [
  ['/plugins/{name:.*}/json', (n) => `plugin "${n}" not found`],
];

/** pendingRoutes registers the table; call it last, so real routes win. */
export function pendingRoutes(r: Router): void {
  for (const [path, message] of NONE_YET) {
    r.get(path, async (ctx) => {
      throw new NotFoundError(message(ctx.vars.name ?? ''));
    });
  }
  for (const [method, path, issue] of PENDING) {
    r.add(method, path, async (ctx) => {
      // A container that does not exist is that first (`docker diff nosuch`: "No such container").
      if (path.startsWith('/containers/{id}/')) await ctx.engine.job('container_inspect', { name: ctx.vars.id ?? '', size: false });
      throw new NotImplementedError(`berth does not implement ${method} ${path} yet (planned: ${issue})`);
    });
  }
  for (const [method, path] of SWARM) {
    r.add(method, path, async () => {
      // dockerd's own answer outside swarm mode (berth never runs one).
      throw new UnavailableError('This node is not part of a swarm');
    });
  }
}
