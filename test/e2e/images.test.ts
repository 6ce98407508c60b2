/**
 * Every local image command of the docker CLI against berthd, as a user runs them, with the
 * answers dockerd 20.10 gives (test/fixtures/dockerd-20.10/images): import, images and its
 * filters, inspect, history, tag, rmi, save and load (round trip, docker-archive and OCI
 * layouts from skopeo and umoci, compressed), prune, system df, and the error cases.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, startBerthd, tempDir, type Berthd } from '../helpers/berthd.js';
import { busyboxTar, removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;
let tar: string;

test.before(async () => {
  work = tempDir('bti-');
  tar = busyboxTar(work);
  b = await startBerthd();
});
test.after.always(async () => {
  await b?.stop();
  if (work) removeDir(work);
});

const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');
const ok = async (args: string[]) => {
  const r = await b.docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
};

test.serial('docker import makes an image from a root filesystem tarball', async (t) => {
  const id = (await ok(['import', tar, 'imp:1'])).trim();
  t.regex(id, /^sha256:[0-9a-f]{64}$/);
  const img = JSON.parse(await ok(['image', 'inspect', 'imp:1']))[0];
  t.is(img.Id, id);
  t.deepEqual(img.RepoTags, ['imp:1']);
  t.deepEqual(img.RepoDigests, []);
  t.is(img.Comment, 'Imported from -');
  t.is(img.Os, 'linux');
  t.is(img.Architecture, 'amd64');
  t.deepEqual(img.RootFS, { Type: 'layers', Layers: [`sha256:${sha256(readFileSync(tar))}`] }, 'the diffID is the sha256 of the tarball');
  t.true(img.Size > 1_900_000);
  t.is(img.Config.Cmd, null);
  t.is(img.Config.Env, null);
  t.regex(img.Metadata.LastTagTime, /^\d{4}-\d\d-\d\dT/);
  t.not(img.Metadata.LastTagTime, '0001-01-01T00:00:00Z');
});

test.serial('docker import with --change and -m sets the config and comment', async (t) => {
  await ok(['import', '-m', 'a message', '-c', 'CMD ["/bin/sh"]', '-c', 'ENV A=1 B=2', '-c', 'WORKDIR /w', '-c', 'EXPOSE 80/tcp 53/udp', '-c', 'LABEL x=y', '-c', 'USER 1000', '-c', 'VOLUME /data', '-c', 'ENTRYPOINT ["/bin/echo"]', tar, 'imp:changes']);
  const img = JSON.parse(await ok(['image', 'inspect', 'imp:changes']))[0];
  t.is(img.Comment, 'a message');
  t.deepEqual(img.Config.Env, ['A=1', 'B=2']);
  t.deepEqual(img.Config.Entrypoint, ['/bin/echo']);
  t.is(img.Config.Cmd, null, 'ENTRYPOINT after CMD resets it, as a Dockerfile');
  t.is(img.Config.WorkingDir, '/w');
  t.deepEqual(img.Config.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  t.deepEqual(img.Config.Labels, { x: 'y' });
  t.is(img.Config.User, '1000');
  t.deepEqual(img.Config.Volumes, { '/data': {} });
  const hist = JSON.parse(await ok(['history', '--no-trunc', '--format', '{{json .}}', 'imp:changes']).then((s) => s.trim().split('\n')[0]!));
  t.is(hist.Comment, 'a message');
});

test.serial('docker import reads gzip, xz, bzip2 and zstd tarballs; all give the same layer', async (t) => {
  const plain = `sha256:${sha256(readFileSync(tar))}`;
  for (const [tool, ext] of [['gzip', 'gz'], ['xz', 'xz'], ['bzip2', 'bz2'], ['zstd', 'zst']] as const) {
    const out = join(work, `busybox.tar.${ext}`);
    writeFileSync(out, execFileSync(tool, ['-c', tar], { maxBuffer: 64 << 20 }));
    await ok(['import', out, `imp:${ext}`]);
    const img = JSON.parse(await ok(['image', 'inspect', `imp:${ext}`]))[0];
    t.deepEqual(img.RootFS.Layers, [plain], ext);
  }
});

test.serial('docker import errors: bad changes, garbage, digests', async (t) => {
  const bad = await b.docker(['import', '-c', 'FOO bar', tar, 'imp:bad']);
  t.is(bad.code, 1);
  t.is(bad.stderr.trim(), 'Error response from daemon: foo is not a valid change command');
  const env = await b.docker(['import', '-c', 'ENV', tar, 'imp:bad']);
  t.is(env.stderr.trim(), 'Error response from daemon: ENV requires at least one argument');
  const port = await b.docker(['import', '-c', 'EXPOSE abc', tar, 'imp:bad']);
  t.is(port.stderr.trim(), 'Error response from daemon: Invalid containerPort: abc');
  const garbage = join(work, 'garbage');
  writeFileSync(garbage, Buffer.alloc(5000, 7));
  const g = await b.docker(['import', garbage, 'imp:garbage']);
  t.is(g.code, 1);
  t.regex(g.stderr, /^Error response from daemon: Error processing tar file: invalid tar header/);
  const digest = await b.request('POST', `/images/create?fromSrc=-&repo=${encodeURIComponent('x@sha256:' + 'a'.repeat(64))}`, { body: readFileSync(tar) });
  t.is(digest.status, 400);
  t.deepEqual(digest.json(), { message: 'cannot import digest reference' });
  t.is((await ok(['images', '-q', 'imp:bad'])).trim(), '', 'nothing was made');
  t.is((await ok(['images', '-q', 'imp:garbage'])).trim(), '');
});

test.serial('docker images lists one row per tag; filters work as in dockerd', async (t) => {
  await ok(['import', '-c', 'LABEL team=a', tar, 'flt-a:1']);
  await ok(['import', '-c', 'LABEL team=b', tar, 'flt-b:1']);
  await ok(['tag', 'flt-a:1', 'flt-a:2']);
  const rows = (await ok(['images', '--format', '{{.Repository}}:{{.Tag}}', 'flt-a'])).trim().split('\n');
  t.deepEqual(rows.sort(), ['flt-a:1', 'flt-a:2']);
  t.deepEqual((await ok(['images', '--format', '{{.Repository}}', '--filter', 'label=team=b'])).trim(), 'flt-b');
  t.deepEqual((await ok(['images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=flt-*:2'])).trim(), 'flt-a:2');
  const before = (await ok(['images', '--format', '{{.Repository}}', '--filter', 'before=flt-b:1', '--filter', 'reference=flt-*'])).trim().split('\n');
  t.deepEqual([...new Set(before)], ['flt-a']);
  const since = (await ok(['images', '--format', '{{.Repository}}', '--filter', 'since=flt-a:1', '--filter', 'reference=flt-*'])).trim();
  t.is(since, 'flt-b');
  const api = (await b.request('GET', `/images/json?filters=${encodeURIComponent('{"reference":{"flt-a":true}}')}`)).json<Array<Record<string, unknown>>>();
  t.is(api.length, 1);
  t.deepEqual(Object.keys(api[0]!), ['Containers', 'Created', 'Id', 'Labels', 'ParentId', 'RepoDigests', 'RepoTags', 'SharedSize', 'Size', 'VirtualSize']);
  t.deepEqual(api[0]!.Labels, { team: 'a' });
  const badKey = await b.docker(['images', '--filter', 'foo=bar']);
  t.is(badKey.stderr.trim(), "Error response from daemon: Invalid filter 'foo'");
  const badDangling = await b.request('GET', `/images/json?filters=${encodeURIComponent('{"dangling":{"maybe":true}}')}`);
  t.is(badDangling.status, 400);
  t.deepEqual(badDangling.json(), { message: "Invalid filter 'dangling=[maybe]'" });
});

test.serial('a tag moved to another image leaves a dangling one, listed as <none>', async (t) => {
  await ok(['import', tar, 'dang:1']);
  const first = (await ok(['images', '-q', '--no-trunc', 'dang:1'])).trim();
  await ok(['import', tar, 'dang:1']);
  const dangling = (await ok(['images', '-q', '--no-trunc', '--filter', 'dangling=true'])).trim().split('\n');
  t.true(dangling.includes(first));
  const api = (await b.request('GET', `/images/json?filters=${encodeURIComponent('{"dangling":["true"]}')}`)).json<Array<{ Id: string; RepoTags: string[]; RepoDigests: string[] }>>();
  const entry = api.find((i) => i.Id === first)!;
  t.deepEqual(entry.RepoTags, ['<none>:<none>']);
  t.deepEqual(entry.RepoDigests, ['<none>@<none>']);
});

test.serial('docker image inspect finds by name, short id, prefix and full id; misses read as dockerd', async (t) => {
  await ok(['import', tar, 'insp:1']);
  const id: string = JSON.parse(await ok(['image', 'inspect', 'insp:1']))[0].Id;
  const hex = id.slice(7);
  for (const name of ['insp:1', 'docker.io/library/insp:1', hex.slice(0, 12), id, hex]) {
    t.is(JSON.parse(await ok(['image', 'inspect', name]))[0].Id, id, name);
  }
  const miss = await b.docker(['image', 'inspect', 'nosuch']);
  t.is(miss.code, 1);
  t.is(miss.stdout.trim(), '[]');
  t.is(miss.stderr.trim(), 'Error response from daemon: no such image: nosuch: No such image: nosuch:latest');
  const upper = await b.request('GET', '/images/BB/json');
  t.is(upper.status, 400);
  t.deepEqual(upper.json(), { message: 'no such image: BB: invalid reference format: repository name must be lowercase' });
  // A short ID that fits several images is no image at all, as dockerd 20.10 says. Among 17
  // images two IDs share a first hex digit: import until they do.
  const firsts = new Set((await b.request('GET', '/images/json')).json<Array<{ Id: string }>>().map((i) => i.Id[7]));
  let shared: string | undefined;
  for (let n = 0; !shared && n < 17; n++) {
    const c = (await ok(['import', '-m', `amb ${n}`, tar, `amb:${n}`])).trim()[7]!;
    if (firsts.has(c)) shared = c;
    firsts.add(c);
  }
  const amb = await b.request('GET', `/images/${shared}/json`);
  t.is(amb.status, 404);
  t.deepEqual(amb.json(), { message: `no such image: ${shared}: No such image: ${shared}:latest` });
  const full = await b.request('GET', `/images/${'0'.repeat(64)}/json`);
  t.deepEqual(full.json(), { message: `no such image: ${'0'.repeat(64)}: No such image: sha256:${'0'.repeat(64)}` });
});

test.serial('docker history shows the import entry', async (t) => {
  await ok(['import', '-m', 'hello', tar, 'hist:1']);
  const api = (await b.request('GET', '/images/hist:1/history')).json<Array<Record<string, unknown>>>();
  t.is(api.length, 1);
  t.deepEqual(Object.keys(api[0]!), ['Comment', 'Created', 'CreatedBy', 'Id', 'Size', 'Tags']);
  t.is(api[0]!.Comment, 'hello');
  t.deepEqual(api[0]!.Tags, ['hist:1']);
  const cli = await ok(['history', 'hist:1']);
  t.regex(cli, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT\n[0-9a-f]{12}\s+.*1\.9\dMB\s+hello\n$/);
  t.is((await b.request('GET', '/images/nosuch/history')).json<{ message: string }>().message, 'No such image: nosuch:latest');
});

test.serial('docker tag: 201, moves tags, and dockerd\'s errors', async (t) => {
  await ok(['import', tar, 'tg:1']);
  const r = await b.request('POST', '/images/tg:1/tag?repo=docker.io%2Flibrary%2Ftg&tag=2');
  t.is(r.status, 201);
  t.is(r.body, '');
  t.is(r.headers['content-type'], undefined);
  t.deepEqual(JSON.parse(await ok(['image', 'inspect', 'tg:1']))[0].RepoTags, ['tg:1', 'tg:2']);
  const missing = await b.docker(['tag', 'nosuch', 'x']);
  t.is(missing.stderr.trim(), 'Error response from daemon: No such image: nosuch:latest');
  const badTag = await b.request('POST', '/images/tg:1/tag?repo=tg&tag=bad!tag');
  t.is(badTag.status, 500);
  t.deepEqual(badTag.json(), { message: 'invalid tag format' });
  const digest = await b.request('POST', `/images/tg:1/tag?repo=${encodeURIComponent('tg@sha256:' + 'a'.repeat(64))}`);
  t.is(digest.status, 400);
  t.deepEqual(digest.json(), { message: 'refusing to create a tag with a digest reference' });
  const upper = await b.request('POST', '/images/tg:1/tag?repo=BB');
  t.deepEqual(upper.json(), { message: 'invalid reference format: repository name must be lowercase' });
});

test.serial('docker rmi: untag, delete with its layer, conflicts by id, force, missing', async (t) => {
  const layerTar = join(work, 'rmi.tar');
  execFileSync('tar', ['-C', join(work, 'rootfs'), '--numeric-owner', '-cf', layerTar, './etc']); // a layer of its own
  await ok(['import', layerTar, 'rmi-a:1']);
  await ok(['tag', 'rmi-a:1', 'rmi-a:2']);
  await ok(['tag', 'rmi-a:1', 'rmi-b:1']);
  const id: string = JSON.parse(await ok(['image', 'inspect', 'rmi-a:1']))[0].Id;
  t.is((await ok(['rmi', 'rmi-a:2'])).trim(), 'Untagged: rmi-a:2');
  const conflict = await b.docker(['rmi', id.slice(7, 19)]);
  t.is(conflict.code, 1);
  t.is(conflict.stderr.trim(), `Error response from daemon: conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
  const del = await b.request('DELETE', '/images/rmi-a:1');
  t.deepEqual(del.json(), [{ Untagged: 'rmi-a:1' }]);
  const forced = await b.request('DELETE', `/images/${id.slice(7, 19)}?force=1`);
  const items = forced.json<Array<Record<string, string>>>();
  t.deepEqual(items.slice(0, 2), [{ Untagged: 'rmi-b:1' }, { Deleted: id }]);
  t.deepEqual(items[2], { Deleted: `sha256:${sha256(readFileSync(layerTar))}` }, 'its layer, no longer used, goes too');
  const miss = await b.docker(['rmi', 'nosuch']);
  t.is(miss.stderr.trim(), 'Error response from daemon: No such image: nosuch:latest');
  const blank = await b.request('DELETE', '/images/');
  t.is(blank.status, 400);
  t.deepEqual(blank.json(), { message: 'image name cannot be blank' });
});

test.serial('docker save then docker load round-trips: same image ID, same layer bytes', async (t) => {
  await ok(['import', '-c', 'CMD ["/bin/sh"]', tar, 'rt:1']);
  await ok(['tag', 'rt:1', 'rt:2']);
  const id: string = JSON.parse(await ok(['image', 'inspect', 'rt:1']))[0].Id;
  const out = join(work, 'rt.tar');
  await ok(['save', '-o', out, 'rt']);
  const listing = execFileSync('tar', ['-tf', out]).toString().trim().split('\n');
  t.true(listing.includes('manifest.json') && listing.includes('index.json') && listing.includes('oci-layout') && listing.includes('repositories'));
  const ex = join(work, 'rt-x');
  mkdirSync(ex);
  execFileSync('tar', ['-C', ex, '-xf', out]);
  const manifest = JSON.parse(readFileSync(join(ex, 'manifest.json'), 'utf8'));
  t.deepEqual(manifest[0].RepoTags.sort(), ['rt:1', 'rt:2']);
  const layer = readFileSync(join(ex, manifest[0].Layers[0]));
  t.is(`sha256:${sha256(layer)}`, `sha256:${sha256(readFileSync(tar))}`, 'the saved layer is the imported tarball, byte for byte');
  t.is(`sha256:${sha256(readFileSync(join(ex, manifest[0].Config)))}`, id);
  t.is(JSON.parse(readFileSync(join(ex, 'oci-layout'), 'utf8')).imageLayoutVersion, '1.0.0');
  await ok(['rmi', 'rt:1', 'rt:2']);
  const load = await ok(['load', '-i', out]);
  t.is(load, 'Loaded image: rt:1\nLoaded image: rt:2\n');
  const back = JSON.parse(await ok(['image', 'inspect', 'rt:1']))[0];
  t.is(back.Id, id);
  t.is(back.Metadata.LastTagTime, '0001-01-01T00:00:00Z', 'loaded tags have no tag time, as dockerd');
  t.is(await ok(['load', '-i', out]), 'Loaded image: rt:1\nLoaded image: rt:2\n', 'loading again changes nothing');
});

test.serial('docker load without -q shows layer progress; a compressed archive loads too', async (t) => {
  await ok(['import', '-c', 'LABEL p=1', join(work, 'busybox.tar.xz'), 'prog:1']);
  const out = join(work, 'prog.tar');
  await ok(['save', '-o', out, 'prog:1']);
  await ok(['rmi', 'prog:1']);
  // Drop the layer too, so loading has one to extract.
  for (const i of (await b.request('GET', '/images/json')).json<Array<{ Id: string }>>()) await b.request('DELETE', `/images/${i.Id}?force=1`);
  const res = await b.request('POST', '/images/load?quiet=0', { body: execFileSync('zstd', ['-c', out], { maxBuffer: 64 << 20 }), headers: { 'Content-Type': 'application/x-tar' } });
  t.is(res.status, 200);
  t.is(res.headers['content-type'], 'application/json');
  const lines = res.body.trim().split('\n').map((l) => JSON.parse(l));
  const progress = lines.filter((l) => l.status === 'Loading layer');
  t.true(progress.length >= 1);
  t.regex(progress.at(-1).id, /^[0-9a-f]{12}$/);
  t.deepEqual(Object.keys(progress.at(-1).progressDetail), ['current', 'total']);
  t.deepEqual(lines.at(-1), { stream: 'Loaded image: prog:1\n' });
});

test.serial('docker load errors come in the stream; nothing is left of them', async (t) => {
  const garbage = join(work, 'garbage.tar');
  writeFileSync(garbage, Buffer.alloc(4096, 0x41));
  const r = await b.docker(['load', '-i', garbage]);
  t.is(r.code, 1);
  t.regex(r.stderr, /Error processing tar file: invalid tar header/);
  const before = (await b.request('GET', '/images/json')).json<unknown[]>().length;
  // An archive whose layer does not hash to its config's diffID.
  const ex = join(work, 'rt-x');
  const manifest = JSON.parse(readFileSync(join(ex, 'manifest.json'), 'utf8'));
  const bad = join(work, 'bad-x');
  execFileSync('cp', ['-a', ex, bad]);
  writeFileSync(join(bad, manifest[0].Layers[0]), execFileSync('tar', ['-C', join(work, 'rootfs'), '-cf', '-', './etc']));
  const badTar = join(work, 'bad.tar');
  execFileSync('tar', ['-C', bad, '-cf', badTar, '.']);
  for (const i of (await b.request('GET', '/images/json')).json<Array<{ Id: string }>>()) await b.request('DELETE', `/images/${i.Id}?force=1`);
  const res = await b.request('POST', '/images/load', { body: readFileSync(badTar) });
  t.is(res.status, 200);
  const last = JSON.parse(res.body.trim().split('\n').at(-1)!);
  t.regex(last.errorDetail.message, /^invalid diffID for layer 0: expected "sha256:[0-9a-f]{64}", got "sha256:[0-9a-f]{64}"$/);
  t.is(last.error, last.errorDetail.message);
  t.is((await b.request('GET', '/images/json')).json<unknown[]>().length, 0, `nothing was loaded (had ${before} before cleaning)`);
});

test.serial('loading an OCI layout from umoci, and a docker-archive from skopeo', async (t) => {
  const layout = join(work, 'oci');
  execFileSync('umoci', ['init', '--layout', layout]);
  execFileSync('umoci', ['new', '--image', `${layout}:latest`]);
  const bundle = join(work, 'bundle');
  execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout}:latest`, bundle]);
  execFileSync('cp', ['-a', `${join(work, 'rootfs')}/.`, join(bundle, 'rootfs')]);
  execFileSync('umoci', ['repack', '--image', `${layout}:latest`, bundle]);
  const ociTar = join(work, 'oci.tar');
  execFileSync('tar', ['-C', layout, '-cf', ociTar, '.']);
  const oci = await ok(['load', '-i', ociTar]);
  t.regex(oci, /^Loaded image ID: sha256:[0-9a-f]{64}\n$/, 'umoci names only the tag: the image loads untagged');
  const id = oci.trim().split(' ').at(-1)!;
  t.is(JSON.parse(await ok(['image', 'inspect', id]))[0].Config.Cmd, null);

  const skopeoTar = join(work, 'skopeo.tar');
  execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}:latest`, `docker-archive:${skopeoTar}:sk:1`]);
  t.is(await ok(['load', '-i', skopeoTar]), 'Loaded image: sk:1\n');
  const sk = JSON.parse(await ok(['image', 'inspect', 'sk:1']))[0];
  t.is(sk.Id, id, 'the same image, whichever archive carried it');
  // And the way back: what berthd saves, skopeo reads as both formats.
  const saved = join(work, 'sk-saved.tar');
  await ok(['save', '-o', saved, 'sk:1']);
  const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${saved}`]).toString());
  t.is(inspect.Layers.length, 1);
  const dir = join(work, 'sk-oci');
  mkdirSync(dir);
  execFileSync('tar', ['-C', dir, '-xf', saved]);
  const viaOci = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${dir}:1`]).toString());
  t.is(viaOci.Layers.length, 1);
});

test.serial('docker image prune removes dangling images; -a removes every unused one', async (t) => {
  for (const i of (await b.request('GET', '/images/json')).json<Array<{ Id: string }>>()) await b.request('DELETE', `/images/${i.Id}?force=1`);
  await ok(['import', tar, 'pr:1']);
  await ok(['import', tar, 'pr:1']); // the first becomes dangling
  const pruned = await ok(['image', 'prune', '-f']);
  t.regex(pruned, /^Deleted Images:\ndeleted: sha256:[0-9a-f]{64}\n\nTotal reclaimed space: 0B\n$/);
  t.is((await ok(['images', '-q'])).trim().split('\n').length, 1);
  const all = (await b.request('POST', `/images/prune?filters=${encodeURIComponent('{"dangling":{"false":true}}')}`)).json<{ ImagesDeleted: Array<Record<string, string>>; SpaceReclaimed: number }>();
  t.deepEqual(all.ImagesDeleted[0], { Untagged: 'pr:1' });
  t.true(all.SpaceReclaimed > 1_900_000, 'the last image took its layer with it');
  t.deepEqual((await b.request('POST', '/images/prune')).json(), { ImagesDeleted: null, SpaceReclaimed: 0 });
});

test.serial('docker system df counts images and shared layers', async (t) => {
  await ok(['import', tar, 'df:1']);
  await ok(['import', tar, 'df:2']);
  const df = (await b.request('GET', '/system/df')).json<{ LayersSize: number; Images: Array<{ SharedSize: number; Containers: number }>; Containers: unknown[]; Volumes: unknown[]; BuildCache: null; BuilderSize: number }>();
  t.deepEqual(Object.keys(df), ['LayersSize', 'Images', 'Containers', 'Volumes', 'BuildCache', 'BuilderSize']);
  t.is(df.Images.length, 2);
  t.true(df.Images.every((i) => i.SharedSize === i.SharedSize && i.SharedSize > 1_900_000 && i.Containers === 0), 'both share one layer');
  t.true(df.LayersSize > 1_900_000 && df.LayersSize < 2_100_000, 'counted once');
  const cli = await ok(['system', 'df']);
  t.regex(cli, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+2\s+0\s+1\.9\d+MB/);
  t.is((await b.dockerode().info()).Images, 2);
});

test.serial('image commands publish dockerd\'s events', async (t) => {
  await new Promise((r) => setTimeout(r, 20));
  const since = (Date.now() / 1000).toFixed(3); // fractional: earlier tests' events stay out
  await ok(['import', tar, 'ev:1']);
  await ok(['tag', 'ev:1', 'ev:2']);
  await ok(['rmi', 'ev:2']);
  await ok(['save', '-o', join(work, 'ev.tar'), 'ev:1']);
  await new Promise((r) => setTimeout(r, 1_100));
  const evs = await ok(['events', '--since', since, '--until', (Date.now() / 1000).toFixed(3), '--filter', 'type=image', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
  const actions = evs.trim().split('\n');
  t.deepEqual(actions.map((l) => l.split(' ')[0]), ['tag', 'import', 'tag', 'untag', 'save']);
  t.is(actions[0], 'tag ev:1');
  t.is(actions[2], 'tag ev:2');
});

test.serial('a restarted berthd keeps its images and tags', async (t) => {
  const dir = tempDir();
  try {
    const a = await startBerthd({ dir });
    const ra = await run('docker', ['import', tar, 'keep:1'], { env: { DOCKER_HOST: `unix://${a.socket}` } });
    t.is(ra.code, 0, ra.stderr);
    const before = (await a.request('GET', '/images/json')).body;
    await a.stop();
    const c = await startBerthd({ dir });
    t.is((await c.request('GET', '/images/json')).body, before);
    await c.stop();
  } finally {
    removeDir(dir);
  }
});
