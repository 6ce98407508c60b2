/**
 * More of docker pull/push against a real docker-registry on 127.0.0.1, with the real docker CLI
 * and berthd, compared with dockerd 20.10 (test/fixtures/dockerd-20.10/registry/SUMMARY.md §2, §4, §9):
 *
 *   - --registry-mirror: a Docker Hub name (busybox:mirrored) comes from the mirror, tagged and
 *     digested as docker.io/library/busybox; a tag the mirror lacks falls back to
 *     registry-1.docker.io, which cannot be reached here: its error, quickly
 *   - an OCI index with linux/amd64 and linux/arm64/v8 (skopeo copy --all): amd64 by default and
 *     it runs; ?platform=linux/arm64 gives the arm64 image; linux/s390x is dockerd's "no matching
 *     manifest for linux/s390x in the manifest list entries"
 *   - --max-concurrent-downloads 1 (flag) and max-concurrent-uploads 1 (daemon.json): "Waiting"
 *     for every layer but the first, in dockerd's order; a negative value is refused
 */
import test from 'ava';
import { writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBerthd, startBerthd, tempDir, type Berthd } from '../helpers/berthd.js';
import { removeDir } from '../helpers/images.js';
import { inspectManifest, ociBusybox, ociMultiPlatform, skopeoCopy, startRegistry, type OciImage, type Registry } from '../helpers/registry.js';

let b: Berthd;
let reg: Registry;
let work: string;
let img: OciImage;

test.before(async () => {
  work = tempDir('btregm-');
  reg = await startRegistry();
  img = ociBusybox(join(work, 'a'), { tag: '1', extraLayers: 2 });
  await Promise.all([skopeoCopy(img.ref, reg, 'library/busybox:mirrored', { format: 'v2s2' }), skopeoCopy(img.ref, reg, 'x:1', { format: 'v2s2' })]);
  const cfg = join(work, 'daemon.json');
  writeFileSync(cfg, JSON.stringify({ 'max-concurrent-uploads': 1 }));
  b = await startBerthd({ args: ['--registry-mirror', reg.url, '--max-concurrent-downloads', '1', '--config-file', cfg] });
});

test.after.always(async () => {
  await b?.stop();
  await reg?.stop();
  if (work) removeDir(work);
});

type Line = { status?: string; id?: string; progressDetail?: unknown; errorDetail?: { message: string }; error?: string };
const lines = (body: string) =>
  body
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
const short = (d: string) => d.slice(7, 19);

const pullApi = (image: string, tag: string, extra = '') =>
  b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(image)}&tag=${encodeURIComponent(tag)}${extra}`, { headers: { 'X-Registry-Auth': 'e30=' }, timeoutMs: 60_000 });

test.serial('--max-concurrent-downloads 1: a 3-layer pull says Waiting for the 2nd and 3rd layers, as dockerd', async (t) => {
  // First: every layer is new to berthd here (busybox:mirrored is the same image).
  const res = await pullApi(`${reg.host}/x`, '1');
  t.is(res.status, 200, res.body);
  const ls = lines(res.body).filter((l) => l.status !== 'Downloading' && l.status !== 'Extracting');
  const [l0, l1, l2] = img.layers.map(short);
  // dockerd's pull-waiting: Pulling fs layer ×3, then Waiting for all but the first, then the downloads one by one.
  t.deepEqual(
    ls.slice(0, 6).map((l) => `${l.id}: ${l.status}`),
    ['1: Pulling from x', `${l0}: Pulling fs layer`, `${l1}: Pulling fs layer`, `${l2}: Pulling fs layer`, `${l1}: Waiting`, `${l2}: Waiting`],
  );
  // One at a time: layer k's download completes before layer k+1's starts.
  const all = lines(res.body);
  const firstDl = (id: string) => all.findIndex((l) => l.id === id && l.status === 'Downloading');
  const done = (id: string) => all.findIndex((l) => l.id === id && l.status === 'Download complete');
  t.true(done(l0!) < firstDl(l1!) && done(l1!) < firstDl(l2!), res.body);
  t.is(all.at(-1)?.status, `Status: Downloaded newer image for ${reg.host}/x:1`);
});

test.serial('--registry-mirror: busybox:mirrored is pulled from the mirror and named as a Docker Hub image', async (t) => {
  const { digest } = await inspectManifest(reg, 'library/busybox:mirrored');
  const r = await b.docker(['pull', 'busybox:mirrored'], { timeoutMs: 60_000 });
  t.is(r.code, 0, r.stderr);
  const out = r.stdout.split('\n');
  t.is(out[0], 'mirrored: Pulling from library/busybox', r.stdout);
  t.true(out.includes(`Digest: ${digest}`), r.stdout);
  t.true(out.includes('Status: Downloaded newer image for busybox:mirrored'), r.stdout);
  t.is(out.filter(Boolean).at(-1), 'docker.io/library/busybox:mirrored');
  const info = JSON.parse((await b.docker(['image', 'inspect', 'busybox:mirrored'])).stdout)[0];
  t.is(info.Id, img.configDigest);
  // The same image as x:1 (pulled by the test before): both names, both repo digests.
  t.deepEqual([...info.RepoTags].sort(), [`${reg.host}/x:1`, 'busybox:mirrored'].sort());
  t.deepEqual([...info.RepoDigests].sort(), [`${reg.host}/x@${digest}`, `busybox@${digest}`].sort());
  // dockerd: an image already present under another name gets no layer lines at all.
  t.false(r.stdout.includes('Already exists') || r.stdout.includes('Pulling fs layer'), r.stdout);
  t.true(reg.output().includes('"GET /v2/library/busybox/manifests/mirrored'), 'the mirror served the manifest');
  const ran = await b.docker(['run', '--rm', '--network', 'none', 'docker.io/library/busybox:mirrored', 'cat', '/layer2.txt']);
  t.is(ran.stdout, 'layer 2\n', ran.stderr);
});

test.serial('--registry-mirror: a tag the mirror lacks falls back to registry-1.docker.io, whose error is reported quickly', async (t) => {
  const t0 = Date.now();
  const r = await b.docker(['pull', 'busybox:notonmirror'], { timeoutMs: 60_000 });
  const took = Date.now() - t0;
  t.is(r.code, 1);
  // dockerd: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host
  t.regex(r.stderr, /^Error response from daemon: Get "https:\/\/registry-1\.docker\.io\/v2\/": dial tcp: lookup registry-1\.docker\.io.*: no such host$/m, r.stderr);
  t.true(took < 20_000, `took ${took} ms`);
  t.true(reg.output().includes('/v2/library/busybox/manifests/notonmirror'), 'the mirror was asked first');
  t.is((await b.docker(['image', 'inspect', 'busybox:notonmirror'])).code, 1);
});

test.serial('max-concurrent-uploads 1 (daemon.json): a push says Waiting for all but the first layer after Preparing', async (t) => {
  const r = await b.docker(['tag', `${reg.host}/x:1`, `${reg.host}/w:1`]);
  t.is(r.code, 0, r.stderr);
  const p = await b.docker(['push', `${reg.host}/w:1`], { timeoutMs: 60_000 });
  t.is(p.code, 0, p.stderr);
  const [d0, d1, d2] = img.diffIds.map(short);
  // dockerd's push-waiting: Preparing top → bottom, then Waiting for the 2nd and 3rd.
  t.deepEqual(p.stdout.split('\n').slice(1, 6), [`${d2}: Preparing`, `${d1}: Preparing`, `${d0}: Preparing`, `${d1}: Waiting`, `${d0}: Waiting`], p.stdout);
  t.regex(p.stdout, /^1: digest: sha256:[a-f0-9]{64} size: \d+$/m);
});

test.serial('a negative --max-concurrent-downloads is refused as dockerd', async (t) => {
  const dir = tempDir('btregn-');
  try {
    const r = await runBerthd(['--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '-p', join(dir, 'p.pid'), '-H', `unix://${join(dir, 's.sock')}`, '--max-concurrent-downloads', '-1']);
    t.not(r.code, 0);
    t.regex(r.stderr, /invalid max concurrent downloads: -1/);
  } finally {
    removeDir(dir);
  }
});

test.serial('an OCI index: linux/amd64 by default (and it runs), ?platform=linux/arm64 the arm64 image, linux/s390x dockerd\'s "no matching manifest"', async (t) => {
  const dir = join(work, 'multi');
  mkdirSync(join(dir, 'p-amd64', 'build'), { recursive: true });
  copyFileSync(join(work, 'a', 'build', 'busybox.tar'), join(dir, 'p-amd64', 'build', 'busybox.tar'));
  const multi = ociMultiPlatform(dir, { tag: '1' });
  await skopeoCopy(multi.ref, reg, 'multi:1', { format: 'oci', args: ['--all'] });
  const stored = await reg.fetch('GET', '/v2/multi/manifests/1', { Accept: 'application/vnd.oci.image.index.v1+json' });
  t.is(stored.headers['docker-content-digest'], multi.indexDigest, 'the registry holds the index as built');
  const [amd, arm] = multi.images;
  const name = `${reg.host}/multi:1`;

  const r = await b.docker(['pull', name], { timeoutMs: 60_000 });
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.includes(`Digest: ${multi.indexDigest}`), r.stdout);
  let info = JSON.parse((await b.docker(['image', 'inspect', name])).stdout)[0];
  t.is(info.Id, amd!.configDigest);
  t.is(info.Architecture, 'amd64');
  t.deepEqual(info.RepoDigests, [`${reg.host}/multi@${multi.indexDigest}`], 'the repo digest is the index\'s, as dockerd');
  const ran = await b.docker(['run', '--rm', '--network', 'none', name, 'cat', '/layer1.txt']);
  t.is(ran.stdout, 'layer 1\n', ran.stderr);

  const res = await pullApi(`${reg.host}/multi`, '1', `&platform=${encodeURIComponent('linux/arm64')}`);
  t.is(res.status, 200, res.body);
  t.is(lines(res.body).at(-1)?.status, `Status: Downloaded newer image for ${name}`, res.body);
  info = JSON.parse((await b.docker(['image', 'inspect', name])).stdout)[0];
  t.is(info.Id, arm!.configDigest);
  t.is(info.Architecture, 'arm64');
  t.is(info.Variant, 'v8');

  // dockerd 20.10: the error comes after "Pulling from" (in the stream); the CLI prints it alone.
  const s390 = await pullApi(`${reg.host}/multi`, '1', `&platform=${encodeURIComponent('linux/s390x')}`);
  t.is(s390.status, 200);
  const ls = lines(s390.body);
  t.deepEqual(ls[0], { status: 'Pulling from multi', id: '1' });
  t.deepEqual(ls.at(-1), { errorDetail: { message: 'no matching manifest for linux/s390x in the manifest list entries' }, error: 'no matching manifest for linux/s390x in the manifest list entries' });
  const cli = await b.docker(['pull', '--platform', 'linux/s390x', name]);
  t.is(cli.code, 1);
  t.regex(cli.stderr, /^no matching manifest for linux\/s390x in the manifest list entries$/m, cli.stderr);
  info = JSON.parse((await b.docker(['image', 'inspect', name])).stdout)[0];
  t.is(info.Id, arm!.configDigest, 'the tag is unchanged');
});
