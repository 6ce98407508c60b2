/**
 * docker push and pull against a real registry (Debian's docker-registry on 127.0.0.1, started
 * here), with the real docker CLI and berthd, compared with what dockerd 20.10 answers
 * (test/fixtures/dockerd-20.10/registry): push (Pushed, Layer already exists, Mounted from),
 * the JSON progress of a pull over the API, pull by digest, `docker run` of a missing image,
 * missing tags, skopeo on the other side both ways, layers already present, a corrupt blob
 * refused with nothing committed, pulls cut by the registry dying and by kill -9 of berthd,
 * and /_ping during a large pull.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, copyFileSync, mkdirSync, existsSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { run, startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { diskState, removeDir } from '../helpers/images.js';
import { ociBusybox, skopeoCopy, skopeoPull, startRegistry, type OciImage, type Registry } from '../helpers/registry.js';

let b: Berthd;
let reg: Registry;
let work: string;
let img: OciImage;
const driver = () => (existsSync(join(b.dataRoot, 'image', 'overlay2')) ? 'overlay2' : 'vfs');

test.before(async () => {
  work = tempDir('btreg-');
  reg = await startRegistry();
  b = await startBerthd();
  img = ociBusybox(join(work, 'a'), { tag: '1', extraLayers: 2 });
  // The image enters berthd as a user's would: docker load of an OCI layout, then a tag.
  const tar = join(work, 'a.tar');
  execFileSync('tar', ['-C', img.dir, '-cf', tar, '.']);
  const r = await b.docker(['load', '-i', tar]);
  if (r.code !== 0) throw new Error(`load: ${r.stderr}`);
  const t = await b.docker(['tag', img.configDigest, `${reg.host}/x:1`]);
  if (t.code !== 0) throw new Error(`tag: ${t.stderr}`);
});

test.after.always(async () => {
  await b?.stop();
  await reg?.stop();
  if (work) removeDir(work);
});

const ok = async (args: string[], timeoutMs = 60_000) => {
  const r = await b.docker(args, { timeoutMs });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}\n${r.stdout}`);
  return r;
};

const lines = (body: string) =>
  body
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { status?: string; id?: string; progressDetail?: { current?: number; total?: number }; progress?: string; errorDetail?: { message: string }; error?: string; aux?: unknown });

const short = (d: string) => d.slice(7, 19);

test.serial('docker push uploads every layer, the config and a schema 2 manifest', async (t) => {
  const r = await ok(['push', `${reg.host}/x:1`]);
  const out = r.stdout;
  t.true(out.startsWith(`The push refers to repository [${reg.host}/x]\n`), out);
  for (const d of img.diffIds) {
    t.true(out.includes(`${short(d)}: Preparing`), out);
    t.true(out.includes(`${short(d)}: Pushed`), out);
  }
  const m = /^1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/m.exec(out);
  t.truthy(m, out);
  const got = await reg.fetch('GET', '/v2/x/manifests/1', { Accept: 'application/vnd.docker.distribution.manifest.v2+json' });
  t.is(got.status, 200);
  t.is(got.headers['docker-content-digest'], m![1]);
  t.is(got.body.length, Number(m![2]));
  const doc = JSON.parse(got.body.toString());
  t.is(doc.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  t.is(doc.config.digest, img.configDigest);
  t.is(doc.layers.length, 3);
  t.true(got.body.toString().startsWith('{\n   "schemaVersion": 2,'), 'indented as dockerd');
  const inspect = JSON.parse((await ok(['image', 'inspect', `${reg.host}/x:1`])).stdout)[0];
  t.deepEqual(inspect.RepoDigests, [`${reg.host}/x@${m![1]}`]);
});

test.serial('a second push finds every layer; a push to another repository mounts them', async (t) => {
  const again = (await ok(['push', `${reg.host}/x:1`])).stdout;
  for (const d of img.diffIds) t.true(again.includes(`${short(d)}: Layer already exists`), again);
  await ok(['tag', `${reg.host}/x:1`, `${reg.host}/y:1`]);
  const mount = (await ok(['push', `${reg.host}/y:1`])).stdout;
  for (const d of img.diffIds) t.true(mount.includes(`${short(d)}: Mounted from x`), mount);
  // The metadata dockerd keeps: which blob of each layer lives in which repository.
  const meta = join(b.dataRoot, 'image', driver(), 'distribution', 'v2metadata-by-diffid', 'sha256', img.diffIds[0]!.slice(7));
  const entries = JSON.parse(readFileSync(meta, 'utf8')) as Array<{ SourceRepository: string }>;
  t.deepEqual(entries.map((e) => e.SourceRepository).sort(), [`${reg.host}/x`, `${reg.host}/y`]);
});

test.serial('push errors as dockerd: no such repository, no such tag (in the stream)', async (t) => {
  const r1 = await b.docker(['push', `${reg.host}/nosuch:1`]);
  t.is(r1.code, 1);
  t.regex(r1.stderr, new RegExp(`An image does not exist locally with the tag: ${reg.host.replace(/\./g, '\\.')}/nosuch`));
  const r2 = await b.docker(['push', `${reg.host}/x:2`]);
  t.is(r2.code, 1);
  t.regex(r2.stderr, /tag does not exist: 127\.0\.0\.1:\d+\/x:2/);
});

test.serial('rmi, then a pull over the API streams dockerd\'s progress and restores tag and digest', async (t) => {
  await ok(['rmi', '-f', img.configDigest]);
  t.is((await b.docker(['image', 'inspect', `${reg.host}/x:1`])).code, 1);
  const st = diskState(b.dataRoot, driver());
  t.deepEqual(st.layers, [], 'every layer went with the image');
  const res = await b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${reg.host}/x`)}&tag=1`, { timeoutMs: 60_000 });
  t.is(res.status, 200);
  const msgs = lines(res.body);
  t.deepEqual(msgs[0], { status: 'Pulling from x', id: '1' });
  const manifest = JSON.parse((await reg.fetch('GET', '/v2/x/manifests/1', { Accept: 'application/vnd.docker.distribution.manifest.v2+json' })).body.toString());
  const ids = (manifest.layers as Array<{ digest: string }>).map((l) => short(l.digest));
  t.deepEqual(msgs.slice(1, 4), ids.map((id) => ({ status: 'Pulling fs layer', progressDetail: {}, id })));
  for (const id of ids) {
    const mine = msgs.filter((m) => m.id === id).map((m) => m.status);
    const order = ['Pulling fs layer', 'Downloading', 'Verifying Checksum', 'Download complete', 'Extracting', 'Pull complete'];
    const seen = order.filter((s) => mine.includes(s));
    t.deepEqual(seen, order.filter((s) => s !== 'Downloading' || seen.includes('Downloading')), `${id}: ${mine.join(', ')}`);
    const ex = msgs.find((m) => m.id === id && m.status === 'Extracting');
    t.truthy(ex?.progressDetail?.total, 'Extracting has {current,total}');
  }
  const dl = msgs.find((m) => m.status === 'Downloading');
  if (dl) t.regex(dl.progress ?? '', /^\[=*>\s*\]/);
  const digest = msgs.at(-2)?.status;
  t.regex(digest ?? '', /^Digest: sha256:[a-f0-9]{64}$/);
  t.deepEqual(msgs.at(-1), { status: `Status: Downloaded newer image for ${reg.host}/x:1` });
  const inspect = JSON.parse((await ok(['image', 'inspect', `${reg.host}/x:1`])).stdout)[0];
  t.is(inspect.Id, img.configDigest);
  t.deepEqual(inspect.RepoTags, [`${reg.host}/x:1`]);
  t.deepEqual(inspect.RepoDigests, [`${reg.host}/x@${digest!.slice(8)}`]);
  t.deepEqual(diskState(b.dataRoot, driver()).tmp, [], 'the download dir is gone');
  // The CLI again: up to date.
  const again = await ok(['pull', `${reg.host}/x:1`]);
  t.is(again.stdout, `1: Pulling from x\n${digest}\nStatus: Image is up to date for ${reg.host}/x:1\n${reg.host}/x:1\n`);
});

test.serial('pull by digest, and an image event for the pull', async (t) => {
  const digest = (await reg.fetch('HEAD', '/v2/x/manifests/1', { Accept: 'application/vnd.docker.distribution.manifest.v2+json' })).headers['docker-content-digest'] as string;
  await ok(['rmi', '-f', img.configDigest]);
  const since = Math.floor(Date.now() / 1000) - 1;
  const r = await ok(['pull', `${reg.host}/x@${digest}`]);
  t.true(r.stdout.startsWith(`${reg.host}/x@${digest}: Pulling from x\n`), r.stdout);
  t.true(r.stdout.includes(`Status: Downloaded newer image for ${reg.host}/x@${digest}\n`), r.stdout);
  const inspect = JSON.parse((await ok(['image', 'inspect', `${reg.host}/x@${digest}`])).stdout)[0];
  t.deepEqual(inspect.RepoTags, []);
  t.deepEqual(inspect.RepoDigests, [`${reg.host}/x@${digest}`]);
  const ev = await ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=image', '--format', '{{.Action}} {{.Actor.ID}}']);
  t.true(ev.stdout.includes(`pull ${reg.host}/x@${digest}`), ev.stdout);
  const again = await ok(['pull', `${reg.host}/x@${digest}`]);
  t.true(again.stdout.includes(`Status: Image is up to date for ${reg.host}/x@${digest}`), again.stdout);
});

test.serial('docker run of a missing image pulls it first', async (t) => {
  await ok(['rmi', '-f', img.configDigest]);
  const r = await b.docker(['run', '--rm', '--network', 'none', `${reg.host}/x:1`, 'cat', '/layer2.txt'], { timeoutMs: 60_000 });
  t.is(r.code, 0, r.stderr);
  t.true(r.stderr.startsWith(`Unable to find image '${reg.host}/x:1' locally\n1: Pulling from x\n`), r.stderr);
  t.true(r.stderr.includes(`Status: Downloaded newer image for ${reg.host}/x:1`), r.stderr);
  t.is(r.stdout, 'layer 2\n');
});

test.serial('a missing tag, repository or digest is dockerd\'s 404 "manifest unknown"', async (t) => {
  const r = await b.docker(['pull', `${reg.host}/x:nope`]);
  t.is(r.code, 1);
  t.is(r.stderr.trim(), `Error response from daemon: manifest for ${reg.host}/x:nope not found: manifest unknown: manifest unknown`);
  const api = await b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${reg.host}/nosuch`)}&tag=1`);
  t.is(api.status, 404);
  t.deepEqual(api.json(), { message: `manifest for ${reg.host}/nosuch:1 not found: manifest unknown: manifest unknown` });
  const zero = `sha256:${'0'.repeat(64)}`;
  const d = await b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${reg.host}/x`)}&tag=${zero}`);
  t.is(d.status, 404);
  t.deepEqual(d.json(), { message: `manifest for ${reg.host}/x@${zero} not found: manifest unknown: manifest unknown` });
});

test.serial('GET /distribution/{name}/json gives the descriptor and platform', async (t) => {
  const r = await b.request('GET', `/v1.41/distribution/${reg.host}/x:1/json`);
  t.is(r.status, 200, r.body);
  const doc = r.json<{ Descriptor: { mediaType: string; digest: string; size: number }; Platforms: unknown }>();
  t.is(doc.Descriptor.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  t.regex(doc.Descriptor.digest, /^sha256:/);
  t.deepEqual(doc.Platforms, [{ architecture: 'amd64', os: 'linux' }]);
});

test.serial('skopeo pulls what berthd pushed; berthd pulls and runs what skopeo pushed (OCI manifest)', async (t) => {
  const dest = join(work, 'sk-out');
  const p = await skopeoPull(reg, 'x:1', `oci:${dest}:x`);
  t.is(p.code, 0, p.stderr);
  const index = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8'));
  t.is(index.manifests.length, 1);
  const other = ociBusybox(join(work, 'b'), { tag: 'oci', extraLayers: 1, cmd: ['cat', '/layer1.txt'] });
  const c = await skopeoCopy(other.ref, reg, 'sk:1', { format: 'oci' });
  t.is(c.code, 0, c.stderr);
  const r = await b.docker(['run', '--rm', '--network', 'none', `${reg.host}/sk:1`], { timeoutMs: 60_000 });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'layer 1\n');
  const inspect = JSON.parse((await ok(['image', 'inspect', `${reg.host}/sk:1`])).stdout)[0];
  t.is(inspect.Id, other.configDigest);
  t.deepEqual(inspect.RepoDigests, [`${reg.host}/sk@${other.manifestDigest}`]);
});

test.serial('layers already present are not downloaded again', async (t) => {
  // Same busybox layer as x:1 (the helper reuses its busybox tar), a different top layer.
  mkdirSync(join(work, 'c', 'build'), { recursive: true });
  copyFileSync(join(work, 'a', 'build', 'busybox.tar'), join(work, 'c', 'build', 'busybox.tar'));
  const third = ociBusybox(join(work, 'c'), { tag: '1', extraLayers: 1 });
  t.is(third.diffIds[0], img.diffIds[0]);
  t.is((await skopeoCopy(third.ref, reg, 'z:1', { format: 'v2s2' })).code, 0);
  const r = await ok(['pull', `${reg.host}/z:1`]);
  t.true(r.stdout.includes(`${short(third.layers[0]!)}: Already exists`), r.stdout);
  t.true(r.stdout.includes(`: Pull complete`), r.stdout);
  t.false(r.stdout.includes(`${short(third.layers[0]!)}: Pulling fs layer`), r.stdout);
});

/** The blob file of a digest in the registry's storage (distribution's filesystem driver layout). */
const blobFile = (r: Registry, digest: string) => join(r.storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');

test.serial('a blob whose digest does not match is refused and nothing is committed', async (t) => {
  const bad = ociBusybox(join(work, 'd'), { tag: '1', extraLayers: 2 });
  t.is((await skopeoCopy(bad.ref, reg, 'bad:1', { format: 'oci' })).code, 0);
  // Flip bytes in the middle of the top layer's blob (same length: the registry still serves it).
  const f = blobFile(reg, bad.layers[2]!);
  const fd = openSync(f, 'r+');
  writeSync(fd, Buffer.from('XXXX'), 0, 4, Math.floor(statSync(f).size / 2));
  closeSync(fd);
  const before = diskState(b.dataRoot, driver());
  const r = await b.docker(['pull', `${reg.host}/bad:1`]);
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`filesystem layer verification failed for digest ${bad.layers[2]}`));
  const after = diskState(b.dataRoot, driver());
  t.deepEqual(after.layers, before.layers, 'no layer of the failed pull remains');
  t.deepEqual(after.images, before.images);
  t.deepEqual(after.tmp, []);
  t.deepEqual(after.layerTmp, []);
  t.is((await b.docker(['image', 'inspect', `${reg.host}/bad:1`])).code, 1);
});

test.serial('a pull cut by the registry dying leaves nothing; /_ping stays fast during a large pull', async (t) => {
  const big = ociBusybox(join(work, 'e'), { tag: '1', extraLayers: 1, bigLayerBytes: 120 << 20 });
  const reg2 = await startRegistry();
  try {
    t.is((await skopeoCopy(big.ref, reg2, 'big:1', { format: 'v2s2' })).code, 0);
    const before = diskState(b.dataRoot, driver());
    // A full pull first, timing /_ping all along.
    const pulling = b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${reg2.host}/big`)}&tag=1`, { timeoutMs: 120_000 });
    let worst = 0;
    let done = false;
    void pulling.finally(() => (done = true));
    while (!done) {
      const t0 = performance.now();
      await b.request('GET', '/_ping');
      worst = Math.max(worst, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
    const res = await pulling;
    t.is(lines(res.body).at(-1)?.status, `Status: Downloaded newer image for ${reg2.host}/big:1`, res.body.slice(-500));
    t.true(worst < 250, `the slowest /_ping during the pull took ${worst.toFixed(1)} ms`);
    t.log(`slowest /_ping during a 120 MB pull: ${worst.toFixed(1)} ms`);
    await ok(['rmi', `${reg2.host}/big:1`]);
    t.deepEqual(diskState(b.dataRoot, driver()).layers, before.layers);
    // Now the registry dies in the middle of the big layer.
    const cut = b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${reg2.host}/big`)}&tag=1`, { timeoutMs: 120_000 });
    await waitFor(() => readdirSync(join(b.dataRoot, 'tmp')).some((d) => d.startsWith('pull-') && readdirSync(join(b.dataRoot, 'tmp', d)).some((f) => statSync(join(b.dataRoot, 'tmp', d, f)).size > 5 << 20)), 30_000, 5);
    process.kill(reg2.pid, 'SIGKILL');
    const res2 = await cut;
    const last = lines(res2.body).at(-1);
    t.truthy(last?.errorDetail, res2.body.slice(-300));
    const after = diskState(b.dataRoot, driver());
    t.deepEqual(after.layers, before.layers, 'no partial layer');
    t.deepEqual(after.tmp, []);
    t.is((await b.docker(['image', 'inspect', `${reg2.host}/big:1`])).code, 1);
  } finally {
    await reg2.stop();
  }
});

test.serial('a connection reset in the middle of a blob is resumed with a Range request', async (t) => {
  const big = ociBusybox(join(work, 'g'), { tag: '1', extraLayers: 1, bigLayerBytes: 30 << 20 });
  t.is((await skopeoCopy(big.ref, reg, 'resume:1', { format: 'v2s2' })).code, 0);
  // A TCP proxy in front of the registry that cuts the first connection carrying more than 8 MB back.
  let cut = false;
  let ranges = 0;
  const proxy = createNetServer((c) => {
    const up = connect(reg.port, '127.0.0.1');
    let down = 0;
    c.on('data', (d) => {
      if (/\r\nRange: bytes=\d+-/i.test(d.toString('latin1'))) ranges++;
      up.write(d);
    });
    up.on('data', (d) => {
      down += d.length;
      if (!cut && down > 8 << 20) {
        cut = true;
        c.resetAndDestroy();
        up.destroy();
        return;
      }
      c.write(d);
    });
    up.on('error', () => c.destroy());
    c.on('error', () => up.destroy());
    up.on('close', () => c.end());
    c.on('close', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const port = (proxy.address() as AddressInfo).port;
  try {
    const r = await ok(['pull', `127.0.0.1:${port}/resume:1`]);
    t.true(r.stdout.includes(`Status: Downloaded newer image for 127.0.0.1:${port}/resume:1`), r.stdout);
    t.true(cut, 'the proxy cut a download');
    t.true(ranges >= 1, 'the download went on with a Range request');
    t.is((await b.docker(['run', '--rm', '--network', 'none', `127.0.0.1:${port}/resume:1`, 'cat', '/layer1.txt'])).stdout, 'layer 1\n');
  } finally {
    proxy.close();
  }
});

test.serial('berthd killed with -9 in the middle of a pull restarts clean, and the next pull succeeds', async (t) => {
  const big = ociBusybox(join(work, 'f'), { tag: '1', extraLayers: 1, bigLayerBytes: 80 << 20 });
  t.is((await skopeoCopy(big.ref, reg, 'big2:1', { format: 'v2s2' })).code, 0);
  const before = diskState(b.dataRoot, driver());
  const pulling = b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${reg.host}/big2`)}&tag=1`, { timeoutMs: 60_000 }).catch((e) => e);
  // Kill once the first layers are in and the big one is being downloaded or extracted.
  await waitFor(() => diskState(b.dataRoot, driver()).layers.length > before.layers.length, 30_000, 5);
  const dir = b.dir;
  b.proc.kill('SIGKILL');
  await b.exited;
  await pulling;
  b = await startBerthd({ dir });
  const after = diskState(b.dataRoot, driver());
  t.deepEqual(after.layers, before.layers, 'the layers of the interrupted pull are gone');
  t.deepEqual(after.images, before.images);
  t.deepEqual(after.tmp, []);
  t.deepEqual(after.layerTmp, []);
  const r = await ok(['pull', `${reg.host}/big2:1`]);
  t.true(r.stdout.includes(`Status: Downloaded newer image for ${reg.host}/big2:1`), r.stdout);
  t.is((await b.docker(['run', '--rm', '--network', 'none', `${reg.host}/big2:1`, 'cat', '/layer1.txt'])).stdout, 'layer 1\n');
});

test.serial('push to an htpasswd + TLS registry after docker login', async (t) => {
  const sreg = await startRegistry({ auth: true, tls: true });
  const b2 = await startBerthd({ env: { BERTH_REGISTRY_CERTS_DIR: sreg.certsDir! } });
  try {
    const tar = join(work, 'a.tar');
    await b2.docker(['load', '-i', tar]);
    await b2.docker(['tag', img.configDigest, `${sreg.host}/s:1`]);
    const denied = await b2.docker(['push', `${sreg.host}/s:1`]);
    t.is(denied.code, 1);
    t.regex(denied.stderr, /no basic auth credentials/);
    const l = await run('docker', ['login', '-u', sreg.user!, '--password-stdin', sreg.host], {
      env: { DOCKER_HOST: `unix://${b2.socket}`, DOCKER_CONFIG: join(b2.dir, 'docker-config') },
      input: sreg.password!,
    });
    t.is(l.code, 0, l.stderr);
    t.regex(l.stdout, /Login Succeeded/);
    const r = await b2.docker(['push', `${sreg.host}/s:1`], { timeoutMs: 60_000 });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /1: digest: sha256:[a-f0-9]{64} size: \d+/);
    await b2.docker(['rmi', '-f', img.configDigest]);
    const p = await b2.docker(['pull', `${sreg.host}/s:1`], { timeoutMs: 60_000 });
    t.is(p.code, 0, p.stderr);
  } finally {
    await b2.stop();
    await sreg.stop();
  }
});
