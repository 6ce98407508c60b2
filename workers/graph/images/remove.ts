/**
 * DELETE /images/{name} (dockerd 20.10's ImageDelete): by a reference, untag it, and delete the
 * image only if that was its last reference; by an ID, untag everything (refused without force
 * when the tags span repositories) and delete. An image used by a container is a conflict
 * (force overrides it for stopped containers, never for running ones). Deleting an image
 * releases the layers nothing else uses; with prune (the default), an untagged parent goes too.
 */
import { ConflictError, InvalidParameterError } from '../../../src/errdefs/errors.js';
import type { DeleteItem } from '../../../src/protocol/types/images.js';
import { familiarName, familiarString, parseAny, withDefaultTag } from '../reference.js';
import type { ImageRecord } from '../store/images.js';
import type { ImageService } from './service.js';

const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

/** isImageIDPrefix is dockerd's test for "deleted by ID": the name is a prefix of the ID. */
function isImageIDPrefix(id: string, name: string): boolean {
  return id.startsWith(name) || id.slice(id.indexOf(':') + 1).startsWith(name);
}

export interface RemoveResult {
  items: DeleteItem[];
  reclaimed: number;
}

export async function removeImage(s: ImageService, name: string, force: boolean, prune: boolean): Promise<RemoveResult> {
  if (!name) throw new InvalidParameterError('image name cannot be blank');
  const img = s.resolve(name);
  const users = (await s.engine.job('image_users', { ids: [img.id] }))[img.id] ?? { running: [], stopped: [] };
  const items: DeleteItem[] = [];
  const parsed = parseAny(name);
  const byID = isImageIDPrefix(img.id, name);

  if (!byID && parsed.kind === 'ref') {
    const ref = parsed.ref.digest ? parsed.ref : withDefaultTag(parsed.ref);
    const refs = s.refs.referencesOf(img.id);
    const last = refs.length === 1;
    const container = users.running[0] ?? users.stopped[0];
    if (last && container && !force) {
      throw new ConflictError(`conflict: unable to remove repository reference "${familiarString(ref)}" (must force) - container ${short(container)} is using its referenced image ${short(img.id)}`);
    }
    await s.refs.delete(ref);
    items.push({ Untagged: familiarString(ref) });
    await s.event('untag', img, img.id, false);
    // As dockerd: once a repository's last tag goes, its digest references (a pull's or a push's) go too.
    let remaining = s.refs.referencesOf(img.id);
    if (!ref.digest && !remaining.some((r) => !r.digest && r.name === ref.name)) {
      for (const r of remaining.filter((x) => x.digest && x.name === ref.name)) {
        await s.refs.delete(r);
        items.push({ Untagged: familiarString(r) });
      }
      remaining = s.refs.referencesOf(img.id);
    }
    if (remaining.length > 0) return { items, reclaimed: 0 };
  } else {
    const refs = s.refs.referencesOf(img.id);
    const repos = new Set(refs.map((r) => familiarName(r.name)));
    if (repos.size > 1 && !force) {
      throw new ConflictError(`conflict: unable to delete ${short(img.id)} (must be forced) - image is referenced in multiple repositories`);
    }
    checkUse(img, users, force);
    for (const r of refs) {
      await s.refs.delete(r);
      items.push({ Untagged: familiarString(r) });
      await s.event('untag', img, img.id, false);
    }
  }
  const reclaimed = await deleteImage(s, img, users, force, prune, items);
  return { items, reclaimed };
}

function checkUse(img: ImageRecord, users: { running: string[]; stopped: string[] }, force: boolean): void {
  if (users.running[0]) {
    throw new ConflictError(`conflict: unable to delete ${short(img.id)} (cannot be forced) - image is being used by running container ${short(users.running[0])}`);
  }
  if (users.stopped[0] && !force) {
    throw new ConflictError(`conflict: unable to delete ${short(img.id)} (must be forced) - image is being used by stopped container ${short(users.stopped[0])}`);
  }
}

/** deleteImage removes an untagged image, its unused layers, and (prune) its untagged parents. */
export async function deleteImage(s: ImageService, img: ImageRecord, users: { running: string[]; stopped: string[] }, force: boolean, prune: boolean, items: DeleteItem[]): Promise<number> {
  checkUse(img, users, force);
  if (s.images.children(img.id).length > 0) {
    throw new ConflictError(`conflict: unable to delete ${short(img.id)} (cannot be forced) - image has dependent child images`);
  }
  await s.images.delete(img.id);
  items.push({ Deleted: img.id });
  await s.event('delete', img, img.id, false);
  const { removed, bytes } = await s.releaseLayers(img);
  for (const c of removed) items.push({ Deleted: c });
  let reclaimed = bytes;
  if (prune && img.parent) {
    const parent = s.images.get(img.parent);
    if (parent && s.refs.referencesOf(parent.id).length === 0 && s.images.children(parent.id).length === 0) {
      const pu = (await s.engine.job('image_users', { ids: [parent.id] }))[parent.id] ?? { running: [], stopped: [] };
      if (pu.running.length === 0 && pu.stopped.length === 0) reclaimed += await deleteImage(s, parent, pu, false, true, items);
    }
  }
  return reclaimed;
}
