/** GET /images/json (dockerd 20.10's Images): one entry per image, newest first, with filters. */
import { InvalidParameterError, SystemError } from '../../../src/errdefs/errors.js';
import { Filters } from '../../../src/protocol/filters.js';
import type { ImageSummary } from '../../../src/protocol/types/images.js';
import { familiarName, familiarString } from '../reference.js';
import type { ImageRecord } from '../store/images.js';
import { PatternError, pathMatch } from './glob.js';
import type { ImageService } from './service.js';

const ACCEPTED = ['before', 'since', 'dangling', 'label', 'reference'];

/** parseImageFilters reads `filters` with dockerd's image-filter errors ("Invalid filter"). */
export function parseImageFilters(raw: string | undefined, accepted: string[]): Filters {
  let f: Filters;
  try {
    f = Filters.parse(raw);
  } catch (err) {
    // dockerd answers malformed filter JSON with its decoder's error and a 500.
    throw new SystemError((err as Error).message.replace(/^invalid filters: /, ''));
  }
  for (const key of ['dangling']) {
    for (const v of f.get(key)) {
      if (v !== 'true' && v !== 'false') throw new InvalidParameterError(`Invalid filter '${key}=[${v}]'`);
    }
  }
  try {
    f.validate(accepted);
  } catch (err) {
    throw new InvalidParameterError((err as Error).message.replace(/^invalid filter/, 'Invalid filter'));
  }
  return f;
}

export function createdOf(img: ImageRecord): number {
  return Date.parse(img.config.created ?? '') || 0;
}

export function isDangling(s: ImageService, img: ImageRecord): boolean {
  return s.refs.referencesOf(img.id).length === 0;
}

/** labelMatch: every label=k or label=k=v of the filter is on the image. */
export function labelMatch(f: Filters, img: ImageRecord): boolean {
  return f.matchKVList('label', img.config.config?.Labels ?? undefined);
}

export function listImages(s: ImageService, args: { all: boolean; filters?: string }): ImageSummary[] {
  const f = parseImageFilters(args.filters, ACCEPTED);
  const before = f.get('before').map((n) => createdOf(s.resolve(n)));
  const since = f.get('since').map((n) => createdOf(s.resolve(n)));
  const dangling = f.get('dangling');
  const patterns = f.get('reference');
  const out: Array<{ created: number; summary: ImageSummary }> = [];
  for (const img of s.images.list()) {
    const created = createdOf(img);
    if (before.some((t) => created >= t)) continue;
    if (since.some((t) => created <= t)) continue;
    if (dangling.length) {
      const want = dangling.includes('true');
      if (isDangling(s, img) !== want) continue;
    }
    if (!labelMatch(f, img)) continue;
    const summary = s.summary(img);
    if (patterns.length) {
      // Go's path.Match on the familiar reference (or its name); only matching tags are listed.
      const refs = s.refs.referencesOf(img.id);
      let matched;
      try {
        matched = refs.filter((r) => patterns.some((p) => pathMatch(p, familiarString(r)) || pathMatch(p, familiarName(r.name))));
      } catch (err) {
        if (err instanceof PatternError) throw new SystemError(err.message);
        throw err;
      }
      if (matched.length === 0) continue;
      summary.RepoTags = matched.filter((r) => !r.digest).map((r) => familiarString(r));
      const digests = matched.filter((r) => r.digest).map((r) => familiarString(r));
      summary.RepoDigests = digests.length ? digests : null;
    }
    out.push({ created, summary });
  }
  return out.sort((a, b) => b.created - a.created).map((x) => x.summary);
}
