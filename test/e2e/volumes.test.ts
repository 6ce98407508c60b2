/**
 * Volumes, bind mounts and tmpfs with the real docker CLI (and dockerode) against a real berthd,
 * checked against dockerd 20.10's answers (test/fixtures/dockerd-20.10/extras, §7): volume
 * create/ls/inspect/rm/prune, -v and --mount of every kind, pre-fill from the image, --tmpfs,
 * rm -v, 409 in use, system df, the events. Ends with the leak checks (no mount left, volume
 * devices included).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, mountsUnder, dockerOk } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;
let hostdir: string;

test.before(async () => {
  work = tempDir('btv-');
  b = await startBerthd();
  await importBusybox(b, work);
  // bbvol: busybox plus /data/f.txt and /data/sub (owned by nobody), and VOLUME ["/data"] (the fixture's image).
  const root = join(work, 'rootfs');
  mkdirSync(join(root, 'data/sub'), { recursive: true });
  writeFileSync(join(root, 'data/f.txt'), 'from image\n');
  writeFileSync(join(root, 'data/sub/y'), 'y\n');
  execFileSync('chown', ['-R', '65534:65534', join(root, 'data/sub')]);
  const tar = join(work, 'bbvol.tar');
  execFileSync('tar', ['-C', root, '--numeric-owner', '-cf', tar, '.']);
  const r = await b.docker(['import', '--change', 'CMD ["sh"]', '--change', 'VOLUME ["/data"]', tar, 'bbvol']);
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
    removeDir(b.dir); // a restarted daemon runs on a kept dir: stop() leaves it
  }
  if (work) removeDir(work);
});

/**
 * The docker CLI sorts names in natural order (runs of digits compared as numbers: "8e…" before
 * "20a…"), so a list of random hex names is ordered that way, not byte by byte.
 */
function naturalOrder(a: string, b: string): number {
  const split = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p === q) continue;
    const pn = /^\d/.test(p);
    const qn = /^\d/.test(q);
    if (pn && qn) {
      const pv = BigInt(p);
      const qv = BigInt(q);
      if (pv !== qv) return pv < qv ? -1 : 1;
      return p.length - q.length;
    }
    return p < q ? -1 : 1;
  }
  return x.length - y.length;
}

const ok = (args: string[]) => dockerOk(b, args);
const inspect = async (name: string) => JSON.parse(await ok(['inspect', name]))[0];
const USAGE = "\n\nRun 'docker run --help' for more information\n";
const HEX64 = /^[0-9a-f]{64}$/;

test.serial('volume create, inspect, ls and rm as dockerd 20.10', async (t) => {
  t.is(await ok(['volume', 'create', 'v1']), 'v1\n');
  const v1 = JSON.parse(await ok(['volume', 'inspect', 'v1']))[0];
  t.deepEqual(Object.keys(v1), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
  t.regex(v1.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'whole seconds');
  t.like(v1, { Driver: 'local', Labels: null, Mountpoint: join(b.dataRoot, 'volumes/v1/_data'), Name: 'v1', Options: null, Scope: 'local' });
  t.true(existsSync(v1.Mountpoint));

  t.is(await ok(['volume', 'create', '--label', 'a=b', '--label', 'c', 'v2']), 'v2\n');
  t.deepEqual(JSON.parse(await ok(['volume', 'inspect', 'v2']))[0].Labels, { a: 'b', c: '' });
  // Again, with other labels: the existing one, unchanged.
  t.is(await ok(['volume', 'create', '--label', 'x=y', 'v1']), 'v1\n');
  t.deepEqual(JSON.parse(await ok(['volume', 'inspect', 'v1']))[0], v1);
  const anon = (await ok(['volume', 'create'])).trim();
  t.regex(anon, HEX64);
  t.is(await ok(['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=10m', 'vt']), 'vt\n');
  t.deepEqual(JSON.parse(await ok(['volume', 'inspect', 'vt']))[0].Options, { device: 'tmpfs', o: 'size=10m', type: 'tmpfs' });

  const bad = await b.docker(['volume', 'create', 'bad/name']);
  t.is(bad.code, 1);
  t.is(bad.stderr, 'Error response from daemon: create bad/name: "bad/name" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path\n');
  const drv = await b.request('POST', '/volumes/create', { body: JSON.stringify({ Name: 'vx', Driver: 'nosuchdriver' }), headers: { 'Content-Type': 'application/json' } });
  t.is(drv.status, 404);
  t.is(JSON.parse(drv.body).message, 'create vx: error looking up volume plugin nosuchdriver: plugin "nosuchdriver" not found');
  const api = await b.request('POST', '/volumes/create', { body: '{}', headers: { 'Content-Type': 'application/json' } });
  t.is(api.status, 201);
  t.regex(JSON.parse(api.body).Name, HEX64);

  t.is(await ok(['volume', 'ls']), ['DRIVER    VOLUME NAME', ...[anon, JSON.parse(api.body).Name, 'v1', 'v2', 'vt'].sort(naturalOrder).map((n) => `local     ${n}`), ''].join('\n'));
  const list = await b.request('GET', '/volumes');
  t.is(list.status, 200);
  t.is(JSON.parse(list.body).Warnings, null);
  t.deepEqual(JSON.parse((await b.request('GET', '/volumes?filters=' + encodeURIComponent('{"label":{"a=b":true}}'))).body).Volumes.map((v: { Name: string }) => v.Name), ['v2']);
  t.deepEqual(JSON.parse((await b.request('GET', '/volumes?filters=' + encodeURIComponent('{"name":{"v":true}}'))).body).Volumes.map((v: { Name: string }) => v.Name), ['v1', 'v2', 'vt']);

  const missing = await b.docker(['volume', 'inspect', 'nosuch']);
  t.is(missing.code, 1);
  t.is(missing.stdout, '[]\n');
  t.is(missing.stderr, 'Error response from daemon: get nosuch: no such volume\n');
  const rmMissing = await b.docker(['volume', 'rm', 'nosuch']);
  t.is(rmMissing.stderr, 'Error response from daemon: get nosuch: no such volume\n');
  t.is(await ok(['volume', 'rm', anon, JSON.parse(api.body).Name, 'vt']), `${anon}\n${JSON.parse(api.body).Name}\nvt\n`);
  t.false(existsSync(join(b.dataRoot, 'volumes', anon)));
});

test.serial('a named volume: shared by two containers, data survives them, 409 while in use, mount/unmount events', async (t) => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const id = (await ok(['run', '-d', '--name', 'vn', '-v', 'v1:/data', 'busybox', 'sh', '-c', 'echo hello > /data/x; sleep 300'])).trim();
  t.true(await waitFor(async () => (await ok(['run', '--rm', '-v', 'v1:/d', 'busybox', 'cat', '/d/x'])) === 'hello\n', 5_000), 'the second container sees the first one\'s write');
  const c = await inspect('vn');
  t.deepEqual(c.Mounts, [{ Type: 'volume', Name: 'v1', Source: join(b.dataRoot, 'volumes/v1/_data'), Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' }]);
  t.deepEqual(c.HostConfig.Binds, ['v1:/data']);
  t.is(c.Config.Volumes, null);

  const inUse = await b.docker(['volume', 'rm', 'v1']);
  t.is(inUse.code, 1);
  t.is(inUse.stderr, `Error response from daemon: remove v1: volume is in use - [${id}]\n`);
  t.is((await b.request('DELETE', '/volumes/v1?force=1')).status, 409, 'force does not help');
  await ok(['stop', '-t', '0', 'vn']);
  t.is((await b.request('DELETE', '/volumes/v1')).status, 409, 'a stopped container holds it too');
  await ok(['rm', 'vn']);
  t.is(await ok(['run', '--rm', '-v', 'v1:/data', 'busybox', 'cat', '/data/x']), 'hello\n', 'the data outlives the containers');

  const until = Math.floor(Date.now() / 1000) + 1;
  const ev = (await ok(['events', '--since', String(since), '--until', String(until), '--filter', 'type=volume', '--filter', 'volume=v1', '--format', '{{json .}}']))
    .trim().split('\n').map((l) => JSON.parse(l));
  const mount = ev.find((e) => e.Action === 'mount' && e.Actor.Attributes.container === id);
  t.deepEqual(mount?.Actor, { ID: 'v1', Attributes: { container: id, destination: '/data', driver: 'local', propagation: '', 'read/write': 'true' } });
  t.is(mount?.status, undefined, 'no legacy status on volume events');
  t.deepEqual(ev.find((e) => e.Action === 'unmount' && e.Actor.Attributes.container === id)?.Actor, { ID: 'v1', Attributes: { container: id, driver: 'local' } });
  t.true(ev.some((e) => e.Action === 'create'));
});

test.serial('pre-fill from the image: anonymous (VOLUME), new named, existing empty; nocopy; no re-copy into a non-empty one', async (t) => {
  await ok(['run', '-d', '--name', 'vi', 'bbvol', 'sleep', '300']);
  const vi = await inspect('vi');
  t.deepEqual(vi.Config.Volumes, { '/data': {} });
  t.is(vi.Mounts.length, 1);
  t.like(vi.Mounts[0], { Type: 'volume', Destination: '/data', Driver: 'local', Mode: '', RW: true, Propagation: '' });
  t.regex(vi.Mounts[0].Name, HEX64);
  t.is(await ok(['exec', 'vi', 'cat', '/data/f.txt']), 'from image\n');
  t.is(await ok(['exec', 'vi', 'stat', '-c', '%u:%g', '/data/sub']), '65534:65534\n', 'ownership copied');

  t.is(await ok(['run', '--rm', '-v', 'vfill:/data', 'bbvol', 'cat', '/data/sub/y']), 'y\n', 'a new named volume');
  t.is(await ok(['run', '--rm', '-v', 'vfill:/x', 'busybox', 'ls', '/x']), 'f.txt\nsub\n', 'the content stays in the volume');
  await ok(['volume', 'create', 'vempty']);
  t.is(await ok(['run', '--rm', '-v', 'vempty:/data', 'bbvol', 'sh', '-c', 'ls /data; echo changed > /data/f.txt']), 'f.txt\nsub\n', 'an existing empty one');
  t.is(await ok(['run', '--rm', '-v', 'vempty:/data', 'bbvol', 'cat', '/data/f.txt']), 'changed\n', 'a non-empty one is not filled again');
  const nc = await ok(['run', '--name', 'vnc', '-v', 'vnocopy:/data:nocopy', 'bbvol', 'ls', '-A', '/data']);
  t.is(nc, '', 'nocopy: empty');
  t.is((await inspect('vnc')).Mounts[0].Mode, 'nocopy');
  // A volume on /etc of busybox gets its files.
  t.is(await ok(['run', '--rm', '-v', 'vetc:/etc', 'busybox', 'sh', '-c', 'ls /etc | grep -c passwd']), '1\n');
  t.regex(readFileSync(join(b.dataRoot, 'volumes/vetc/_data/passwd'), 'utf8'), /^root:x:0:0/);
  await ok(['rm', '-f', 'vi', 'vnc']);
});

test.serial('-v /hostdir:/dst:ro is read-only; a missing -v host directory is made; binds and tmpfs in inspect', async (t) => {
  const r = await b.docker(['run', '--rm', '-v', `${hostdir}:/data:ro`, 'busybox', 'sh', '-c', 'cat /data/h.txt; touch /data/new']);
  t.is(r.stdout, 'host\n');
  t.is(r.stderr, "touch: /data/new: Read-only file system\n");
  t.is(r.code, 1);
  await ok(['create', '--name', 'vb', '-v', `${hostdir}:/data:ro`, 'busybox', 'true']);
  t.deepEqual((await inspect('vb')).Mounts, [{ Type: 'bind', Source: hostdir, Destination: '/data', Mode: 'ro', RW: false, Propagation: 'rprivate' }]);
  await ok(['rm', 'vb']);
  t.is(await ok(['run', '--rm', '-v', `${hostdir}:/data`, 'busybox', 'sh', '-c', 'echo w > /data/w; cat /data/w']), 'w\n');
  t.is(readFileSync(join(hostdir, 'w'), 'utf8'), 'w\n');
  const made = join(work, 'made/by/run');
  await ok(['run', '--rm', '-v', `${made}:/m`, 'busybox', 'true']);
  t.true(existsSync(made));

  const tm = await ok(['run', '--name', 'vtm', '--tmpfs', '/run:size=1m', 'busybox', 'grep', ' /run ', '/proc/mounts']);
  t.is(tm, 'tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k 0 0\n');
  const vtm = await inspect('vtm');
  t.deepEqual(vtm.Mounts, [], '--tmpfs is not listed');
  t.deepEqual(vtm.HostConfig.Tmpfs, { '/run': 'size=1m' });
  await ok(['rm', 'vtm']);
});

test.serial('--mount: bind (readonly), volume (labels, nocopy, driver options), tmpfs (size, mode), and dockerd\'s errors', async (t) => {
  await ok(['create', '--name', 'mb', '--mount', `type=bind,source=${hostdir},target=/data,readonly`, 'busybox', 'true']);
  const mb = await inspect('mb');
  t.deepEqual(mb.Mounts, [{ Type: 'bind', Source: hostdir, Destination: '/data', Mode: '', RW: false, Propagation: 'rprivate' }]);
  t.deepEqual(mb.HostConfig.Mounts, [{ Type: 'bind', Source: hostdir, Target: '/data', ReadOnly: true }]);
  await ok(['rm', 'mb']);

  t.is(await ok(['run', '--rm', '--name', 'mv', '--mount', 'type=volume,source=vm1,target=/data,volume-label=x=y,volume-nocopy', 'bbvol', 'ls', '-A', '/data']), '');
  t.deepEqual(JSON.parse(await ok(['volume', 'inspect', 'vm1']))[0].Labels, { x: 'y' });
  const tmpv = await ok(['run', '--rm', '--mount', 'type=volume,source=vm2,target=/data,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=2m', 'busybox', 'sh', '-c', 'grep " /data " /proc/mounts | cut -d" " -f1,3']);
  t.is(tmpv, 'tmpfs tmpfs\n', 'a volume with options is its device, mounted');
  t.deepEqual(mountsUnder(join(b.dataRoot, 'volumes')), [], 'and unmounted with its last user');

  const mt = await ok(['run', '--rm', '--mount', 'type=tmpfs,target=/t,tmpfs-size=1048576,tmpfs-mode=1770', 'busybox', 'sh', '-c', 'grep " /t " /proc/mounts; stat -c %a /t']);
  t.is(mt, 'tmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770 0 0\n1770\n');
  await ok(['create', '--name', 'mt', '--mount', 'type=tmpfs,target=/t,tmpfs-size=1048576,tmpfs-mode=1770', 'busybox', 'true']);
  t.deepEqual((await inspect('mt')).Mounts, [{ Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' }]);
  await ok(['rm', 'mt']);

  const err = async (args: string[], message: string) => {
    const r = await b.docker(['run', '--rm', ...args, 'busybox', 'true']);
    t.is(r.code, 125, args.join(' '));
    t.is(r.stderr, `docker: Error response from daemon: ${message}${USAGE}`, args.join(' '));
  };
  await err(['--mount', `type=bind,source=${join(work, 'nosuchdir')},target=/data`], `invalid mount config for type "bind": bind source path does not exist: ${join(work, 'nosuchdir')}`);
  await err(['--mount', 'type=tmpfs,source=x,target=/t'], 'invalid mount config for type "tmpfs": field Source must not be specified');
  await err(['-v', 'v1:/data', '-v', `${hostdir}:/data`], 'Duplicate mount point: /data');
  await err(['-v', 'v1:/data:bogus'], 'invalid mode: bogus');
  await err(['-v', 'v1:rel'], "invalid volume specification: 'v1:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute");
  t.is(await ok(['ps', '-aq']), '', 'no container is left by a refused create');
});

test.serial('propagation: rprivate and private work; rshared/rslave need a shared source mount (dockerd\'s start error)', async (t) => {
  t.is(await ok(['run', '--rm', '-v', `${hostdir}:/data:private`, 'busybox', 'cat', '/data/h.txt']), 'host\n');
  // What the host's mount of hostdir allows decides (dockerd's ensureShared); here / is private.
  const rootLine = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/') ?? '';
  const r = await b.docker(['run', '--rm', '--mount', `type=bind,source=${hostdir},target=/data,bind-propagation=rshared`, 'busybox', 'cat', '/data/h.txt']);
  if (/ shared:/.test(rootLine)) t.is(r.stdout, 'host\n');
  else {
    t.regex(r.stderr, new RegExp(`path ${hostdir} is mounted on / but it is not a shared mount`));
    const s = await b.docker(['run', '--rm', '-v', `${hostdir}:/data:rslave`, 'busybox', 'true']);
    t.regex(s.stderr, new RegExp(`path ${hostdir} is mounted on / but it is not a shared or slave mount`));
  }
});

test.serial('docker rm -v removes the anonymous volume and keeps the named one; --rm removes anonymous volumes', async (t) => {
  await ok(['create', '--name', 'vrmv', '-v', 'vrmv_named:/n', '-v', '/anon', 'busybox', 'true']);
  const anon = (await inspect('vrmv')).Mounts.find((m: { Destination: string }) => m.Destination === '/anon').Name;
  t.regex(anon, HEX64);
  t.is(await ok(['rm', '-v', 'vrmv']), 'vrmv\n');
  t.is((await b.docker(['volume', 'inspect', anon])).code, 1);
  t.is((await b.docker(['volume', 'inspect', 'vrmv_named'])).code, 0);

  const before = (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean);
  await ok(['run', '--rm', '-v', '/x', 'busybox', 'true']);
  t.true(await waitFor(async () => (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).length === before.length, 15_000));

  // Without -v, the anonymous volume stays (dangling).
  await ok(['run', '--name', 'keep', 'bbvol', 'true']);
  const kept = (await inspect('keep')).Mounts[0].Name;
  await ok(['rm', 'keep']);
  t.is((await b.docker(['volume', 'inspect', kept])).code, 0);
  t.true((await ok(['volume', 'ls', '-q', '--filter', 'dangling=true'])).includes(kept));
});

test.serial('docker system df -v lists the volumes with their size and users; volume prune removes every unused one (20.10)', async (t) => {
  await ok(['run', '-d', '--name', 'dfc', '-v', 'vfill:/data', 'busybox', 'sleep', '300']);
  const df = JSON.parse((await b.request('GET', '/system/df')).body);
  const vfill = df.Volumes.find((v: { Name: string }) => v.Name === 'vfill');
  t.deepEqual(vfill.UsageData, { RefCount: 1, Size: 13 });
  t.deepEqual(Object.keys(vfill), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope', 'UsageData']);
  t.false(df.Volumes.some((v: { Name: string }) => v.Name === 'vm2'), 'volumes with options are not listed');
  const dfc = df.Containers.find((c: { Names: string[] }) => c.Names[0] === '/dfc');
  t.is(dfc.Mounts[0].Name, 'vfill');
  const text = await ok(['system', 'df', '-v']);
  t.regex(text, /Local Volumes space usage:\n\nVOLUME NAME\s+LINKS\s+SIZE\n/);
  t.regex(text, /\nvfill\s+1\s+13B\n/);
  t.regex(await ok(['system', 'df']), /\nLocal Volumes\s+\d+\s+1\s+/);

  const since = Math.floor(Date.now() / 1000) - 1;
  const sinceNs = BigInt(Date.now()) * 1_000_000n;
  const unused = JSON.parse((await b.request('GET', '/volumes?filters=' + encodeURIComponent('{"dangling":{"true":true}}'))).body).Volumes
    .map((v: { Name: string; Options: unknown }) => v.Name)
    .filter((n: string) => n !== 'vm2');
  const pr = await ok(['volume', 'prune', '-f']);
  t.true(pr.startsWith('Deleted Volumes:\n'));
  const deleted = pr.split('\n\n')[0]!.split('\n').slice(1);
  t.true(deleted.length > 0);
  for (const n of deleted) t.true(unused.includes(n), n);
  // (one removed meanwhile by an earlier --rm's clean-up would be missing: none should be)
  t.deepEqual([...deleted].sort(), [...unused].sort());
  t.regex(pr, /\nTotal reclaimed space: \d+(\.\d+)?k?B\n$/);
  t.false(pr.includes('vfill'), 'in use: kept');
  const left = (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();
  t.deepEqual(left, ['vfill', 'vm2'], 'the one in use and the one with options stay');
  const until = Math.floor(Date.now() / 1000) + 1;
  const ev = (await ok(['events', '--since', String(since), '--until', String(until), '--filter', 'type=volume', '--format', '{{json .}}'])).trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(ev.filter((e) => BigInt(e.timeNano) >= sinceNs).map((e) => e.Action), ['prune'], 'one prune event, no destroy per volume');
  await ok(['rm', '-f', 'dfc']);
  await ok(['volume', 'rm', 'vfill', 'vm2']);
  const empty = JSON.parse((await b.request('POST', '/volumes/prune')).body);
  t.deepEqual(empty, { VolumesDeleted: null, SpaceReclaimed: 0 });
});

test.serial('a prune racing docker create cannot take the volumes of containers being created', async (t) => {
  let pruning = true;
  let prunes = 0;
  const pruner = (async () => {
    for (let i = 0; pruning && i < 500; i++) {
      await b.request('POST', '/volumes/prune');
      prunes++;
    }
  })();
  const names = Array.from({ length: 8 }, (_, i) => `prace${i}`);
  await Promise.all(names.map((n) => ok(['create', '--name', n, '-v', `${n}vol:/data`, 'busybox', 'true'])));
  pruning = false;
  await pruner;
  t.true(prunes > 0);
  for (const n of names) {
    t.is((await b.docker(['volume', 'inspect', '-f', '{{.Name}}', `${n}vol`])).stdout, `${n}vol\n`);
    t.is((await b.docker(['start', '-a', n])).code, 0);
  }
  await ok(['rm', ...names]);
  await ok(['volume', 'rm', ...names.map((n) => `${n}vol`)]);
});

test.serial('dockerode: create, inspect, list, remove', async (t) => {
  const d = b.dockerode();
  await d.createVolume({ Name: 'vode', Labels: { k: 'v' } });
  t.deepEqual((await d.getVolume('vode').inspect()).Labels, { k: 'v' });
  t.true((await d.listVolumes()).Volumes.some((x) => x.Name === 'vode'));
  await d.getVolume('vode').remove();
  const e = await t.throwsAsync(d.getVolume('vode').inspect());
  t.is((e as { statusCode?: number }).statusCode, 404);
});

test.serial('a volume with a device is mounted while its container runs, and nothing is left at the end', async (t) => {
  await ok(['run', '-d', '--name', 'last', '-v', 'vlast:/data', '--mount', 'type=volume,source=vdev,target=/dev2,volume-opt=type=tmpfs,volume-opt=device=tmpfs', 'busybox', 'sleep', '300']);
  t.is(mountsUnder(join(b.dataRoot, 'volumes')).length, 1, 'the tmpfs volume is mounted while it runs');
  await ok(['rm', '-f', '-v', 'last']);
  await b.docker(['volume', 'rm', 'vlast', 'vdev']);
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 5_000), JSON.stringify(leftovers(b)));
  t.deepEqual(mountsUnder(join(b.dataRoot, 'volumes')), [], 'no volume mount is left');
  const leftDirs = readdirSync(join(b.dataRoot, 'volumes')).filter((n) => n.startsWith('.'));
  t.deepEqual(leftDirs, [], 'no half-removed volume');
});

test.serial('berthd killed with -9: the next one adopts the running container\'s volumes (its device stays mounted until it ends)', async (t) => {
  await ok(['run', '-d', '--name', 'k9', '-v', 'vk9:/data', '--mount', 'type=volume,source=vk9dev,target=/dev2,volume-opt=type=tmpfs,volume-opt=device=tmpfs', 'busybox', 'sh', '-c', 'echo kept > /dev2/f; sleep 300']);
  const dir = b.dir;
  process.kill(b.pid, 'SIGKILL');
  await b.exited;
  b = await startBerthd({ dir });
  t.is((await inspect('k9')).State.Status, 'running');
  t.is(await ok(['exec', 'k9', 'cat', '/dev2/f']), 'kept\n', 'the device was not unmounted under it');
  t.is(mountsUnder(join(b.dataRoot, 'volumes')).length, 1);
  const inUse = await b.docker(['volume', 'rm', 'vk9']);
  t.regex(inUse.stderr, /volume is in use/);
  const since = Math.floor(Date.now() / 1000) - 1;
  await ok(['rm', '-f', 'k9']);
  t.deepEqual(mountsUnder(join(b.dataRoot, 'volumes')), [], 'unmounted with its last user');
  const until = Math.floor(Date.now() / 1000) + 1;
  const ev = (await ok(['events', '--since', String(since), '--until', String(until), '--filter', 'type=volume', '--format', '{{json .}}'])).trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(ev.map((e) => `${e.Action} ${e.Actor.ID}`).sort(), ['unmount vk9', 'unmount vk9dev']);
  await ok(['volume', 'rm', 'vk9', 'vk9dev']);
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 5_000), JSON.stringify(leftovers(b)));
});
