/**
 * Manifests as the Registry HTTP API v2 serves them: Docker v2 schema 2 and manifest lists, OCI
 * manifests and indexes (schema 1 is refused, with dockerd's message), the platform choice in
 * a list, and the registry's error bodies turned into dockerd's messages.
 */
import { createHash } from 'node:crypto';
import { InvalidParameterError, NotFoundError, SystemError, UnauthorizedError, ForbiddenError } from '../../../src/errdefs/errors.js';
import { goArch } from '../../../src/build/info.js';
import type { Response } from './transport.js';

export const MT = {
  schema2: 'application/vnd.docker.distribution.manifest.v2+json',
  list: 'application/vnd.docker.distribution.manifest.list.v2+json',
  schema1: 'application/vnd.docker.distribution.manifest.v1+json',
  schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** The Accept header of a manifest request: every kind berth reads (schema 1 only to refuse it with a clear message). */
export const MANIFEST_ACCEPT = [MT.schema2, MT.list, MT.ociManifest, MT.ociIndex, MT.schema1Signed, MT.schema1].join(', ');

export interface Descriptor {
  mediaType: string;
  size: number;
  digest: string;
  urls?: string[];
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export type Manifest =
  | { kind: 'image'; mediaType: string; config: Descriptor; layers: Descriptor[] }
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] };

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** shortID is the 12 hex characters the progress lines name a layer by. */
export function shortID(digest: string): string {
  return digest.replace(/^[a-z0-9]+:/, '').slice(0, 12);
}

/** Docker Image manifest version 2, schema 1 is gone from dockerd; this is its message. */
export function schema1Error(ref: string): InvalidParameterError {
  return new InvalidParameterError(
    `Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of ${ref} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/`,
  );
}

/**
 * digestError is go-digest's Digest.Validate, for the one algorithm berth stores: null for
 * `sha256:<64 lower-case hex>`, else distribution's words for what is wrong. A digest from a
 * registry names files and URLs, so nothing else may pass.
 */
export function digestError(d: unknown): string | null {
  if (typeof d !== 'string') return 'invalid checksum digest format';
  const i = d.indexOf(':');
  if (i <= 0 || i + 1 === d.length) return 'invalid checksum digest format';
  if (d.slice(0, i) !== 'sha256') {
    return /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(d) ? 'unsupported digest algorithm' : 'invalid checksum digest format';
  }
  const enc = d.slice(i + 1);
  if (enc.length !== 64) return 'invalid checksum digest length';
  return /^[a-f0-9]{64}$/.test(enc) ? null : 'invalid checksum digest format';
}

export function isDigest(d: unknown): d is string {
  return digestError(d) === null;
}

/** A descriptor of a registry's document, checked: its digest (what), its size (a non-negative integer). */
function checkDescriptor(d: unknown, what: string, ref: string, sizeRequired: boolean): Descriptor {
  if (!d || typeof d !== 'object' || Array.isArray(d)) throw new SystemError(`invalid manifest for ${ref}: a ${what} descriptor is not an object`);
  const desc = d as Descriptor;
  const bad = digestError(desc.digest);
  if (bad) throw new SystemError(`could not validate ${what} digest ${JSON.stringify(String(desc.digest))}: ${bad}`);
  if ((sizeRequired || desc.size !== undefined) && !(Number.isSafeInteger(desc.size) && desc.size >= 0)) {
    throw new SystemError(`invalid manifest for ${ref}: ${what} ${desc.digest} has an invalid size ${JSON.stringify(desc.size ?? null)}`);
  }
  if (desc.urls !== undefined && !(Array.isArray(desc.urls) && desc.urls.every((u) => typeof u === 'string'))) {
    throw new SystemError(`invalid manifest for ${ref}: ${what} ${desc.digest} has invalid urls`);
  }
  if (typeof desc.mediaType !== 'string') desc.mediaType = '';
  return desc;
}

function descriptorList(v: unknown, what: string, ref: string, sizeRequired: boolean): Descriptor[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new SystemError(`invalid manifest for ${ref}: ${what}s is not a list`);
  return v.map((d) => checkDescriptor(d, what, ref, sizeRequired));
}

/**
 * parseManifest reads a manifest by its media type (the response's, else the document's).
 * Every descriptor is checked (digest format, size), as dockerd's "could not validate layer digest".
 */
export function parseManifest(raw: Buffer, contentType: string | undefined, ref: string): Manifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new SystemError(`invalid manifest for ${ref}: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new SystemError(`invalid manifest for ${ref}: not a JSON object`);
  const ct = (contentType ?? '').split(';')[0]!.trim();
  const mediaType = (typeof doc.mediaType === 'string' && doc.mediaType) || ct;
  if (doc.schemaVersion === 1 || mediaType === MT.schema1 || mediaType === MT.schema1Signed) throw schema1Error(ref);
  if (doc.schemaVersion !== 2) throw new SystemError(`unsupported schema version ${String(doc.schemaVersion)} for ${JSON.stringify(ref)}`);
  if (mediaType === MT.list || mediaType === MT.ociIndex || (Array.isArray(doc.manifests) && !doc.config)) {
    return { kind: 'index', mediaType: mediaType || MT.ociIndex, manifests: descriptorList(doc.manifests, 'manifest', ref, false) };
  }
  if (mediaType === MT.schema2 || mediaType === MT.ociManifest || doc.config) {
    if (!(doc.config as Descriptor | undefined)?.digest) throw new SystemError(`invalid manifest for ${ref}: no config`);
    // Layers first, as dockerd's pullSchema2Layers validates them before it asks for the config.
    const layers = descriptorList(doc.layers, 'layer', ref, true);
    const config = checkDescriptor(doc.config, 'config', ref, true);
    return { kind: 'image', mediaType: mediaType || MT.ociManifest, config, layers };
  }
  throw new InvalidParameterError('unsupported manifest format');
}

/** The platform a pull asks for: `os[/arch[/variant]]`, linux/<this machine's arch> by default. */
export function parsePlatform(spec: string): Platform {
  if (!spec) return { os: 'linux', architecture: goArch() };
  const parts = spec.toLowerCase().split('/');
  if (parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new InvalidParameterError(`"${spec}": unknown operating system or architecture: invalid argument`);
  }
  const arch: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm' };
  const p: Platform = { os: parts[0]!, architecture: arch[parts[1] ?? ''] ?? parts[1] ?? goArch() };
  if (parts[2]) p.variant = parts[2];
  else if (p.architecture === 'arm64' && parts[1]) p.variant = undefined;
  return p;
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** pickPlatform chooses the list entry for a platform, as containerd's matcher (variant only when both name one). */
export function pickPlatform(list: Descriptor[], want: Platform): Descriptor {
  const candidates = list.filter((d) => {
    const p = d.platform;
    if (!p) return false;
    if (p.os !== want.os || p.architecture !== want.architecture) return false;
    if (want.variant && p.variant && p.variant !== want.variant) return false;
    return true;
  });
  // Exact variant first, then the first that matches.
  const exact = candidates.find((d) => (d.platform!.variant ?? '') === (want.variant ?? ''));
  const hit = exact ?? candidates[0];
  if (!hit) throw new NotFoundError(`no matching manifest for ${formatPlatform(want)} in the manifest list entries`);
  return hit;
}

interface RegistryErrorBody {
  errors?: Array<{ code?: string; message?: string; detail?: unknown }>;
}

/**
 * registryError reads the registry's error body ({"errors":[{code, message}]}) as distribution's
 * errcode does: "<code in lower case, with spaces>: <message>", joined when there are several.
 */
export async function registryErrorText(res: Response): Promise<string> {
  const text = await res.text(64 << 10).catch(() => '');
  try {
    const body = JSON.parse(text) as RegistryErrorBody;
    const errs = (body.errors ?? []).map((e) => `${String(e.code ?? 'unknown').toLowerCase().replace(/_/g, ' ')}: ${String(e.message ?? '')}`);
    // What a registry says is quoted, not all of it (a body may be 64 KiB).
    const clip = (t: string) => (t.length > 4096 ? `${t.slice(0, 4096)}…` : t);
    if (errs.length === 1) return clip(errs[0]!);
    if (errs.length > 1) return clip(`errors:\n${errs.join('\n')}\n`);
  } catch {
    // not JSON
  }
  return text.trim() ? `unexpected status ${res.status}: ${text.trim().slice(0, 200)}` : `unexpected status code ${res.status}`;
}

/** registryError maps a failed response to the error class of its status. */
export async function registryError(res: Response, prefix = ''): Promise<Error> {
  const msg = prefix + (await registryErrorText(res));
  if (res.status === 404) return new NotFoundError(msg);
  if (res.status === 401) return new UnauthorizedError(msg);
  if (res.status === 403) return new ForbiddenError(msg);
  if (res.status === 400) return new InvalidParameterError(msg);
  return new SystemError(msg);
}

/** The schema 2 manifest dockerd pushes, marshalled as Go's json.MarshalIndent(m, "", "   "). */
export function schema2Manifest(config: { size: number; digest: string }, layers: Array<{ size: number; digest: string; mediaType?: string }>): Buffer {
  const m = {
    schemaVersion: 2,
    mediaType: MT.schema2,
    config: { mediaType: MT.dockerConfig, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: l.mediaType ?? MT.dockerLayer, size: l.size, digest: l.digest })),
  };
  return Buffer.from(JSON.stringify(m, null, 3));
}
