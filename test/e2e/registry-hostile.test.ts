/**
 * docker pull against a hostile registry: a small node HTTP server started here on 127.0.0.1
 * that speaks just enough of the Registry HTTP API v2 (GET /v2/, manifests, blobs, tags/list)
 * to send what a real registry never would, with the real docker CLI (or the API) and berthd:
 *
 *   - a manifest whose layer digest is a path (`sha256:../../…/PWNED`) for a layer berthd
 *     already has: refused with dockerd's "could not validate layer digest"; no file is written
 *   - a size that is not a non-negative integer: refused
 *   - `docker pull -a` whose tags/list names a tag that is no tag (`Bad Tag/../x`): refused with
 *     dockerd's "invalid tag format", nothing stored under it, berthd starts again
 *   - a repositories.json with an entry that is no reference: berthd starts, warns, keeps the rest
 *   - a blob that never ends: cut as soon as it passes its size, with a clear error, no temp file
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startBerthd, tempDir, type Berthd } from '../helpers/berthd.js';
import { craftTar, diskState, removeDir } from '../helpers/images.js';
import { goArch } from '../../src/build/info.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MT_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const MT_CONFIG = 'application/vnd.docker.container.image.v1+json';
const MT_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** One layer, gzip'ed, with its diffID and digest. */
function layer(files: Record<string, string>) {
  const tar = craftTar(Object.entries(files).map(([name, data]) => ({ name, type: 'file' as const, data })));
  const gz = gzipSync(tar);
  return { tar, gz, diffID: sha(tar), digest: sha(gz), size: gz.length };
}

function config(diffIDs: string[], cmd: string[]): Buffer {
  return Buffer.from(JSON.stringify({ architecture: goArch(), os: 'linux', config: { Cmd: cmd }, rootfs: { type: 'layers', diff_ids: diffIDs } }));
}

function manifest(cfg: Buffer, layers: Array<{ digest: string; size: unknown }>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_MANIFEST,
      config: { mediaType: MT_CONFIG, size: cfg.length, digest: sha(cfg) },
      layers: layers.map((l) => ({ mediaType: MT_LAYER, size: l.size, digest: l.digest })),
    }),
  );
}

type Handler = (req: IncomingMessage, res: ServerResponse) => boolean | void;

interface Fake {
  server: Server;
  host: string;
  manifests: Map<string, Buffer>;
  blobs: Map<string, Buffer>;
  /** Requests (method + path) in order. */
  seen: string[];
  /** Tried before the maps: return true when it answered. */
  handlers: Handler[];
}

const fakes: Fake[] = [];

/** A registry that serves what the test puts in its maps (manifests by tag or digest, blobs by digest). */
async function fakeRegistry(): Promise<Fake> {
  const f: Fake = { server: null as unknown as Server, host: '', manifests: new Map(), blobs: new Map(), seen: [], handlers: [] };
  f.server = createServer((req, res) => {
    f.seen.push(`${req.method} ${req.url}`);
    res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
    for (const h of f.handlers) if (h(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/v2/') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    const body = m ? (m[2] === 'manifests' ? f.manifests.get(`${m[1]}:${m[3]}`) ?? f.manifests.get(m[3]!) : f.blobs.get(m[3]!)) : undefined;
    if (!body) {
      const code = m?.[2] === 'manifests' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN';
      return void res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code, message: code === 'MANIFEST_UNKNOWN' ? 'manifest unknown' : 'blob unknown to registry' }] }));
    }
    const headers: Record<string, string | number> = { 'Content-Length': body.length, 'Docker-Content-Digest': sha(body) };
    headers['Content-Type'] = m![2] === 'manifests' ? MT_MANIFEST : 'application/octet-stream';
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((r) => f.server.listen(0, '127.0.0.1', () => r()));
  f.host = `127.0.0.1:${(f.server.address() as { port: number }).port}`;
  fakes.push(f);
  return f;
}

/** Puts an image (config + layers + manifest) in a fake registry under repo:tag. */
function serveImage(f: Fake, repo: string, tag: string, layers: Array<ReturnType<typeof layer>>, cmd: string[]) {
  const cfg = config(layers.map((l) => l.diffID), cmd);
  f.blobs.set(sha(cfg), cfg);
  for (const l of layers) f.blobs.set(l.digest, l.gz);
  const m = manifest(cfg, layers);
  f.manifests.set(`${repo}:${tag}`, m);
  f.manifests.set(sha(m), m);
  return { cfg, manifest: m };
}

test.after.always(() => {
  for (const f of fakes) {
    f.server.closeAllConnections();
    f.server.close();
  }
});

const pullApi = (b: Berthd, from: string, tag: string, timeoutMs = 60_000) =>
  b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(from)}&tag=${encodeURIComponent(tag)}`, { headers: { 'X-Registry-Auth': 'e30=' }, timeoutMs });

type Line = { status?: string; errorDetail?: { message: string }; error?: string };
const lines = (body: string) =>
  body
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

const driverOf = (b: Berthd) => (existsSync(join(b.dataRoot, 'image', 'overlay2')) ? 'overlay2' : 'vfs');

test('a manifest whose layer digest is a path, for a layer berthd has: refused as dockerd, and no file is written anywhere', async (t) => {
  const f = await fakeRegistry();
  const base = layer({ 'hello.txt': 'hello\n' });
  serveImage(f, 'x', 'good', [base], ['cat', '/hello.txt']);
  const b = await startBerthd();
  try {
    const ok = await b.docker(['pull', `${f.host}/x:good`], { timeoutMs: 60_000 });
    t.is(ok.code, 0, ok.stderr);
    // The same layer (same diffID) under a digest that walks out of the v2 metadata store to the test's dir.
    const target = join(b.dir, `PWNED-${randomBytes(4).toString('hex')}`);
    const evil = `sha256:${'../'.repeat(24)}${target.slice(1)}`;
    const cfg = config([base.diffID], ['echo', 'evil']);
    f.blobs.set(sha(cfg), cfg);
    f.manifests.set('x:evil', manifest(cfg, [{ digest: evil, size: base.size }]));
    const r = await pullApi(b, `${f.host}/x`, 'evil');
    t.is(r.status, 500, r.body);
    t.is(r.json<{ message: string }>().message, `could not validate layer digest ${JSON.stringify(evil)}: invalid checksum digest length`);
    t.false(existsSync(target), 'the hostile digest named a file that was written');
    // A 64-character path is "format", not "length"; an upper-case or other-algorithm digest too.
    const evil64 = `sha256:${'../'.repeat(20)}tmpx`;
    t.is(evil64.length - 7, 64);
    f.manifests.set('x:evil64', manifest(cfg, [{ digest: evil64, size: base.size }]));
    const r64 = await pullApi(b, `${f.host}/x`, 'evil64');
    t.is(r64.json<{ message: string }>().message, `could not validate layer digest "${evil64}": invalid checksum digest format`);
    f.manifests.set('x:md5', manifest(cfg, [{ digest: 'md5:0123456789abcdef0123456789abcdef', size: base.size }]));
    t.is((await pullApi(b, `${f.host}/x`, 'md5')).json<{ message: string }>().message, 'could not validate layer digest "md5:0123456789abcdef0123456789abcdef": unsupported digest algorithm');
    // A config digest that is a path is refused the same way (it would name the blob URL).
    const badCfg = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT_MANIFEST, config: { mediaType: MT_CONFIG, size: 2, digest: 'sha256:../../x' }, layers: [] }));
    f.manifests.set('x:badcfg', badCfg);
    t.is((await pullApi(b, `${f.host}/x`, 'badcfg')).json<{ message: string }>().message, 'could not validate config digest "sha256:../../x": invalid checksum digest length');
    // Sizes: negative, fractional, a string, missing.
    for (const [tag, size] of [['neg', -1], ['frac', 1.5], ['str', '12'], ['none', undefined]] as const) {
      f.manifests.set(`x:${tag}`, manifest(cfg, [{ digest: base.digest, size }]));
      const rs = await pullApi(b, `${f.host}/x`, tag);
      t.is(rs.status, 500, rs.body);
      t.regex(rs.json<{ message: string }>().message, new RegExp(`^invalid manifest for ${f.host}/x: layer ${base.digest} has an invalid size`));
    }
    // Nothing of the refused pulls: only the good image, its layer, no temp file.
    const state = diskState(b.dataRoot, driverOf(b));
    t.is(state.images.length, 1);
    t.deepEqual(state.tmp, []);
    const names = readFileSync(join(b.dataRoot, 'image', driverOf(b), 'distribution', 'diffid-by-digest', 'sha256', base.digest.slice(7)), 'utf8');
    t.is(names, base.diffID);
    t.is((await b.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', `${f.host}/x:good`])).stdout.trim(), JSON.stringify([base.diffID]));
  } finally {
    await b.stop();
  }
});

test('docker pull -a whose tags/list names a tag that is no tag: dockerd\'s "invalid tag format", nothing stored under it; a bad entry in repositories.json is skipped with a warning', async (t) => {
  const f = await fakeRegistry();
  const l1 = layer({ 'a.txt': 'a\n' });
  const { manifest: m } = serveImage(f, 'tagz', '1', [l1], ['true']);
  // "Bad Tag/../x" reaches the registry as /v2/tagz/manifests/x: serve it there too.
  f.manifests.set('tagz:x', m);
  let tagList: unknown = { name: 'tagz', tags: ['1', 'Bad Tag/../x'] };
  f.handlers.push((req, res) => {
    if (!req.url?.startsWith('/v2/tagz/tags/list')) return false;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(tagList));
    return true;
  });
  const dir = tempDir('bthost-');
  t.teardown(() => removeDir(dir));
  let b = await startBerthd({ dir });
  try {
    const r = await b.docker(['pull', '-a', `${f.host}/tagz`], { timeoutMs: 60_000 });
    t.is(r.code, 1, r.stdout);
    t.is(r.stderr.trim(), 'invalid tag format');
    // As dockerd: the tags before the bad one are pulled; the bad one is not stored.
    const repos = diskState(b.dataRoot, driverOf(b)).repositories;
    t.false(repos.includes('Bad Tag'), repos);
    t.true(repos.includes(`${f.host}/tagz:1`), repos);
    // tags that are not strings: Go's unmarshal error, nothing pulled.
    tagList = { name: 'tagz', tags: ['1', 7] };
    const r2 = await pullApi(b, `${f.host}/tagz`, '');
    t.is(r2.status, 500);
    t.regex(r2.json<{ message: string }>().message, /^json: cannot unmarshal .* of type \[\]string$/);
    await b.stop();
    b = await startBerthd({ dir });
    t.is((await b.docker(['image', 'inspect', `${f.host}/tagz:1`])).code, 0);
    // A repositories.json entry that is no reference (an older berth wrote such): skipped, with a warning.
    const driver = driverOf(b);
    await b.stop();
    const file = join(b.dataRoot, 'image', driver, 'repositories.json');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { Repositories: Record<string, Record<string, string>> };
    const id = doc.Repositories[`${f.host}/tagz`]![`${f.host}/tagz:1`]!;
    doc.Repositories[`${f.host}/tagz`]![`${f.host}/tagz:Bad Tag/../x`] = id;
    doc.Repositories['Up/Per'] = { 'Up/Per:1': id, 'ok:1': 'not-an-id' };
    writeFileSync(file, JSON.stringify(doc));
    b = await startBerthd({ dir });
    // (logfmt escapes the quotes)
    const log = b.output().replace(/\\"/g, '"');
    t.regex(log, /level=warning msg=".*repositories\.json: skipping the reference "127\.0\.0\.1:\d+\/tagz:Bad Tag\/\.\.\/x": invalid reference format/);
    t.regex(log, /skipping the reference "Up\/Per:1"/);
    t.regex(log, /skipping the reference "ok:1": invalid image ID "not-an-id"/);
    const tags = (await b.docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout.trim().split('\n');
    t.deepEqual(tags, [`${f.host}/tagz:1`]);
  } finally {
    await b.stop();
  }
});

test('berthd -D: the password, identity token and registry token of a login and of a pull never show in the log, /debug/actors or the SIGQUIT dump', async (t) => {
  const f = await fakeRegistry();
  const l1 = layer({ 'b.txt': 'b\n' });
  serveImage(f, 'sec', '1', [l1], ['true']);
  // The layer blob waits until the test has looked at the jobs in flight.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let blobAsked = false;
  const inner = f.server.listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;
  f.server.removeAllListeners('request');
  f.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.includes(`/blobs/${l1.digest}`)) {
      blobAsked = true;
      void gate.then(() => inner(req, res));
    } else inner(req, res);
  });
  const secret = `pw-${randomBytes(8).toString('hex')}`;
  const idToken = `idt-${randomBytes(8).toString('hex')}`;
  const regToken = `rgt-${randomBytes(8).toString('hex')}`;
  const b = await startBerthd({ args: ['-D', '--debug-failpoints'] });
  t.teardown(() => {
    release();
    return b.stop().then(() => undefined);
  });
  const login = await b.request('POST', '/v1.41/auth', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'u', password: secret, serveraddress: f.host }) });
  t.is(login.status, 200, login.body);
  const xra = Buffer.from(JSON.stringify({ username: 'u', password: secret, identitytoken: idToken, registrytoken: regToken, serveraddress: f.host })).toString('base64url');
  const pulling = b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${f.host}/sec`)}&tag=1`, { headers: { 'X-Registry-Auth': xra }, timeoutMs: 60_000 });
  pulling.catch(() => {});
  const deadline = Date.now() + 20_000;
  while (!blobAsked && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.true(blobAsked, 'the pull reached its blob');
  const actors = await b.request('GET', '/debug/actors');
  t.is(actors.status, 200);
  t.regex(actors.body, /pull\(/, 'the pull is in flight');
  // SIGQUIT: the dump of the actors and jobs in flight, then the daemon exits.
  b.proc.kill('SIGQUIT');
  await b.exited;
  const out = b.output();
  t.regex(out, /=== berthd SIGQUIT dump ===[\s\S]*pull\(/);
  t.regex(out, /\+job auth\(/);
  t.regex(out, /\+job image_pull\(/);
  t.regex(out, /<redacted>/);
  for (const s of [secret, idToken, regToken, xra]) {
    t.false(out.includes(s), `${s} is in the daemon's output`);
    t.false(actors.body.includes(s), `${s} is in /debug/actors`);
  }
});

test('a blob that does not end where its manifest says: cut as soon as it passes its size, a clear error, no temp file', async (t) => {
  const f = await fakeRegistry();
  const l1 = layer({ 'c.txt': 'c\n' });
  serveImage(f, 'big', '1', [l1], ['true']);
  // The blob: its real bytes, then garbage, up to 32 MiB (or until the client hangs up); no Content-Length.
  const MAX = 32 << 20;
  let sent = 0;
  let finished = false;
  f.handlers.push((req, res) => {
    if (!req.url?.endsWith(`/blobs/${l1.digest}`)) return false;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 << 10, 0x61);
    let first = true;
    const pump = () => {
      while (sent < MAX && !res.destroyed) {
        const b = first ? Buffer.concat([l1.gz, chunk]) : chunk;
        first = false;
        sent += b.length;
        if (!res.write(b)) return void res.once('drain', pump);
      }
      if (!res.destroyed) {
        finished = true;
        res.end();
      }
    };
    pump();
    return true;
  });
  const b = await startBerthd();
  try {
    const t0 = Date.now();
    const r = await pullApi(b, `${f.host}/big`, '1');
    t.is(r.status, 200);
    const last = lines(r.body).at(-1);
    t.is(last?.errorDetail?.message, `filesystem layer verification failed for digest ${l1.digest}: the registry sent more than the ${l1.size} bytes of its manifest`, r.body.slice(-300));
    t.true(Date.now() - t0 < 10_000);
    t.false(finished, `berthd read all ${sent} bytes`);
    const state = diskState(b.dataRoot, driverOf(b));
    t.deepEqual(state.tmp, [], 'no temp file');
    t.deepEqual(state.layers, []);
    t.deepEqual(state.layerTmp, []);
    // A Content-Length larger than the size is refused before any byte is read.
    const l2 = layer({ 'd.txt': 'd\n' });
    serveImage(f, 'big', '2', [l2], ['true']);
    f.handlers.push((req, res) => {
      if (!req.url?.endsWith(`/blobs/${l2.digest}`)) return false;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': l2.size + 1 }).end(Buffer.concat([l2.gz, Buffer.from('x')]));
      return true;
    });
    const r2 = await pullApi(b, `${f.host}/big`, '2');
    t.is(lines(r2.body).at(-1)?.errorDetail?.message, `filesystem layer verification failed for digest ${l2.digest}: the registry sent more than the ${l2.size} bytes of its manifest`);
    t.deepEqual(diskState(b.dataRoot, driverOf(b)).tmp, []);
  } finally {
    await b.stop();
  }
});

test('/distribution checks the manifest it fetched by digest against that digest, and refuses a digest header that is no digest', async (t) => {
  const f = await fakeRegistry();
  const l1 = layer({ 'e.txt': 'e\n' });
  const { manifest: m } = serveImage(f, 'dist', '1', [l1], ['true']);
  const b = await startBerthd();
  try {
    const ok = await b.request('GET', `/v1.41/distribution/${f.host}/dist:1/json`);
    t.is(ok.status, 200, ok.body);
    t.is(ok.json<{ Descriptor: { digest: string } }>().Descriptor.digest, sha(m));
    // The registry answers the digest's GET with other bytes.
    const other = Buffer.from(m.toString().replace('"schemaVersion":2', '"schemaVersion": 2'));
    f.manifests.set(sha(m), other);
    const bad = await b.request('GET', `/v1.41/distribution/${f.host}/dist:1/json`);
    t.is(bad.status, 500, bad.body);
    t.is(bad.json<{ message: string }>().message, `manifest verification failed for digest ${sha(m)}`);
    // A HEAD whose digest header is a path: not used as a URL; the manifest is read by tag and hashed.
    f.manifests.set(sha(m), m);
    f.handlers.push((req, res) => {
      if (req.method !== 'HEAD' || !req.url?.endsWith('/manifests/1')) return false;
      res.writeHead(200, { 'Docker-Content-Digest': 'sha256:../../../v2/other/manifests/x', 'Content-Type': MT_MANIFEST, 'Content-Length': m.length }).end();
      return true;
    });
    const seen = f.seen.length;
    const r = await b.request('GET', `/v1.41/distribution/${f.host}/dist:1/json`);
    t.is(r.status, 200, r.body);
    t.is(r.json<{ Descriptor: { digest: string } }>().Descriptor.digest, sha(m));
    t.false(f.seen.slice(seen).some((x) => x.includes('other')), f.seen.slice(seen).join('\n'));
  } finally {
    await b.stop();
  }
});
