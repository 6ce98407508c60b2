/** Routes of the container area (moby's router/container). */
import type { Router } from '../../router.js';
import {
  deleteContainers,
  getContainersByName,
  getContainersJSON,
  getContainersLogs,
  postContainersAttach,
  postContainersCreate,
  postContainersKill,
  postContainersPrune,
  postContainersRename,
  postContainersResize,
  postContainersRestart,
  postContainersStart,
  postContainersStop,
  postContainersWait,
  postContainerExecCreate,
  postExecStart,
  getExecJSON,
  postExecResize,
  type ContainerRouteDeps,
} from './containerRoutes.js';
import { getContainersChanges, getContainersExport, postCommit } from './commitRoutes.js';
import { getContainersArchive, headContainersArchive, putContainersArchive } from './archiveRoutes.js';
import { getContainersStats, getContainersTop, postContainerUpdate, postContainersPause, postContainersUnpause } from './resourceRoutes.js';

export function containerRoutes(r: Router, deps: ContainerRouteDeps): void {
  // GET
  r.get('/containers/json', getContainersJSON);
  r.get('/containers/{name}/json', getContainersByName);
  r.get('/containers/{name}/logs', getContainersLogs);
  r.get('/containers/{name}/changes', getContainersChanges);
  r.get('/containers/{name}/export', getContainersExport);
  // POST
  r.post('/containers/create', postContainersCreate(deps));
  r.post('/commit', postCommit(deps));
  r.post('/containers/prune', postContainersPrune);
  r.post('/containers/{name}/start', postContainersStart);
  r.post('/containers/{name}/stop', postContainersStop);
  r.post('/containers/{name}/restart', postContainersRestart);
  r.post('/containers/{name}/kill', postContainersKill);
  r.post('/containers/{name}/wait', postContainersWait);
  r.post('/containers/{name}/attach', postContainersAttach);
  r.post('/containers/{name}/resize', postContainersResize);
  r.post('/containers/{name}/rename', postContainersRename);
  r.post('/containers/{name}/exec', postContainerExecCreate(deps));
  r.post('/exec/{id}/start', postExecStart(deps));
  r.post('/exec/{id}/resize', postExecResize);
  r.get('/exec/{id}/json', getExecJSON);
  r.post('/containers/{name}/pause', postContainersPause);
  r.post('/containers/{name}/unpause', postContainersUnpause);
  r.get('/containers/{name}/top', getContainersTop);
  r.get('/containers/{name}/stats', getContainersStats);
  r.post('/containers/{name}/update', postContainerUpdate(deps));
  // docker cp
  r.head('/containers/{name}/archive', headContainersArchive);
  r.get('/containers/{name}/archive', getContainersArchive);
  r.put('/containers/{name}/archive', putContainersArchive);
  // DELETE
  r.delete('/containers/{name}', deleteContainers);
}
