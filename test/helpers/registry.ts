/**
 * A real Registry HTTP API v2 server for tests: Debian's docker-registry (distribution 2.8)
 * on 127.0.0.1 on a free port, its storage in a fresh temp dir; optionally with htpasswd basic
 * auth and/or TLS with a test CA made by openssl for this run. stop() ends it by its pid and
 * removes the temp dir (and a process exit hook does the same for registries a failed test left).
 *
 * Also: an OCI layout of a small multi-layer busybox image made here (no docker needed), pushed
 * with `skopeo copy`, and manifests read back with `skopeo inspect`.
 *
 *   const reg = await startRegistry({ auth: true, tls: true });
 *   const { digest } = await pushTestImage(reg, 'x:1');
 *   // berthd: CA in reg.certsDir/<reg.host>/ca.crt; credentials reg.user / reg.password
 *   await reg.stop();
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { busyboxTar } from './images.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface RegistryOptions {
  /** htpasswd basic auth (realm "basic-realm"); `true` means user "tester", password "s3cret". */
  auth?: boolean | { user: string; password: string };
  /** Serve HTTPS with a server certificate for IP:127.0.0.1 signed by a test CA made for this registry. */
  tls?: boolean;
  /** Extra YAML appended to the config (top-level keys not otherwise written, e.g. "notifications: ..."). */
  extraConfig?: string;
  /** How long to wait for /v2/ to answer (default 15 s). */
  readyTimeoutMs?: number;
}

export interface Registry {
  /** http://127.0.0.1:PORT or https://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** "127.0.0.1:PORT": the registry part of an image reference. */
  host: string;
  port: number;
  tls: boolean;
  /** The temp dir holding config.yml, storage/, htpasswd and the certificates. */
  dir: string;
  /** The registry's storage root (filesystem driver). */
  storage: string;
  /** PEM of the test CA (TLS only). */
  caCert?: string;
  /** PEM of the CA's private key (TLS only), to sign more certificates if a test needs them. */
  caKey?: string;
  /**
   * A certs.d-style directory: `<certsDir>/<host>/ca.crt` (TLS only), laid out as dockerd reads
   * /etc/docker/certs.d. `<certsDir>/<host>` alone is what skopeo's --*-cert-dir wants.
   */
  certsDir?: string;
  user?: string;
  password?: string;
  /** "user:password" for skopeo --creds (auth only). */
  creds?: string;
  /** base64url JSON for the Engine API's X-Registry-Auth header ({} without auth), as the docker CLI sends it. */
  xRegistryAuth: string;
  pid: number;
  /** Everything the registry printed so far (its log, with one access-log line per request). */
  output(): string;
  /** GET/HEAD … on the registry itself, with the credentials and the CA when it has them. */
  fetch(method: string, path: string, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>;
  /** SIGTERM by pid (SIGKILL after 5 s), wait for the exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Registries this process started and has not stopped: killed by pid and cleaned at exit. */
const live = new Map<number, string>();
process.on('exit', () => {
  for (const [pid, dir] of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** makeTestCA writes ca.key/ca.crt and server.key/server.crt (SAN IP:127.0.0.1, DNS:localhost) into dir. */
export function makeTestCA(dir: string): { caCert: string; caKey: string; cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=berth registry test CA', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr'], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.crt'], dir);
  return { caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const dir = mkdtempSync('/tmp/btreg-');
  try {
    return await startIn(dir, opts);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function startIn(dir: string, opts: RegistryOptions): Promise<Registry> {
  const storage = join(dir, 'storage');
  mkdirSync(storage);
  const auth = opts.auth === true ? { user: 'tester', password: 's3cret' } : opts.auth || undefined;
  const tls = !!opts.tls;
  let pki: ReturnType<typeof makeTestCA> | undefined;
  if (tls) pki = makeTestCA(join(dir, 'pki'));
  if (auth) writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', auth.user, auth.password]));

  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = [
      'version: 0.1',
      'log:',
      '  level: info',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${host}`,
      // A fixed secret: upload state stays valid if a test restarts the registry on the same dir.
      '  secret: berth-test-registry-secret',
      ...(pki ? ['  tls:', `    certificate: ${pki.cert}`, `    key: ${pki.key}`] : []),
      ...(auth ? ['auth:', '  htpasswd:', '    realm: basic-realm', `    path: ${join(dir, 'htpasswd')}`] : []),
      ...(opts.extraConfig ? [opts.extraConfig] : []),
      '',
    ].join('\n');
    writeFileSync(join(dir, 'config.yml'), config);

    const proc: ChildProcess = spawn('setpriv', ['--pdeathsig', 'KILL', '--', REGISTRY_BIN, 'serve', join(dir, 'config.yml')], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<void>((resolve) => proc.on('close', () => resolve()));
    let ended = false;
    void exited.then(() => {
      ended = true;
      live.delete(proc.pid!);
    });
    live.set(proc.pid!, dir);

    const url = `${tls ? 'https' : 'http'}://${host}`;
    const ca = pki ? readFileSync(pki.caCert) : undefined;
    const authHeader = auth ? 'Basic ' + Buffer.from(`${auth.user}:${auth.password}`).toString('base64') : undefined;
    const doFetch: Registry['fetch'] = (method, path, headers = {}) =>
      new Promise((resolve, reject) => {
        const h: Record<string, string> = { ...(authHeader ? { Authorization: authHeader } : {}), ...headers };
        const cb = (res: import('node:http').IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        };
        const req = tls
          ? httpsRequest({ host: '127.0.0.1', port, method, path, headers: h, ca, timeout: 5000 }, cb)
          : httpRequest({ host: '127.0.0.1', port, method, path, headers: h, timeout: 5000 }, cb);
        req.on('timeout', () => req.destroy(new Error(`${method} ${url}${path}: timed out`)));
        req.on('error', reject);
        req.end();
      });

    const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
    let ready = false;
    while (!ended && Date.now() < deadline) {
      try {
        const r = await doFetch('GET', '/v2/');
        if (r.status === 200 || r.status === 401) {
          ready = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!ready) {
      if (!ended) proc.kill('SIGKILL');
      await exited;
      // Another process took the port between freePort() and the bind: try another one.
      if (attempt < 2 && /address already in use/.test(out)) continue;
      throw new Error(`docker-registry did not answer on ${url}/v2/:\n${out}`);
    }

    let certsDir: string | undefined;
    if (pki) {
      certsDir = join(dir, 'certs.d');
      mkdirSync(join(certsDir, host), { recursive: true });
      writeFileSync(join(certsDir, host, 'ca.crt'), readFileSync(pki.caCert));
    }
    const xAuth = auth ? { username: auth.user, password: auth.password, serveraddress: host } : {};
    let stopping: Promise<void> | undefined;
    return {
      url,
      host,
      port,
      tls,
      dir,
      storage,
      caCert: pki?.caCert,
      caKey: pki?.caKey,
      certsDir,
      user: auth?.user,
      password: auth?.password,
      creds: auth ? `${auth.user}:${auth.password}` : undefined,
      xRegistryAuth: Buffer.from(JSON.stringify(xAuth)).toString('base64url'),
      pid: proc.pid!,
      output: () => out,
      fetch: doFetch,
      stop: () =>
        (stopping ??= (async () => {
          if (!ended) {
            proc.kill('SIGTERM');
            const t = setTimeout(() => {
              if (!ended) proc.kill('SIGKILL');
            }, 5000);
            await exited;
            clearTimeout(t);
          }
          live.delete(proc.pid!);
          rmSync(dir, { recursive: true, force: true });
        })()),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Test images as OCI layouts, and skopeo.

export interface OciImage {
  /** The layout directory; `oci:<dir>:<tag>` for skopeo. */
  dir: string;
  tag: string;
  ref: string;
  /** Compressed layer digests (what a registry stores), bottom first. */
  layers: string[];
  /** Uncompressed layer digests (the config's rootfs.diff_ids). */
  diffIds: string[];
  configDigest: string;
  /** The OCI manifest's digest in the layout (a v2s2 copy has another). */
  manifestDigest: string;
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A one-file tar (GNU tar, numeric owners) made from a temp dir. */
function fileTar(work: string, name: string, content: Buffer | string): Buffer {
  const root = mkdtempSync(join(work, 'l-'));
  writeFileSync(join(root, name), content);
  const out = join(work, `${name}.tar`);
  execFileSync('tar', ['-C', root, '--numeric-owner', '--owner=0', '--group=0', '-cf', out, name]);
  return readFileSync(out);
}

/**
 * ociBusybox writes an OCI image layout of busybox (its own layer, from images.ts busyboxTar) plus
 * `extraLayers` small layers (file /layerN.txt, N = 1..), CMD ["/bin/sh"], into `<workDir>/oci`.
 * `bigLayerBytes` adds one more layer with a file of that many random bytes (for progress bars).
 */
export function ociBusybox(workDir: string, opts: { tag?: string; extraLayers?: number; bigLayerBytes?: number; cmd?: string[]; architecture?: string; variant?: string } = {}): OciImage {
  const tag = opts.tag ?? 'latest';
  const dir = join(workDir, 'oci');
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const build = join(workDir, 'build');
  mkdirSync(build, { recursive: true });
  const tars: Buffer[] = [readFileSync(existsSync(join(build, 'busybox.tar')) ? join(build, 'busybox.tar') : busyboxTar(build))];
  for (let i = 1; i <= (opts.extraLayers ?? 1); i++) tars.push(fileTar(build, `layer${i}.txt`, `layer ${i}\n`));
  if (opts.bigLayerBytes) tars.push(fileTar(build, 'big.bin', randomBytesLike(opts.bigLayerBytes)));
  const put = (b: Buffer) => {
    const d = sha(b);
    writeFileSync(join(blobs, d.slice(7)), b);
    return d;
  };
  const layers: { mediaType: string; digest: string; size: number }[] = [];
  const diffIds: string[] = [];
  for (const t of tars) {
    diffIds.push(sha(t));
    const gz = gzipSync(t);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length });
  }
  const created = '2026-01-01T00:00:00Z';
  const config = Buffer.from(
    JSON.stringify({
      created,
      architecture: opts.architecture ?? 'amd64',
      ...(opts.variant ? { variant: opts.variant } : {}),
      os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: opts.cmd ?? ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: tars.map((_, i) => ({ created, created_by: i === 0 ? 'busybox' : `layer ${i}` })),
    }),
  );
  const configDigest = put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers,
    }),
  );
  const manifestDigest = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return { dir, tag, ref: `oci:${dir}:${tag}`, layers: layers.map((l) => l.digest), diffIds, configDigest, manifestDigest };
}

export interface OciIndexImage {
  /** The layout directory; `oci:<dir>:<tag>` for skopeo (use `skopeo copy --all` to push every platform). */
  dir: string;
  tag: string;
  ref: string;
  /** The OCI image index's digest in the layout (the registry keeps it as is with --all --format oci). */
  indexDigest: string;
  /** One image per platform, in the index's order. */
  images: Array<OciImage & { platform: { os: string; architecture: string; variant?: string } }>;
}

/**
 * ociMultiPlatform writes an OCI layout whose `tag` is an image index with one busybox image per
 * platform (each from ociBusybox with that architecture in its config, so every image has its own
 * config digest and ID; the layers are the same bytes). The platforms default to linux/amd64 and
 * linux/arm64/v8.
 */
export function ociMultiPlatform(workDir: string, opts: { tag?: string; platforms?: Array<{ architecture: string; variant?: string }>; extraLayers?: number } = {}): OciIndexImage {
  const tag = opts.tag ?? 'latest';
  const platforms = opts.platforms ?? [{ architecture: 'amd64' }, { architecture: 'arm64', variant: 'v8' }];
  const dir = join(workDir, 'oci');
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const images: OciIndexImage['images'] = [];
  const entries: unknown[] = [];
  for (const p of platforms) {
    const sub = join(workDir, `p-${p.architecture}${p.variant ?? ''}`);
    mkdirSync(join(sub, 'build'), { recursive: true });
    // One busybox tar for every platform (the layer is shared), built once.
    if (images.length > 0) writeFileSync(join(sub, 'build', 'busybox.tar'), readFileSync(join(workDir, `p-${platforms[0]!.architecture}${platforms[0]!.variant ?? ''}`, 'build', 'busybox.tar')));
    const img = ociBusybox(sub, { tag: 'x', extraLayers: opts.extraLayers ?? 1, architecture: p.architecture, variant: p.variant });
    for (const d of [...img.layers, img.configDigest, img.manifestDigest]) writeFileSync(join(blobs, d.slice(7)), readFileSync(join(img.dir, 'blobs', 'sha256', d.slice(7))));
    const size = readFileSync(join(img.dir, 'blobs', 'sha256', img.manifestDigest.slice(7))).length;
    const platform = { architecture: p.architecture, os: 'linux', ...(p.variant ? { variant: p.variant } : {}) };
    entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: img.manifestDigest, size, platform });
    images.push({ ...img, dir, tag, ref: `oci:${dir}:${tag}`, platform });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries }));
  const indexDigest = sha(index);
  writeFileSync(join(blobs, indexDigest.slice(7)), index);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return { dir, tag, ref: `oci:${dir}:${tag}`, indexDigest, images };
}

/** n incompressible bytes (a counter-mode sha256 stream), so a layer's compressed size stays near n. */
function randomBytesLike(n: number): Buffer {
  const out = Buffer.alloc(n);
  const seed = `${process.pid}-${Date.now()}-${Math.random()}`;
  for (let off = 0, i = 0; off < n; i++) {
    const h = createHash('sha256').update(`${seed}-${i}`).digest();
    h.copy(out, off);
    off += h.length;
  }
  return out;
}

export interface SkopeoResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runSkopeo(args: string[], timeoutMs = 120_000): Promise<SkopeoResult> {
  return new Promise((resolve) => {
    execFile('skopeo', args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The skopeo flags to reach `reg` as source ("src") or destination ("dest"): TLS via its CA, or plain http; its credentials. */
export function skopeoRegistryFlags(reg: Registry, side: 'src' | 'dest' | 'plain'): string[] {
  const p = side === 'plain' ? '' : `${side}-`;
  const f = reg.tls && reg.certsDir ? [`--${p}cert-dir`, join(reg.certsDir, reg.host)] : [`--${p}tls-verify=false`];
  if (reg.creds) f.push(`--${p}creds`, reg.creds);
  return f;
}

export interface CopyOptions {
  /** Manifest format written to the destination: Docker v2 schema 2 (default) or OCI. */
  format?: 'v2s2' | 'oci';
  /** Extra skopeo copy flags. */
  args?: string[];
  timeoutMs?: number;
}

/**
 * skopeoCopy runs `skopeo copy` from any transport reference (oci:…, docker-archive:…,
 * docker://…) to `docker://<reg.host>/<repoTag>`, with the registry's CA or --dest-tls-verify=false,
 * and its credentials. Throws with skopeo's stderr and the registry's log on failure.
 */
export async function skopeoCopy(src: string, reg: Registry, repoTag: string, opts: CopyOptions = {}): Promise<SkopeoResult> {
  const args = ['--insecure-policy', 'copy', '--retry-times', '0', ...skopeoRegistryFlags(reg, 'dest'), ...(opts.format === 'oci' ? ['--format', 'oci'] : ['--format', 'v2s2']), ...(opts.args ?? []), src, `docker://${reg.host}/${repoTag}`];
  const r = await runSkopeo(args, opts.timeoutMs);
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n--- registry log:\n${reg.output().slice(-4000)}`);
  return r;
}

/** skopeoPull copies `docker://<reg.host>/<repoTag>` to a local destination reference (oci:<dir>:<tag>, dir:<dir>, docker-archive:<file>:<name>). */
export async function skopeoPull(reg: Registry, repoTag: string, dest: string, opts: { args?: string[]; timeoutMs?: number } = {}): Promise<SkopeoResult> {
  const args = ['--insecure-policy', 'copy', '--retry-times', '0', ...skopeoRegistryFlags(reg, 'src'), ...(opts.args ?? []), `docker://${reg.host}/${repoTag}`, dest];
  const r = await runSkopeo(args, opts.timeoutMs);
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n--- registry log:\n${reg.output().slice(-4000)}`);
  return r;
}

export interface PushedImage extends OciImage {
  /** The digest of the manifest as stored in the registry (Docker-Content-Digest). */
  digest: string;
  /** "127.0.0.1:PORT/repo:tag" */
  reference: string;
  /** The stored manifest's raw bytes. */
  manifest: string;
}

/**
 * pushTestImage builds a busybox OCI layout (busybox + `extraLayers` layers, default 1) in a temp
 * dir, copies it to `<reg.host>/<repoTag>` with skopeo (v2s2 by default) and returns the digest and
 * raw manifest the registry stores. The temp dir is removed.
 */
export async function pushTestImage(reg: Registry, repoTag: string, opts: { extraLayers?: number; bigLayerBytes?: number; cmd?: string[]; format?: 'v2s2' | 'oci' } = {}): Promise<PushedImage> {
  const work = mkdtempSync('/tmp/btimg-');
  try {
    const img = ociBusybox(work, { tag: 'latest', extraLayers: opts.extraLayers, bigLayerBytes: opts.bigLayerBytes, cmd: opts.cmd });
    await skopeoCopy(img.ref, reg, repoTag, { format: opts.format });
    const raw = await inspectManifest(reg, repoTag);
    const layers = (JSON.parse(raw.manifest) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
    return { ...img, dir: '', ref: '', layers, digest: raw.digest, reference: `${reg.host}/${repoTag}`, manifest: raw.manifest };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * inspectManifest reads `<reg.host>/<ref>` (repo:tag or repo@digest) back with `skopeo inspect --raw`
 * and returns the raw manifest bytes and their sha256 digest, plus `skopeo inspect`'s summary
 * (Digest, Layers, Architecture, Os …).
 */
export async function inspectManifest(reg: Registry, ref: string): Promise<{ manifest: string; digest: string; info: Record<string, unknown> }> {
  const flags = skopeoRegistryFlags(reg, 'plain');
  const raw = await runSkopeo(['--insecure-policy', 'inspect', '--raw', '--retry-times', '0', ...flags, `docker://${reg.host}/${ref}`]);
  if (raw.code !== 0) throw new Error(`skopeo inspect --raw docker://${reg.host}/${ref} exited ${raw.code}:\n${raw.stderr}`);
  const info = await runSkopeo(['--insecure-policy', 'inspect', '--retry-times', '0', ...flags, `docker://${reg.host}/${ref}`]);
  if (info.code !== 0) throw new Error(`skopeo inspect docker://${reg.host}/${ref} exited ${info.code}:\n${info.stderr}`);
  return { manifest: raw.stdout, digest: sha(Buffer.from(raw.stdout)), info: JSON.parse(info.stdout) as Record<string, unknown> };
}
