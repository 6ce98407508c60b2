/**
 * docker run --volumes-from with the real docker CLI against a real berthd, as dockerd 20.10's
 * registerMountPoints does it: the other container's volumes and binds (not its tmpfs) with
 * their RW unless :ro, referenced by the new container (409 on volume rm, kept by prune),
 * replaced by -v/--mount at the same destination, the Mounts of inspect (no Mode on the copies),
 * rm -v, and dockerd's errors (400 "No such container: x", "invalid mode: x"). Ends with the
 * leak check.
 */
import test from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, mountsUnder, dockerOk } from '../helpers/containers.js';
import { busyboxTar, removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;
let hostdir: string;

test.before(async () => {
  work = tempDir('btvf-');
  b = await startBerthd();
  await importBusybox(b, work);
  // bbvol: busybox with VOLUME ["/data"].
  const r = await b.docker(['import', '--change', 'CMD ["sh"]', '--change', 'VOLUME ["/data"]', busyboxTar(work), 'bbvol']);
  if (r.code !== 0) throw new Error(r.stderr);
  hostdir = join(work, 'hostdir');
  mkdirSync(hostdir);
  writeFileSync(join(hostdir, 'h.txt'), 'host\n');
});

test.after.always(async () => {
  if (b) {
    const ids = (await b.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await b.docker(['rm', '-f', '-v', ...ids]);
    const vols = (await b.docker(['volume', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
    if (vols.length) await b.docker(['volume', 'rm', '-f', ...vols]);
    await b.stop();
    removeDir(b.dir);
  }
  if (work) removeDir(work);
});

const ok = (args: string[]) => dockerOk(b, args);
const inspect = async (name: string) => JSON.parse(await ok(['inspect', name]))[0];
const volumes = async () => (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();
const USAGE = "\n\nRun 'docker run --help' for more information\n";
const vol = (name: string, destination: string, rw: boolean, mode = '') =>
  ({ Type: 'volume', Name: name, Source: join(b.dataRoot, 'volumes', name, '_data'), Destination: destination, Driver: 'local', Mode: mode, RW: rw, Propagation: '' });

test.serial('a data container\'s volumes: written through one container, read through another; :ro is read-only; inspect as dockerd', async (t) => {
  const dataId = (await ok(['create', '--name', 'data', '-v', '/data', '-v', 'vfnamed:/named', 'busybox', 'true'])).trim();
  const data = await inspect('data');
  const anon = data.Mounts.find((m: { Destination: string }) => m.Destination === '/data').Name as string;
  t.deepEqual(data.Mounts, [vol(anon, '/data', true), vol('vfnamed', '/named', true, 'z')]);

  t.is(await ok(['run', '--rm', '--volumes-from', 'data', 'busybox', 'sh', '-c', 'echo hi > /data/a && echo n > /named/b && echo done']), 'done\n');
  t.is(await ok(['run', '--rm', '--volumes-from', 'data:ro', 'busybox', 'cat', '/data/a', '/named/b']), 'hi\nn\n');
  t.is(readFileSync(join(b.dataRoot, 'volumes', anon, '_data/a'), 'utf8'), 'hi\n', 'the data container\'s own volume');
  for (const path of ['/data/new', '/named/new']) {
    const ro = await b.docker(['run', '--rm', '--volumes-from', `${dataId.slice(0, 12)}:ro`, 'busybox', 'touch', path]);
    t.is(ro.code, 1, path);
    t.is(ro.stderr, `touch: ${path}: Read-only file system\n`, path);
  }
  t.is(await ok(['run', '--rm', '--volumes-from', 'data:rw', 'busybox', 'sh', '-c', 'echo rw > /data/a; cat /data/a']), 'rw\n');

  // A copy has no Mode (dockerd does not copy it) and the RW of the mode; HostConfig keeps the spec as given.
  await ok(['create', '--name', 'c1', '--volumes-from', 'data:ro', 'busybox', 'true']);
  const c1 = await inspect('c1');
  t.deepEqual(c1.Mounts, [vol(anon, '/data', false), vol('vfnamed', '/named', false)]);
  t.deepEqual(c1.HostConfig.VolumesFrom, ['data:ro']);
  t.is(c1.HostConfig.Binds, null);
  t.is(data.HostConfig.VolumesFrom, null);

  // Followed through a container that got them by --volumes-from: its read-only stays read-only, even with :rw.
  await ok(['create', '--name', 'c2', '--volumes-from', 'c1:rw', 'busybox', 'true']);
  t.deepEqual((await inspect('c2')).Mounts, [vol(anon, '/data', false), vol('vfnamed', '/named', false)]);
  const ro = await b.docker(['start', '-a', 'c2']);
  t.is(ro.code, 0);
  t.is(await ok(['run', '--rm', '--volumes-from', 'c1:rw', 'busybox', 'sh', '-c', 'touch /data/x 2>&1; cat /data/a']), 'touch: /data/x: Read-only file system\nrw\n');
  t.deepEqual(await volumes(), [anon, 'vfnamed'].sort(), 'no volume made for them');
  await ok(['rm', 'c1', 'c2']);
});

test.serial('the volumes are referenced: 409 on volume rm while the second container has them, prune keeps them; rm -v as dockerd', async (t) => {
  const anon = (await inspect('data')).Mounts.find((m: { Destination: string }) => m.Destination === '/data').Name as string;
  const id = (await ok(['create', '--name', 'user', '--volumes-from', 'data', 'busybox', 'cat', '/data/a', '/named/b'])).trim();
  // The data container goes (rm -v: its anonymous volume is in use, so it stays, as in dockerd).
  t.is(await ok(['rm', '-v', 'data']), 'data\n');
  t.deepEqual(await volumes(), [anon, 'vfnamed'].sort());
  for (const name of [anon, 'vfnamed']) {
    const r = await b.docker(['volume', 'rm', name]);
    t.is(r.code, 1, name);
    t.is(r.stderr, `Error response from daemon: remove ${name}: volume is in use - [${id}]\n`, name);
    t.is((await b.request('DELETE', `/volumes/${name}`)).status, 409, name);
  }
  const pruned = await ok(['volume', 'prune', '-f']);
  t.false(pruned.includes(anon) || pruned.includes('vfnamed'), pruned);
  t.deepEqual(await volumes(), [anon, 'vfnamed'].sort(), 'prune keeps them');
  t.is((await ok(['ps', '-a', '--filter', 'volume=vfnamed', '--format', '{{.Names}}'])), 'user\n');

  // The second container runs on them with the data container gone.
  t.is(await ok(['start', '-a', 'user']), 'rw\nn\n');
  // dockerd's rm -v: the anonymous volume goes once nothing uses it, the named one stays.
  await ok(['rm', '-v', 'user']);
  t.deepEqual(await volumes(), ['vfnamed']);
  await ok(['volume', 'rm', 'vfnamed']);
});

test.serial('a bind shared via --volumes-from, several containers, and -v/--mount winning over them', async (t) => {
  await ok(['create', '--name', 'bsrc', '-v', `${hostdir}:/h`, '--mount', 'type=tmpfs,target=/t', 'busybox', 'true']);
  await ok(['create', '--name', 'vsrc', '-v', 'vfa:/a', '-v', 'vfb:/b', 'busybox', 'true']);
  t.is(await ok(['run', '--rm', '--volumes-from', 'bsrc', 'busybox', 'sh', '-c', 'cat /h/h.txt; echo from-ctr > /h/w.txt; grep -c " /t " /proc/mounts || true']), 'host\n0\n', 'the bind, not the tmpfs');
  t.is(readFileSync(join(hostdir, 'w.txt'), 'utf8'), 'from-ctr\n', 'written through to the host');
  const ro = await b.docker(['run', '--rm', '--volumes-from', 'bsrc:ro', 'busybox', 'touch', '/h/no']);
  t.is(ro.stderr, 'touch: /h/no: Read-only file system\n');

  await ok(['create', '--name', 'multi', '--volumes-from', 'bsrc', '--volumes-from', 'vsrc:ro', '-v', 'vfo:/b', '--mount', `type=bind,source=${hostdir},target=/a,readonly`, 'busybox', 'true']);
  const m = await inspect('multi');
  t.deepEqual(m.Mounts, [
    { Type: 'bind', Source: hostdir, Destination: '/a', Mode: '', RW: false, Propagation: 'rprivate' },
    vol('vfo', '/b', true, 'z'),
    { Type: 'bind', Source: hostdir, Destination: '/h', Mode: '', RW: true, Propagation: 'rprivate' },
  ]);
  t.deepEqual(m.HostConfig.VolumesFrom, ['bsrc', 'vsrc:ro']);
  // vfa and vfb are vsrc's only: multi does not hold them.
  t.is((await ok(['ps', '-a', '--filter', 'volume=vfa', '--format', '{{.Names}}'])), 'vsrc\n');

  // The image's VOLUME at a destination --volumes-from fills makes no anonymous volume.
  const before = await volumes();
  await ok(['create', '--name', 'img', '--volumes-from', 'vsrc', '-v', 'vfa:/data', 'bbvol', 'true']);
  t.deepEqual((await inspect('img')).Mounts, [vol('vfa', '/a', true), vol('vfb', '/b', true), vol('vfa', '/data', true, 'z')]);
  await ok(['create', '--name', 'img2', '--volumes-from', 'img', 'bbvol', 'true']);
  t.deepEqual((await inspect('img2')).Mounts.map((x: { Destination: string }) => x.Destination), ['/a', '/b', '/data']);
  t.deepEqual(await volumes(), before);
  await ok(['rm', '-v', 'bsrc', 'vsrc', 'multi', 'img', 'img2']);
  t.deepEqual(await volumes(), ['vfa', 'vfb', 'vfo'], 'named volumes stay');
  await ok(['volume', 'rm', 'vfa', 'vfb', 'vfo']);
});

test.serial('errors as dockerd 20.10: missing container (400), bad modes, nothing created', async (t) => {
  await ok(['create', '--name', 'esrc', '-v', 'vfe:/e', 'busybox', 'true']);
  const ps = await ok(['ps', '-aq']);
  const vols = await volumes();
  const cases: Array<[string[], string]> = [
    [['--volumes-from', 'nosuch'], 'No such container: nosuch'],
    [['--volumes-from', 'esrc', '--volumes-from', 'nosuch:ro'], 'No such container: nosuch'],
    [['--volumes-from', 'esrc:xyz'], 'invalid mode: xyz'],
    [['--volumes-from', 'esrc:ro,rw'], 'invalid mode: ro,rw'],
    [['--volumes-from', 'esrc:rshared'], 'invalid mode: rshared'],
    [['--volumes-from', 'esrc:nocopy'], 'invalid mode: nocopy'],
    [['--volumes-from', ':ro'], 'invalid name or ID supplied: ""'],
    // --volumes-from before -v: its error first; a -v at the same destination twice is still a duplicate.
    [['--volumes-from', 'nosuch', '-v', 'vfx:/x', '-v', 'vfy:/x'], 'No such container: nosuch'],
    [['--volumes-from', 'esrc', '-v', 'vfx:/x', '-v', 'vfy:/x'], 'Duplicate mount point: /x'],
  ];
  for (const [args, message] of cases) {
    const r = await b.docker(['run', '--rm', ...args, 'busybox', 'true']);
    t.is(r.code, 125, args.join(' '));
    t.is(r.stderr, `docker: Error response from daemon: ${message}${USAGE}`, args.join(' '));
  }
  const api = await b.request('POST', '/containers/create', { body: JSON.stringify({ Image: 'busybox', HostConfig: { VolumesFrom: ['nosuch'] } }), headers: { 'content-type': 'application/json' } });
  t.is(api.status, 400);
  t.is(JSON.parse(api.body).message, 'No such container: nosuch');
  const empty = await b.request('POST', '/containers/create', { body: JSON.stringify({ Image: 'busybox', HostConfig: { VolumesFrom: [''] } }), headers: { 'content-type': 'application/json' } });
  t.is(empty.status, 400);
  t.is(JSON.parse(empty.body).message, 'volumes-from specification cannot be an empty string');
  t.is(await ok(['ps', '-aq']), ps, 'no container created');
  t.deepEqual(await volumes(), vols, 'no volume created');
  await ok(['rm', 'esrc']);
  await ok(['volume', 'rm', 'vfe']);
});

test.serial('nothing is left behind', async (t) => {
  t.is(await ok(['ps', '-aq']), '');
  t.deepEqual(await volumes(), []);
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 5_000), JSON.stringify(leftovers(b)));
  t.deepEqual(mountsUnder(join(b.dataRoot, 'volumes')), []);
});
