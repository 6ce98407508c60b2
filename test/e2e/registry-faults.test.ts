/**
 * docker pull when things go wrong, against a real docker-registry on 127.0.0.1 (and TCP servers
 * and proxies started here), with the real docker CLI and berthd:
 *
 *   - a registry that hangs (accepts and never answers; or answers the ping and hangs on the
 *     manifest; or on a blob): a clear timeout error in bounded time, /_ping stays fast, nothing
 *     is left. berthd runs with BERTH_REGISTRY_TIMEOUT_MS=2000, a cap on the transport's idle
 *     timeouts (15 s ping, 60 s manifests, 30 s blobs), so this takes seconds, not minutes.
 *   - a data root on a 40 MB tmpfs: a bigger image fails with "no space left on device", leaves
 *     no partial layer, temp file or tag, and a small image pulls right after.
 *   - two pulls sharing a base layer, one failing (a corrupt blob) while the other waits on its
 *     own blob: the survivor completes and its image is whole (the failing pull must not release
 *     the shared layer the other one counts on).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { diskState, removeDir } from '../helpers/images.js';
import { ociBusybox, skopeoCopy, startRegistry, type OciImage, type Registry } from '../helpers/registry.js';

let reg: Registry;
let work: string;
const servers: Server[] = [];

test.before(async () => {
  work = tempDir('btregf-');
  reg = await startRegistry();
  mkdirSync(join(work, 'base', 'build'), { recursive: true });
  ociBusybox(join(work, 'base'), { tag: '1' }); // builds the busybox tar every image here shares
});

test.after.always(async () => {
  for (const s of servers) s.close();
  await reg?.stop();
  if (work) removeDir(work);
});

/** An OCI busybox image in its own dir, on the shared busybox layer. */
function image(name: string, opts: Parameters<typeof ociBusybox>[1] = {}): OciImage {
  mkdirSync(join(work, name, 'build'), { recursive: true });
  copyFileSync(join(work, 'base', 'build', 'busybox.tar'), join(work, name, 'build', 'busybox.tar'));
  return ociBusybox(join(work, name), { tag: '1', ...opts });
}

type Line = { status?: string; id?: string; errorDetail?: { message: string }; error?: string };
const lines = (body: string) =>
  body
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

const listen = async (s: Server): Promise<number> => {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
};

/**
 * A TCP proxy to the registry that looks at each request's head: `decide` returns 'pass', 'hang'
 * (the answer is never forwarded) or a promise (the answer waits until it resolves).
 */
async function proxy(decide: (head: string) => 'pass' | 'hang' | Promise<void>): Promise<number> {
  const conns: Socket[] = [];
  const s = createServer((c) => {
    conns.push(c);
    const up = connect(reg.port, '127.0.0.1');
    let gate: 'pass' | 'hang' | Promise<void> = 'pass';
    let queue = Promise.resolve();
    c.on('data', (d) => {
      const head = d.toString('latin1');
      if (/^(GET|HEAD|POST|PUT|PATCH|DELETE) /.test(head)) gate = decide(head);
      up.write(d);
    });
    up.on('data', (d) => {
      const g = gate;
      if (g === 'hang') return;
      queue = queue.then(() => (g === 'pass' ? undefined : g)).then(() => void c.write(d));
    });
    up.on('error', () => c.destroy());
    c.on('error', () => up.destroy());
    up.on('close', () => void queue.then(() => c.end()));
    c.on('close', () => up.destroy());
  });
  s.on('close', () => conns.forEach((c) => c.destroy()));
  return listen(s);
}

const pullApi = (b: Berthd, image: string, timeoutMs = 60_000) => {
  const i = image.lastIndexOf(':');
  return b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(image.slice(0, i))}&tag=${image.slice(i + 1)}`, { headers: { 'X-Registry-Auth': 'e30=' }, timeoutMs });
};

const driverOf = (b: Berthd) => (statSync(join(b.dataRoot, 'image', 'overlay2'), { throwIfNoEntry: false }) ? 'overlay2' : 'vfs');

test('a registry that hangs (at the ping, the manifest, a blob) fails with a clear timeout in bounded time; berthd stays responsive', async (t) => {
  const b = await startBerthd({ env: { BERTH_REGISTRY_TIMEOUT_MS: '2000' } });
  try {
    // 1. Accepts and never answers: https then http (127.0.0.0/8 is insecure), 2 s each.
    const silent = createServer(() => {});
    const port = await listen(silent);
    const t0 = Date.now();
    const pulling = b.docker(['pull', `127.0.0.1:${port}/x:1`], { timeoutMs: 60_000 });
    let worst = 0;
    let done = false;
    void pulling.finally(() => (done = true));
    while (!done) {
      const p0 = performance.now();
      const r = await b.request('GET', '/_ping', { timeoutMs: 5_000 });
      t.is(r.status, 200);
      worst = Math.max(worst, performance.now() - p0);
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await pulling;
    const took = Date.now() - t0;
    t.is(r.code, 1);
    t.is(r.stderr.trim(), `Error response from daemon: Get "http://127.0.0.1:${port}/v2/": timeout: no answer from the registry in 2s`);
    t.true(took < 10_000, `took ${took} ms`);
    t.true(worst < 250, `slowest /_ping while the pull hung: ${worst.toFixed(1)} ms`);

    // 2. Answers the ping, hangs on the manifest.
    const img = image('hang', { extraLayers: 1, bigLayerBytes: 3 << 20 });
    await skopeoCopy(img.ref, reg, 'hang:1', { format: 'v2s2' });
    const mport = await proxy((head) => (/\/manifests\//.test(head) ? 'hang' : 'pass'));
    const t1 = Date.now();
    const m = await b.docker(['pull', `127.0.0.1:${mport}/hang:1`], { timeoutMs: 60_000 });
    t.is(m.code, 1);
    t.is(m.stderr.trim(), `Error response from daemon: Get "http://127.0.0.1:${mport}/v2/hang/manifests/1": timeout: no answer from the registry in 2s`);
    t.true(Date.now() - t1 < 10_000, `took ${Date.now() - t1} ms`);

    // 3. Serves everything but the big blob, which never comes: tried again (5 attempts, as
    //    dockerd), then the error in the stream; nothing of the pull is left.
    const big = img.layers[2]!;
    const before = diskState(b.dataRoot, driverOf(b));
    const bport = await proxy((head) => (head.includes(`/blobs/${big}`) ? 'hang' : 'pass'));
    const t2 = Date.now();
    const res = await pullApi(b, `127.0.0.1:${bport}/hang:1`);
    const took2 = Date.now() - t2;
    t.is(res.status, 200);
    const last = lines(res.body).at(-1);
    t.regex(last?.errorDetail?.message ?? '', new RegExp(`^Get "http://127\\.0\\.0\\.1:${bport}/v2/hang/blobs/${big}": timeout: no answer from the registry in 2s$`), res.body.slice(-400));
    t.true(took2 < 25_000, `took ${took2} ms`);
    const after = diskState(b.dataRoot, driverOf(b));
    t.deepEqual(after.layers, before.layers, 'no layer of the failed pull is left');
    t.deepEqual(after.tmp, []);
    t.deepEqual(after.layerTmp, []);
    t.is((await b.docker(['image', 'inspect', `127.0.0.1:${bport}/hang:1`])).code, 1);
    t.is((await b.request('GET', '/_ping')).status, 200);
  } finally {
    await b.stop();
  }
});

test('a data root on a 40 MB tmpfs: a bigger image fails with "no space left on device", leaves nothing, and a small one pulls next', async (t) => {
  const dir = tempDir('btregd-');
  const root = join(dir, 'root');
  mkdirSync(root);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', root]);
  let b: Berthd | undefined;
  try {
    const big = image('full', { extraLayers: 1, bigLayerBytes: 60 << 20 });
    const small = image('fits', { extraLayers: 2 });
    await Promise.all([skopeoCopy(big.ref, reg, 'full:1', { format: 'v2s2' }), skopeoCopy(small.ref, reg, 'fits:1', { format: 'v2s2' })]);
    b = await startBerthd({ dir });
    const before = diskState(b.dataRoot, driverOf(b));
    const r = await b.docker(['pull', `${reg.host}/full:1`], { timeoutMs: 60_000 });
    t.is(r.code, 1);
    // dockerd: write /var/lib/docker/tmp/GetImageBlob…: no space left on device
    t.regex(r.stderr.trim(), new RegExp(`^write ${b.dataRoot}/tmp/pull-[0-9a-f]+/\\d+: no space left on device$`), r.stderr);
    const after = diskState(b.dataRoot, driverOf(b));
    t.deepEqual(after.layers, before.layers, 'no partial layer');
    t.deepEqual(after.snapshots, before.snapshots, 'no snapshot');
    t.deepEqual(after.tmp, [], 'no temp file');
    t.deepEqual(after.layerTmp, []);
    t.is(after.repositories, before.repositories, 'no tag');
    t.is((await b.docker(['image', 'inspect', `${reg.host}/full:1`])).code, 1);
    const used = Number(execFileSync('df', ['--output=used', '-B1', root]).toString().split('\n')[1]);
    t.true(used < 8 << 20, `${used} bytes still used on the tmpfs`);
    const ok = await b.docker(['pull', `${reg.host}/fits:1`], { timeoutMs: 60_000 });
    t.is(ok.code, 0, ok.stderr);
    const ran = await b.docker(['run', '--rm', '--network', 'none', `${reg.host}/fits:1`, 'cat', '/layer2.txt']);
    t.is(ran.stdout, 'layer 2\n', ran.stderr);
  } finally {
    await b?.stop();
    execFileSync('umount', ['-l', root]);
    removeDir(dir);
  }
});

/** The blob file of a digest in the registry's storage (distribution's filesystem driver layout). */
const blobFile = (r: Registry, digest: string) => join(r.storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');

test('two pulls share a new base layer; one fails on a corrupt blob while the other waits: the other completes, whole', async (t) => {
  const a = image('ra', { extraLayers: 1, bigLayerBytes: 1 << 20 });
  const bImg = image('rb', { extraLayers: 2 });
  t.is(a.layers[0], bImg.layers[0], 'the same base layer');
  await Promise.all([skopeoCopy(a.ref, reg, 'ra:1', { format: 'oci' }), skopeoCopy(bImg.ref, reg, 'rb:1', { format: 'oci' })]);
  // A's top blob: same length, other bytes (the registry still serves it; its digest will not match).
  const f = blobFile(reg, a.layers[2]!);
  const fd = openSync(f, 'r+');
  writeSync(fd, Buffer.from('XXXX'), 0, 4, Math.floor(statSync(f).size / 2));
  closeSync(fd);

  let releaseA!: () => void;
  const gateA = new Promise<void>((r) => (releaseA = r));
  let releaseB!: () => void;
  const gateB = new Promise<void>((r) => (releaseB = r));
  let bHeld = 0;
  const bOwn = bImg.layers.slice(1).filter((l) => !a.layers.includes(l));
  const port = await proxy((head) => {
    if (head.includes(`/blobs/${a.layers[2]}`)) return gateA;
    if (bOwn.some((l) => head.includes(`/blobs/${l}`))) {
      bHeld++;
      return gateB;
    }
    return 'pass';
  });
  const b = await startBerthd();
  try {
    const driver = driverOf(b);
    const before = diskState(b.dataRoot, driver);
    // A first: it makes the base layer (and its second), then waits on its top blob.
    const pullA = pullApi(b, `127.0.0.1:${port}/ra:1`);
    t.true(await waitFor(() => diskState(b.dataRoot, driver).layers.length >= before.layers.length + 2, 20_000), 'A registered its lower layers');
    // B finds the base layer present and waits on its own blobs.
    const pullB = pullApi(b, `127.0.0.1:${port}/rb:1`);
    t.true(await waitFor(() => bHeld > 0, 20_000), 'B asked for its blobs');
    // A fails now, while B counts on the base layer A made.
    releaseA();
    const resA = await pullA;
    t.regex(lines(resA.body).at(-1)?.errorDetail?.message ?? '', /^filesystem layer verification failed for digest sha256:/, resA.body.slice(-300));
    releaseB();
    const resB = await pullB;
    t.is(lines(resB.body).at(-1)?.status, `Status: Downloaded newer image for 127.0.0.1:${port}/rb:1`, resB.body.slice(-400));
    const info = JSON.parse((await b.docker(['image', 'inspect', `127.0.0.1:${port}/rb:1`])).stdout)[0];
    t.is(info.Id, bImg.configDigest);
    t.deepEqual(info.RootFS.Layers, bImg.diffIds);
    const ran = await b.docker(['run', '--rm', '--network', 'none', `127.0.0.1:${port}/rb:1`, 'sh', '-c', 'cat /layer1.txt /layer2.txt']);
    t.is(ran.stdout, 'layer 1\nlayer 2\n', ran.stderr);
    // Only B's layers are left: A's own ones went with its failure.
    t.is(diskState(b.dataRoot, driver).layers.length, before.layers.length + 3);
    t.is((await b.docker(['image', 'inspect', `127.0.0.1:${port}/ra:1`])).code, 1);
  } finally {
    releaseA();
    releaseB();
    await b.stop();
  }
});
