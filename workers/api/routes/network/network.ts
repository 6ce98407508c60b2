/** Routes of the network area (moby's router/network). */
import type { Router } from '../../router.js';
import { deleteNetwork, getNetwork, getNetworksList, postNetworkConnect, postNetworkDisconnect, postNetworksCreate, postNetworksPrune, type NetworkRouteDeps } from './networkRoutes.js';

export function networkRoutes(r: Router, deps: NetworkRouteDeps): void {
  r.get('/networks', getNetworksList);
  r.get('/networks/', getNetworksList);
  r.get('/networks/{id}', getNetwork);
  r.post('/networks/create', postNetworksCreate(deps));
  r.post('/networks/prune', postNetworksPrune);
  r.post('/networks/{id}/connect', postNetworkConnect(deps));
  r.post('/networks/{id}/disconnect', postNetworkDisconnect(deps));
  r.delete('/networks/{id}', deleteNetwork);
}
