/**
 * Image references as docker/distribution defines them (the grammar, not the code):
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] path-component ["/" path-component]*
 *
 * Normalized on the way in ("bb" → docker.io/library/bb), familiar on the way out
 * ("docker.io/library/bb:latest" → "bb:latest"), with dockerd's error messages.
 */
import { InvalidParameterError } from '../../src/errdefs/errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
const OFFICIAL_PREFIX = 'library/';

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const HEX64 = /^[a-f0-9]{64}$/;
const TAG_ONLY = new RegExp(`^${TAG}$`);

export interface Reference {
  /** Normalized name: domain and path, e.g. docker.io/library/bb, 127.0.0.1:5000/x. */
  name: string;
  tag?: string;
  digest?: string;
}

/** invalidReference is dockerd's error for a string that is not a reference. */
function invalid(msg = 'invalid reference format'): InvalidParameterError {
  return new InvalidParameterError(msg);
}

function splitDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  let domain: string;
  let rest: string;
  if (i < 0 || (!/[.:]/.test(name.slice(0, i)) && name.slice(0, i) !== 'localhost' && name.slice(0, i).toLowerCase() === name.slice(0, i))) {
    domain = DEFAULT_DOMAIN;
    rest = name;
  } else {
    domain = name.slice(0, i);
    rest = name.slice(i + 1);
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !rest.includes('/')) rest = OFFICIAL_PREFIX + rest;
  return [domain, rest];
}

/** parseNormalized is ParseNormalizedNamed: a name with optional tag and digest, normalized. */
export function parseNormalized(s: string): Reference {
  if (HEX64.test(s)) throw invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  // Split off tag and digest before normalizing the name part.
  const at = s.indexOf('@');
  const namePart = at >= 0 ? s.slice(0, at) : s;
  const colon = namePart.lastIndexOf(':');
  const slash = namePart.lastIndexOf('/');
  const bare = colon > slash ? namePart.slice(0, colon) : namePart;
  const [domain, rest] = splitDomain(bare);
  if (rest.toLowerCase() !== rest) throw invalid('invalid reference format: repository name must be lowercase');
  const full = `${domain}/${rest}${s.slice(bare.length)}`;
  const m = REFERENCE.exec(full);
  if (!m) throw invalid();
  if (m[1]!.length > 255) throw invalid('invalid reference format: repository name must not be more than 255 characters');
  return { name: m[1]!, tag: m[2], digest: m[3] };
}

/** familiarName strips docker.io/ and library/ as the CLI shows names. */
export function familiarName(name: string): string {
  if (!name.startsWith(`${DEFAULT_DOMAIN}/`)) return name;
  const rest = name.slice(DEFAULT_DOMAIN.length + 1);
  return rest.startsWith(OFFICIAL_PREFIX) && !rest.slice(OFFICIAL_PREFIX.length).includes('/') ? rest.slice(OFFICIAL_PREFIX.length) : rest;
}

/** familiarString: "bb:latest", "127.0.0.1:5000/x@sha256:…". */
export function familiarString(r: Reference): string {
  return `${familiarName(r.name)}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** withDefaultTag is TagNameOnly: a reference with neither tag nor digest gets :latest. */
export function withDefaultTag(r: Reference): Reference {
  return r.tag || r.digest ? r : { ...r, tag: 'latest' };
}

export function isValidTag(tag: string): boolean {
  return TAG_ONLY.test(tag);
}

/** What a user may give for an image: a reference, or an image ID (full, or sha256:…). */
export type ImageRef = { kind: 'id'; id: string } | { kind: 'ref'; ref: Reference; raw: string };

/** parseAny is ParseAnyReference: 64 hex or sha256:<64 hex> is an ID; anything else a reference. */
export function parseAny(s: string): ImageRef {
  if (HEX64.test(s)) return { kind: 'id', id: `sha256:${s}` };
  if (/^sha256:[a-f0-9]{64}$/.test(s)) return { kind: 'id', id: s };
  return { kind: 'ref', ref: parseNormalized(s), raw: s };
}
