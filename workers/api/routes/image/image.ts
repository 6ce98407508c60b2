/** Routes of the image area (moby's router/image). */
import type { Router } from '../../router.js';
import {
  deleteImages,
  getImagesByName,
  getImagesGet,
  getImagesGetByName,
  getImagesHistory,
  getImagesJSON,
  postImagesCreate,
  postImagesLoad,
  postImagesPrune,
  postImagesTag,
} from './imageRoutes.js';
import { getDistributionInfo, postImagesPush } from './distributionRoutes.js';

export function imageRoutes(r: Router): void {
  // GET
  r.get('/images/json', getImagesJSON);
  r.get('/images/get', getImagesGet);
  r.get('/images/{name:.*}/get', getImagesGetByName);
  r.get('/images/{name:.*}/history', getImagesHistory);
  r.get('/images/{name:.*}/json', getImagesByName);
  // POST
  r.post('/images/create', postImagesCreate);
  r.post('/images/load', postImagesLoad);
  r.post('/images/prune', postImagesPrune);
  r.post('/images/{name:.*}/tag', postImagesTag);
  r.post('/images/{name:.*}/push', postImagesPush);
  r.get('/distribution/{name:.*}/json', getDistributionInfo);
  // DELETE
  r.delete('/images/', deleteImages); // an empty name: dockerd's 400, not 404
  r.delete('/images/{name:.*}', deleteImages);
}
