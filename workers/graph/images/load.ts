/**
 * POST /images/load: an archive from `docker save` (manifest.json, any dockerd version, and
 * skopeo's docker-archive) or an OCI image layout (oci-layout + index.json, as umoci and
 * skopeo write them), plain or compressed, with compressed layers or not.
 *
 * The archive is unpacked into <data-root>/tmp first (a pool task, every name kept inside),
 * then each image's missing layers are extracted and checked against the config's diffIDs
 * (and an OCI blob against its digest) before anything is tagged. Errors after the stream has
 * begun are reported in it (errorDetail), as dockerd's, by the API actor.
 */
import { randomBytes } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobContext } from '../../../src/actor/runtime.js';
import { SystemError } from '../../../src/errdefs/errors.js';
import { goArch } from '../../../src/build/info.js';
import { familiarString, parseNormalized, type Reference } from '../reference.js';
import { resolveInRootSync } from '../../../src/fs/rootpath.js';
import { chainID } from '../store/layers.js';
import { imageID, type ImageConfig } from '../store/images.js';
import { Progress } from '../progress.js';
import type { ImageService } from './service.js';

interface LoadEntry {
  config: string;
  /** Expected digest of the config (OCI descriptors); docker-archive names none. */
  configDigest?: string;
  tags: Reference[];
  layers: Array<{ path: string; digest?: string }>;
}

class LoadError extends SystemError {}

async function readIn(stage: string, name: string): Promise<Buffer> {
  const path = resolveInRootSync(stage, name, { followFinal: true });
  try {
    return await readFile(path);
  } catch (err) {
    throw new LoadError(`invalid archive: ${name} is missing (${(err as NodeJS.ErrnoException).code})`);
  }
}

function blobPath(digest: string): string {
  const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(digest);
  if (!m) throw new LoadError(`invalid digest ${JSON.stringify(digest)}`);
  return `blobs/${m[1]}/${m[2]}`;
}

function parseTag(t: string): Reference {
  const ref = parseNormalized(t);
  if (!ref.tag && !ref.digest) throw new LoadError(`invalid tag "${t}"`);
  return ref;
}

/** dockerArchive reads manifest.json (docker save, skopeo docker-archive). */
async function dockerArchive(stage: string): Promise<LoadEntry[]> {
  const text = (await readIn(stage, 'manifest.json')).toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new LoadError(`invalid manifest.json: ${(err as Error).message}`);
  }
  if (doc === null) throw new LoadError('invalid manifest, manifest cannot be null (but can be [])');
  if (!Array.isArray(doc)) throw new LoadError('invalid manifest.json: expected a list');
  return doc.map((m: { Config?: string; RepoTags?: string[] | null; Layers?: string[] }) => ({
    config: String(m.Config ?? ''),
    tags: (m.RepoTags ?? []).map(parseTag),
    layers: (m.Layers ?? []).map((p) => ({ path: String(p) })),
  }));
}

const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];

/** ociLayout reads index.json (umoci, skopeo oci:, dockerd 25+ save). */
async function ociLayout(stage: string): Promise<LoadEntry[]> {
  const layout = JSON.parse((await readIn(stage, 'oci-layout')).toString()) as { imageLayoutVersion?: string };
  if (layout.imageLayoutVersion !== '1.0.0') throw new LoadError(`unsupported OCI version ${layout.imageLayoutVersion}`);
  const index = JSON.parse((await readIn(stage, 'index.json')).toString()) as { manifests?: Array<{ digest: string; mediaType?: string; annotations?: Record<string, string> }> };
  const byConfig = new Map<string, LoadEntry>();
  for (let desc of index.manifests ?? []) {
    let manifest = JSON.parse((await readIn(stage, blobPath(desc.digest))).toString()) as {
      mediaType?: string;
      manifests?: Array<{ digest: string; platform?: { os?: string; architecture?: string } }>;
      config?: { digest: string };
      layers?: Array<{ digest: string }>;
    };
    if (INDEX_TYPES.includes(manifest.mediaType ?? desc.mediaType ?? '') || manifest.manifests) {
      const pick = manifest.manifests?.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === goArch()) ?? manifest.manifests?.[0];
      if (!pick) continue;
      desc = { ...pick, annotations: desc.annotations };
      manifest = JSON.parse((await readIn(stage, blobPath(pick.digest))).toString());
    }
    if (!manifest.config) throw new LoadError(`invalid OCI manifest ${desc.digest}: no config`);
    const entry = byConfig.get(manifest.config.digest) ?? {
      config: blobPath(manifest.config.digest),
      configDigest: manifest.config.digest,
      tags: [],
      layers: (manifest.layers ?? []).map((l) => ({ path: blobPath(l.digest), digest: l.digest })),
    };
    const name = desc.annotations?.['io.containerd.image.name'] ?? desc.annotations?.['org.opencontainers.image.ref.name'];
    // A bare ref.name ("latest") names no repository: the image loads untagged.
    if (name && /[/:]/.test(name)) {
      try {
        entry.tags.push(parseTag(name));
      } catch {
        // not a reference: untagged
      }
    }
    byConfig.set(manifest.config.digest, entry);
  }
  return [...byConfig.values()];
}

export async function loadImages(s: ImageService, quiet: boolean, ctx: JobContext): Promise<void> {
  const out = new Progress(ctx.stdout);
  ctx.stdout?.begin(); // dockerd answers 200 at once: every error from here is in the stream
  const port = ctx.takeStdin();
  if (!port) throw new SystemError('load needs a request body');
  const stage = join(s.tmpRoot, `load-${randomBytes(8).toString('hex')}`);
  try {
    try {
      await s.pool.unpack({ source: { port }, dest: stage, maxBytes: await s.spaceLeft() });
    } catch (err) {
      throw new LoadError(`Error processing tar file: ${(err as Error).message}`);
    }
    const hasManifest = await lstat(join(stage, 'manifest.json')).then(() => true, () => false);
    const hasLayout = await lstat(join(stage, 'oci-layout')).then(() => true, () => false);
    if (!hasManifest && !hasLayout) throw new LoadError('unrecognized image format: the archive has neither manifest.json nor an OCI layout');
    const entries = hasManifest ? await dockerArchive(stage) : await ociLayout(stage);

    let idLines = '';
    let tagCount = 0;
    for (const e of entries) {
      const raw = await readIn(stage, e.config);
      const id = imageID(raw);
      if (e.configDigest && e.configDigest !== id) throw new LoadError(`config digest mismatch: expected ${e.configDigest}, got ${id}`);
      let cfg: ImageConfig;
      try {
        cfg = JSON.parse(raw.toString('utf8')) as ImageConfig;
      } catch (err) {
        throw new LoadError(`invalid image config ${e.config}: ${(err as Error).message}`);
      }
      const diffIDs = cfg.rootfs?.diff_ids ?? [];
      if (diffIDs.length !== e.layers.length) throw new LoadError(`invalid manifest, layers length mismatch: expected ${diffIDs.length}, got ${e.layers.length}`);
      let parent: string | null = null;
      for (let i = 0; i < diffIDs.length; i++) {
        const expected = diffIDs[i]!;
        const chain = chainID(parent, expected);
        if (!s.layers.get(chain)) {
          const path = resolveInRootSync(stage, e.layers[i]!.path, { followFinal: true });
          const total = (await lstat(path).catch(() => null))?.size ?? 0;
          const short = expected.replace(/^sha256:/, '').slice(0, 12);
          const ch = quiet ? null : new MessageChannel();
          ch?.port1.on('message', (p: { read: number }) => void out.progress('Loading layer', short, p.read, total));
          try {
            await s.layers.register(
              parent,
              async (dir) => {
                const r = await s.pool.apply({ source: { path }, root: dir, format: s.driver.format, progress: ch?.port2, maxBytes: await s.spaceLeft() });
                const want = e.layers[i]!.digest;
                if (want && r.sourceDigest !== want) throw new LoadError(`layer blob digest mismatch: expected ${want}, got ${r.sourceDigest}`);
                if (r.diffID !== expected) throw new LoadError(`invalid diffID for layer ${i}: expected "${expected}", got "${r.diffID}"`);
                return r;
              },
              expected,
            );
          } finally {
            ch?.port1.close();
          }
          if (!quiet) await out.progress('Loading layer', short, total, total);
        }
        parent = chain;
      }
      const { image } = await s.images.create(raw, true);
      tagCount = 0;
      for (const ref of e.tags) {
        const old = s.refs.get(ref);
        if (old && old !== image.id) {
          await out.stream(`The image ${familiarString(ref)} already exists, renaming the old one with ID ${old} to empty string\n`);
        }
        await s.refs.add(ref, image.id);
        await out.stream(`Loaded image: ${familiarString(ref)}\n`);
        tagCount++;
      }
      await s.images.settle(image.id);
      await s.event('load', image, image.id);
      idLines += `Loaded image ID: ${image.id}\n`;
    }
    // As dockerd: the IDs are printed when the last image had no tags.
    if (entries.length > 0 && tagCount === 0) await out.stream(idLines);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
