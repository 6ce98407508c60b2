/**
 * POST /images/{name}/tag. dockerd 20.10 answers a repo or tag that does not parse with 500 and
 * the parser's message, and a digest with 400; berth keeps those statuses for compatibility.
 */
import { InvalidParameterError, SystemError } from '../../../src/errdefs/errors.js';
import { isValidTag, parseNormalized, type Reference } from '../reference.js';
import type { ImageService } from './service.js';

/** targetRef reads repo and tag as dockerd's postImagesTag does. */
export function targetRef(repo: string, tag: string): Reference {
  let ref: Reference;
  try {
    ref = parseNormalized(repo);
  } catch (err) {
    throw new SystemError((err as Error).message);
  }
  if (ref.digest) throw new InvalidParameterError('refusing to create a tag with a digest reference');
  if (tag) {
    if (!isValidTag(tag)) throw new SystemError('invalid tag format');
    ref = { name: ref.name, tag };
  }
  return { name: ref.name, tag: ref.tag ?? 'latest' };
}

export async function tagImage(s: ImageService, name: string, repo: string, tag: string): Promise<void> {
  const img = s.resolve(name);
  await s.tag(img, targetRef(repo, tag));
}
