/**
 * POST /images/prune and the image part of GET /system/df. Prune removes dangling images
 * (or, with dangling=false, every image no container uses), untagging first; SpaceReclaimed
 * counts the layers freed, as dockerd's.
 */
import { InvalidParameterError } from '../../../src/errdefs/errors.js';
import type { DeleteItem, ImagesUsage, PruneReport } from '../../../src/protocol/types/images.js';
import { parseTimestamp } from '../../../src/protocol/timestamps.js';
import { familiarString } from '../reference.js';
import { createdOf, isDangling, parseImageFilters } from './list.js';
import { deleteImage } from './remove.js';
import type { ImageService } from './service.js';

export async function pruneImages(s: ImageService, filters: string | undefined): Promise<PruneReport> {
  const f = parseImageFilters(filters, ['dangling', 'label', 'label!', 'until']);
  const danglingOnly = !f.get('dangling').includes('false');
  let until: number | null = null;
  for (const u of f.get('until')) {
    const ns = parseTimestamp(u, Date.now());
    if (ns === null) throw new InvalidParameterError(`failed to parse value as time or duration: "${u}"`);
    until = Number(ns / 1_000_000n);
  }
  const candidates = s.images.list().filter((img) => {
    if (danglingOnly && !isDangling(s, img)) return false;
    if (s.images.children(img.id).length > 0) return false;
    // A pull that has made the image but not tagged it yet holds its layers: not dangling, pending.
    const top = s.chain(img).at(-1);
    if (top && s.isHeld(top.chainID)) return false;
    if (until !== null && createdOf(img) >= until) return false;
    const labels = img.config.config?.Labels ?? {};
    if (!f.matchKVList('label', labels)) return false;
    for (const neg of f.get('label!')) {
      const [k, v] = neg.split('=', 2);
      if (v === undefined ? k! in labels : labels[k!] === v) return false;
    }
    return true;
  });
  const users = candidates.length ? await s.engine.job('image_users', { ids: candidates.map((i) => i.id) }) : {};
  const items: DeleteItem[] = [];
  let reclaimed = 0;
  for (const img of candidates) {
    const u = users[img.id] ?? { running: [], stopped: [] };
    if (u.running.length || u.stopped.length || !s.images.get(img.id)) continue;
    for (const r of s.refs.referencesOf(img.id)) {
      await s.refs.delete(r);
      items.push({ Untagged: familiarString(r) });
      await s.event('untag', img, img.id, false);
    }
    try {
      reclaimed += await deleteImage(s, img, u, false, true, items);
    } catch (err) {
      s.log.warn(`prune: could not delete ${img.id}: ${(err as Error).message}`);
    }
  }
  await s.engine.job('log', { Type: 'image', Action: 'prune', Actor: { ID: '', Attributes: { reclaimed: String(reclaimed) } } }).catch(() => {});
  return { ImagesDeleted: items.length ? items : null, SpaceReclaimed: reclaimed };
}

/** imageUsage: every image with its container count and the bytes it shares with others. */
export async function imageUsage(s: ImageService): Promise<ImagesUsage> {
  const images = s.images.list();
  const users = images.length ? await s.engine.job('image_users', { ids: images.map((i) => i.id) }) : {};
  const layerUse = new Map<string, number>();
  for (const img of images) for (const l of s.chain(img)) if (l) layerUse.set(l.chainID, (layerUse.get(l.chainID) ?? 0) + 1);
  const summaries = images
    .sort((a, b) => createdOf(b) - createdOf(a))
    .map((img) => {
      const sum = s.summary(img);
      const u = users[img.id] ?? { running: [], stopped: [] };
      sum.Containers = u.running.length + u.stopped.length;
      sum.SharedSize = s.chain(img).reduce((n, l) => n + (l && (layerUse.get(l.chainID) ?? 0) > 1 ? l.size : 0), 0);
      return sum;
    });
  return { LayersSize: s.layers.list().reduce((n, l) => n + l.size, 0), Images: summaries };
}
