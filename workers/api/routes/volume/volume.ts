/** Routes of the volume area (moby's router/volume). */
import type { Router } from '../../router.js';
import { deleteVolumes, getVolumeByName, getVolumesList, postVolumesCreate, postVolumesPrune, type VolumeRouteDeps } from './volumeRoutes.js';

export function volumeRoutes(r: Router, deps: VolumeRouteDeps): void {
  r.get('/volumes', getVolumesList);
  r.get('/volumes/{name}', getVolumeByName);
  r.post('/volumes/create', postVolumesCreate(deps));
  r.post('/volumes/prune', postVolumesPrune);
  r.delete('/volumes/{name}', deleteVolumes);
}
