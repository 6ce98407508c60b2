/** Routes of the system area (moby's router/system). */
import type { Router } from '../../router.js';
import { getEvents, getInfo, getSystemDf, makeVersionHandler, pingHandler } from './systemRoutes.js';

export function systemRoutes(r: Router, deps: { version: () => Promise<Buffer> }): void {
  // GET
  r.get('/_ping', pingHandler);
  r.get('/version', makeVersionHandler(deps.version));
  r.get('/info', getInfo);
  r.get('/events', getEvents);
  r.get('/system/df', getSystemDf);
  // HEAD
  r.head('/_ping', pingHandler);
}
