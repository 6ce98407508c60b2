/**
 * docker diff, export and commit, and the init layer under every container, with the real
 * docker CLI against a real berthd (busybox under runc), compared with dockerd 20.10's answers
 * (test/fixtures/dockerd-20.10/extras, §3). The suite ends by checking that nothing is left.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, dockerOk } from '../helpers/containers.js';
import { diskState, removeDir } from '../helpers/images.js';

let b: Berthd;
let dir: string;
let work: string;

test.before(async () => {
  work = tempDir('btchg-w-');
  dir = tempDir('btchg-');
  b = await startBerthd({ dir });
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) {
    const ids = (await b.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await b.docker(['rm', '-f', ...ids]);
    await b.stop();
  }
  if (dir) removeDir(dir);
  if (work) removeDir(work);
});

const ok = (args: string[]) => dockerOk(b, args);
const inspect = async (name: string) => JSON.parse(await ok(['inspect', name]))[0];
/** A point in time for `docker events --since`, to the millisecond. */
const now = () => (Date.now() / 1000).toFixed(3);
const events = async (since: string) => {
  const until = Math.floor(Date.now() / 1000) + 1;
  return (await ok(['events', '--since', since, '--until', String(until), '--format', '{{json .}}']))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } });
};

const CHANGES = 'echo a > /newfile; echo x >> /etc/passwd; rm /bin/vi; mkdir -p /newdir/a; echo b > /newdir/a/f; touch /etc/group; sleep 3600';
// dockerd's order is Go map order (any call may differ); berth gives one of its orders: a
// directory before its contents, deletions after what a directory still holds.
const CHG_DIFF = ['C /bin', 'D /bin/vi', 'C /etc', 'C /etc/group', 'C /etc/passwd', 'A /newdir', 'A /newdir/a', 'A /newdir/a/f', 'A /newfile'];

test.serial('init layer: a new container has no changes (null, as dockerd), and inspect shows the -init layer first', async (t) => {
  await ok(['create', '--name', 'fresh', 'busybox', 'true']);
  const r = await b.request('GET', '/containers/fresh/changes');
  t.is(r.status, 200);
  t.is(r.body, 'null\n');
  t.is(await ok(['diff', 'fresh']), '');
  const c = await inspect('fresh');
  t.is(c.GraphDriver.Name, 'overlay2');
  const lower: string[] = c.GraphDriver.Data.LowerDir.split(':');
  const mountDir = c.GraphDriver.Data.UpperDir.replace(/\/diff$/, '');
  t.is(lower[0], `${mountDir}-init/diff`);
  t.is(lower.length, 2, 'init, then the image\'s one layer');
  // What the init layer holds, as dockerd's initlayer.Setup.
  const init = lower[0]!;
  t.deepEqual(readdirSync(init).sort(), ['.dockerenv', 'dev', 'etc', 'proc', 'sys']);
  t.deepEqual(readdirSync(join(init, 'dev')).sort(), ['console', 'pts', 'shm']);
  t.deepEqual(readdirSync(join(init, 'etc')).sort(), ['hostname', 'hosts', 'mtab', 'resolv.conf']);
  // It runs, and the stubs still are not changes of its own.
  t.is((await b.docker(['start', '-a', 'fresh'])).code, 0);
  t.is((await b.request('GET', '/containers/fresh/changes')).body, 'null\n');
  const snapshots = diskState(b.dataRoot).snapshots.length;
  await ok(['rm', 'fresh']);
  t.is(diskState(b.dataRoot).snapshots.length, snapshots - 2, 'both the container\'s layer and its init layer go with it');
  t.false(existsSync(init));
});

test.serial('docker diff: A/C/D as dockerd reports them, running and stopped; a missing container is a 404', async (t) => {
  await ok(['run', '-d', '--name', 'chg', 'busybox', 'sh', '-c', CHANGES]);
  t.true(await waitFor(async () => (await ok(['diff', 'chg'])).includes('A /newfile'), 5_000));
  t.deepEqual((await ok(['diff', 'chg'])).trim().split('\n'), CHG_DIFF);
  const api = await b.request('GET', '/containers/chg/changes');
  t.is(api.headers['content-type'], 'application/json');
  t.deepEqual(api.json<Array<{ Path: string; Kind: number }>>().slice(0, 2), [{ Path: '/bin', Kind: 0 }, { Path: '/bin/vi', Kind: 2 }]);

  await ok(['run', '--name', 'stopped1', 'busybox', 'sh', '-c', 'echo l > /tmp_l; mkdir /d; touch /d/x']);
  t.deepEqual((await ok(['diff', 'stopped1'])).trim().split('\n'), ['A /d', 'A /d/x', 'A /tmp_l']);

  const missing = await b.docker(['diff', 'nosuch']);
  t.is(missing.code, 1);
  t.is(missing.stderr, 'Error response from daemon: No such container: nosuch\n');
  const m = await b.request('GET', '/containers/nosuch/changes');
  t.is(m.status, 404);
  t.is(m.body, '{"message":"No such container: nosuch"}\n');
});

test.serial('docker export: the merged filesystem with the init stubs, no "./" and no root entry, sorted; an export event', async (t) => {
  const since = now();
  const file = join(work, 'chg.tar');
  await ok(['export', '-o', file, 'chg']);
  const names = execFileSync('tar', ['-tf', file]).toString().trim().split('\n');
  t.is(names[0], '.dockerenv');
  t.false(names.some((n) => n.startsWith('./') || n === '/' || n === '.'));
  t.deepEqual([...names].sort((a, c) => Buffer.compare(Buffer.from(a.replace(/\/$/, '')), Buffer.from(c.replace(/\/$/, '')))), names, 'sorted, parents first');
  for (const n of ['bin/', 'bin/busybox', 'dev/', 'dev/console', 'dev/pts/', 'dev/shm/', 'etc/group', 'etc/hostname', 'etc/hosts', 'etc/mtab', 'etc/passwd', 'etc/resolv.conf', 'newdir/', 'newdir/a/', 'newdir/a/f', 'newfile', 'proc/', 'sys/']) {
    t.true(names.includes(n), n);
  }
  t.false(names.includes('bin/vi'), 'a deleted file is absent');
  const verbose = execFileSync('tar', ['-tvf', file]).toString();
  t.regex(verbose, /^-rwxr-xr-x root\/root\s+0 \S+ \S+ \.dockerenv$/m);
  t.regex(verbose, /^-rwxr-xr-x root\/root\s+0 \S+ \S+ etc\/hosts$/m, 'the init layer\'s empty stub, not the bind-mounted file');
  t.regex(verbose, /^lrwxrwxrwx root\/root\s+0 \S+ \S+ etc\/mtab -> \/proc\/mounts$/m);
  t.is(execFileSync('tar', ['-xOf', file, 'newdir/a/f']).toString(), 'b\n');

  // A stopped container too, through the API: chunked, application/octet-stream as dockerd's.
  const r = await b.request('GET', '/containers/stopped1/export');
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/octet-stream');
  t.is(r.headers['transfer-encoding'], 'chunked');
  const missing = await b.request('GET', '/containers/nosuch/export');
  t.is(missing.status, 404);
  t.is(missing.body, '{"message":"No such container: nosuch"}\n');

  const ev = (await events(since)).filter((e) => e.Type === 'container' && e.Action === 'export');
  t.deepEqual(ev.map((e) => e.Actor.Attributes.name), ['chg', 'stopped1']);
  t.deepEqual(ev[0]!.Actor.Attributes, { image: 'busybox', name: 'chg' });
});

test.serial('docker commit -c -m -a: pause, tag, commit, unpause; the image runs with the changes; history and inspect as dockerd', async (t) => {
  const since = now();
  const cid = (await inspect('chg')).Id;
  const base = (await inspect('busybox')).Id;
  const out = await ok(['commit', '-c', 'ENV X=1', '-c', 'CMD ["echo","hi"]', '-m', 'my msg', '-a', 'Me <me@x>', 'chg', 'committed:v1']);
  t.regex(out, /^sha256:[0-9a-f]{64}\n$/);
  const id = out.trim();
  t.is((await inspect('chg')).State.Status, 'running', 'unpaused again');

  const img = await inspect('committed:v1');
  t.is(img.Id, id);
  t.deepEqual(img.RepoTags, ['committed:v1']);
  t.is(img.Parent, base);
  t.is(img.Comment, 'my msg');
  t.is(img.Author, 'Me <me@x>');
  t.is(img.Container, cid);
  t.deepEqual(img.Config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'X=1']);
  t.deepEqual(img.Config.Cmd, ['echo', 'hi']);
  t.is(img.Config.Image, 'busybox');
  t.is(img.Config.Hostname, cid.slice(0, 12));
  t.deepEqual(img.ContainerConfig.Cmd, ['sh', '-c', CHANGES]);
  t.is(img.RootFS.Layers.length, 2);
  t.is(img.RootFS.Layers[0], (await inspect('busybox')).RootFS.Layers[0]);

  const hist = JSON.parse((await b.request('GET', '/images/committed:v1/history')).body);
  t.is(hist.length, 2);
  t.like(hist[0], { Comment: 'my msg', CreatedBy: `sh -c ${CHANGES}`, Id: id, Tags: ['committed:v1'] });
  t.true(hist[0].Size > 0);
  t.like(hist[1], { Id: base });

  // The new image has the container's files, the init stubs do not come along.
  t.is(await ok(['run', '--rm', 'committed:v1']), 'hi\n');
  const run = await ok(['run', '--rm', 'committed:v1', 'sh', '-c', 'echo $X; cat /newfile /newdir/a/f; tail -1 /etc/passwd; ls /bin/vi 2>&1; ls -a / | grep -c dockerenv']);
  t.is(run, '1\na\nb\nx\nls: /bin/vi: No such file or directory\n1\n');
  // Its layer is rebuilt byte for byte from its tar-split, as an imported one's.
  const saved = join(work, 'committed.tar');
  await ok(['save', '-o', saved, 'committed:v1']);
  t.true(execFileSync('tar', ['-tf', saved]).toString().includes(`blobs/sha256/${img.RootFS.Layers[1].slice(7)}`));

  const ev = (await events(since)).filter((e) => (e.Actor.ID === cid || e.Actor.ID === id) && e.Action !== 'save');
  t.deepEqual(ev.map((e) => `${e.Type} ${e.Action}`), ['container pause', 'image tag', 'container commit', 'container unpause']);
  t.deepEqual(ev[1]!.Actor.Attributes, { name: 'committed:v1' });
  t.deepEqual(ev[2]!.Actor.Attributes, { comment: 'my msg', image: 'busybox', imageID: id, imageRef: 'committed:v1', name: 'chg' });
});

test.serial('POST /commit with a JSON body: the body is the base config (Hostname and Image stay ""); no repo is untagged; pause=false does not pause', async (t) => {
  const since = now();
  const cid = (await inspect('chg')).Id;
  const r = await b.request('POST', '/v1.41/commit?container=chg&comment=c1&author=a1&repo=apicommit&tag=t1&changes=EXPOSE+80', {
    body: '{"Labels":{"k":"v"}}',
    headers: { 'Content-Type': 'application/json' },
  });
  t.is(r.status, 201);
  t.regex(r.body, /^\{"Id":"sha256:[0-9a-f]{64}"\}\n$/);
  const img = await inspect('apicommit:t1');
  t.is(img.Config.Hostname, '');
  t.is(img.Config.Image, '');
  t.deepEqual(img.Config.Cmd, ['sh', '-c', CHANGES]);
  t.deepEqual(img.Config.ExposedPorts, { '80/tcp': {} });
  t.deepEqual(img.Config.Labels, { k: 'v' });
  t.is(img.Comment, 'c1');
  t.is(img.Author, 'a1');

  const norepo = await b.request('POST', '/commit?container=chg&pause=false');
  t.is(norepo.status, 201);
  const untagged = norepo.json<{ Id: string }>().Id;
  t.deepEqual((await inspect(untagged)).RepoTags, []);

  const ev = (await events(since)).filter((e) => e.Actor.ID === cid || e.Type === 'image');
  t.deepEqual(ev.map((e) => `${e.Type} ${e.Action}`), ['container pause', 'image tag', 'container commit', 'container unpause', 'container commit']);
  t.deepEqual(ev[1]!.Actor.Attributes, { k: 'v', name: 'apicommit:t1' });
  t.like(ev[4]!.Actor.Attributes, { comment: '', imageID: untagged, imageRef: '' });
  await ok(['rmi', untagged, 'apicommit:t1']);
});

test.serial('commit errors as dockerd: bad change 400, bad repo 500 after the image is made, missing container 404', async (t) => {
  const bad = await b.request('POST', '/commit?container=chg&changes=FROM+x');
  t.is(bad.status, 400);
  t.is(bad.body, '{"message":"from is not a valid change command"}\n');
  const before = (await ok(['images', '-q', '--no-trunc', '--filter', 'dangling=true'])).trim();
  const upper = await b.request('POST', '/commit?container=chg&repo=UPPER');
  t.is(upper.status, 500);
  t.is(upper.body, '{"message":"invalid reference format: repository name must be lowercase"}\n');
  const dangling = (await ok(['images', '-q', '--no-trunc', '--filter', 'dangling=true'])).trim().split('\n').filter((l) => l && !before.includes(l));
  t.is(dangling.length, 1, 'the image exists, untagged, as with dockerd');
  await ok(['rmi', ...dangling]);
  const missing = await b.docker(['commit', 'nosuch', 'x:y']);
  t.is(missing.code, 1);
  t.is(missing.stderr, 'Error response from daemon: No such container: nosuch\n');
  t.is((await inspect('chg')).State.Status, 'running');
});

test.serial('opaque directories: a directory removed and made again reports what it lost', async (t) => {
  await ok(['run', '--name', 'opq', 'committed:v1', 'sh', '-c', 'rm -rf /newdir; mkdir /newdir; echo z > /newdir/z']);
  t.deepEqual((await ok(['diff', 'opq'])).trim().split('\n'), ['C /newdir', 'A /newdir/z', 'D /newdir/a']);
  // Committed, the directory's old contents are gone in the new image.
  await ok(['commit', 'opq', 'opq:1']);
  t.is(await ok(['run', '--rm', 'opq:1', 'sh', '-c', 'ls -A /newdir']), 'z\n');
  await ok(['rm', 'opq']);
  await ok(['rmi', 'opq:1']);
});

test.serial('an empty commit adds no layer (empty_layer in the history)', async (t) => {
  await ok(['create', '--name', 'empty', 'busybox', 'true']);
  const id = (await ok(['commit', 'empty', 'empty:1'])).trim();
  const img = await inspect(id);
  t.deepEqual(img.RootFS.Layers, (await inspect('busybox')).RootFS.Layers);
  const hist = JSON.parse((await b.request('GET', '/images/empty:1/history')).body);
  t.is(hist[0].Size, 0);
  await ok(['rm', 'empty']);
  await ok(['rmi', 'empty:1']);
});

test.serial('the init layer survives a daemon restart, and goes with its container', async (t) => {
  await ok(['create', '--name', 'kept', 'busybox', 'true']);
  const snapshots = diskState(b.dataRoot).snapshots;
  await b.stop();
  b = await startBerthd({ dir });
  t.deepEqual(diskState(b.dataRoot).snapshots, snapshots, 'start-up clean-up keeps both snapshots');
  t.is((await b.docker(['start', '-a', 'kept'])).code, 0);
  t.is(await ok(['diff', 'kept']), '');
  await ok(['rm', 'kept']);
  t.is(diskState(b.dataRoot).snapshots.length, snapshots.length - 2);
});

test.serial('vfs: the init layer, diff, export and commit work the same on the other graph driver', async (t) => {
  const v = await startBerthd({ args: ['--storage-driver', 'vfs'] });
  const vok = async (args: string[]) => {
    const r = await v.docker(args);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  try {
    await importBusybox(v, work, 'busybox:latest');
    const images = diskState(v.dataRoot, 'vfs').snapshots.length;
    await vok(['run', '--name', 'vchg', 'busybox', 'sh', '-c', CHANGES.replace('; sleep 3600', '')]);
    t.deepEqual((await vok(['diff', 'vchg'])).trim().split('\n'), CHG_DIFF);
    const file = join(work, 'vchg.tar');
    await vok(['export', '-o', file, 'vchg']);
    const names = execFileSync('tar', ['-tf', file]).toString().trim().split('\n');
    t.is(names[0], '.dockerenv');
    t.true(names.includes('etc/mtab') && names.includes('dev/console') && names.includes('newfile'));
    t.false(names.includes('bin/vi'));
    await vok(['commit', '-c', 'ENV X=1', 'vchg', 'vcommitted:1']);
    t.is(await vok(['run', '--rm', 'vcommitted:1', 'sh', '-c', 'echo $X; cat /newfile; ls /bin/vi 2>&1; ls /.dockerenv']), '1\na\nls: /bin/vi: No such file or directory\n/.dockerenv\n');
    await vok(['run', '--name', 'vopq', 'vcommitted:1', 'sh', '-c', 'rm -rf /newdir; mkdir /newdir; echo z > /newdir/z']);
    t.deepEqual((await vok(['diff', 'vopq'])).trim().split('\n'), ['C /newdir', 'A /newdir/z', 'D /newdir/a']);
    await vok(['rm', 'vchg', 'vopq']);
    await vok(['rmi', 'vcommitted:1']);
    t.is(diskState(v.dataRoot, 'vfs').snapshots.length, images, 'the containers\' and init layers went with them');
  } finally {
    await v.stop();
  }
});

test.serial('nothing is left behind: containers, images, mounts, processes', async (t) => {
  const ids = (await ok(['ps', '-aq'])).split('\n').filter(Boolean);
  if (ids.length) await ok(['rm', '-f', ...ids]);
  await ok(['rmi', 'committed:v1']);
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 5_000), JSON.stringify(leftovers(b)));
  const disk = diskState(b.dataRoot);
  t.is(disk.snapshots.length, 1, `only busybox's layer: ${JSON.stringify(disk)}`);
  t.deepEqual(disk.tmp, []);
  t.deepEqual(disk.layerTmp, []);
});
