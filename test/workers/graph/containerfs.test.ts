/**
 * ContainerFs (docker cp's resolver) on a hand-made root filesystem and a hand-made list of
 * mounts (as rec.MountPoints gives them): symlinks resolve inside the root whatever they name
 * (absolute host paths, "/", long ".." chains), mounts are crossed into by destination (the
 * longest wins), ".." at a mount's root goes back to the container's parent and never to the
 * host's, and dockerd's path rules (trailing "/", "/.", the stat's name and linkTarget) hold.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerFs } from '../../../workers/graph/archive/containerfs.js';
import { locate } from '../../../workers/graph/archive/get.js';
import { absPath, goBase } from '../../../workers/graph/archive/paths.js';

function fixture(t: { teardown(f: () => void): void }) {
  const top = mkdtempSync('/tmp/bt-cfs-');
  t.teardown(() => rmSync(top, { recursive: true, force: true }));
  const root = join(top, 'root');
  const host = join(top, 'host');
  const vol = join(top, 'vol');
  const inner = join(top, 'inner');
  for (const d of [join(root, 'd'), join(root, 'data'), join(root, 'etc'), host, join(vol, 'sub'), inner]) mkdirSync(d, { recursive: true });
  writeFileSync(join(root, 'd', 'f.txt'), 'in root\n');
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0::/:/bin/sh\n');
  writeFileSync(join(host, 'secret'), 'host\n');
  writeFileSync(join(vol, 'v.txt'), 'volume\n');
  writeFileSync(join(inner, 'i.txt'), 'inner\n');
  symlinkSync(host, join(root, 'd', 'tohost'));
  symlinkSync('/', join(root, 'd', 'up'));
  symlinkSync('../../../../../../..', join(root, 'd', 'dotdot'));
  symlinkSync('/data/v.txt', join(root, 'd', 'tovol'));
  symlinkSync('/etc/passwd', join(vol, 'abs'));
  symlinkSync('/nonexistent/x', join(root, 'd', 'dangling'));
  symlinkSync('loop2', join(root, 'd', 'loop1'));
  symlinkSync('loop1', join(root, 'd', 'loop2'));
  const mounts = [
    { destination: '/data', source: vol, rw: true },
    { destination: '/data/sub', source: inner, rw: false },
  ];
  const cfs = ContainerFs.open(root, mounts);
  t.teardown(() => cfs.close());
  return { cfs, host };
}

const pathOf = (cfs: ContainerFs, p: string, followFinal = true) => {
  const w = cfs.walk(p, { followFinal });
  try {
    return w.path;
  } finally {
    w.close();
  }
};

test('symlinks to host paths, to / and long .. chains stay inside the root', (t) => {
  const { cfs, host } = fixture(t);
  t.is(pathOf(cfs, '/d/up/d/f.txt'), '/d/f.txt');
  t.is(pathOf(cfs, '/d/dotdot/etc/passwd'), '/etc/passwd');
  t.is(pathOf(cfs, '/../../../etc/passwd'), '/etc/passwd');
  const err = t.throws(() => cfs.walk('/d/tohost/secret', { followFinal: true }));
  t.is((err as NodeJS.ErrnoException).code, 'ENOENT', `the host's ${host} is not the container's`);
  t.is((t.throws(() => cfs.walk('/d/loop1', { followFinal: true })) as NodeJS.ErrnoException).code, 'ELOOP');
  t.is((t.throws(() => cfs.walk('/d/f.txt/x')) as NodeJS.ErrnoException).code, 'ENOTDIR');
});

test('mounts: crossed by destination, nested ones win, .. leaves through the container', (t) => {
  const { cfs } = fixture(t);
  const v = cfs.walk('/data/v.txt');
  t.is(v.path, '/data/v.txt');
  t.is(v.top.mount?.destination, '/data');
  v.close();
  const i = cfs.walk('/data/sub/i.txt');
  t.is(i.top.mount?.destination, '/data/sub');
  t.false(i.top.mount?.rw);
  i.close();
  t.is(pathOf(cfs, '/d/tovol'), '/data/v.txt', 'a symlink in the root into a volume');
  t.is(pathOf(cfs, '/data/abs'), '/etc/passwd', "a volume's absolute link means the container's path");
  t.is(pathOf(cfs, '/data/../d/f.txt'), '/d/f.txt');
  t.is(pathOf(cfs, '/data/sub/../../d/f.txt'), '/d/f.txt');
  const r = cfs.walk('/etc/passwd');
  t.is(r.top.mount, null);
  r.close();
});

test("dockerd's path rules: trailing / and /., names, linkTarget (dangling too)", (t) => {
  const { cfs, host } = fixture(t);
  t.is(absPath('/d/'), '/d/');
  t.is(absPath('/d/.'), '/d/.');
  t.is(absPath('d/../d/f.txt'), '/d/f.txt');
  t.is(absPath('.'), '/.');
  t.is(goBase('/d/'), 'd');
  t.is(goBase('/'), '/');
  const up = locate(cfs, '/d/up');
  t.is(up.stat.linkTarget, '/');
  t.is(up.stat.name, 'up');
  up.walk.close();
  const upSlash = locate(cfs, '/d/up/');
  t.is(upSlash.walk.path, '/', 'a trailing slash follows the link');
  upSlash.walk.close();
  const dangling = locate(cfs, '/d/dangling');
  t.is(dangling.stat.linkTarget, '/nonexistent/x');
  dangling.walk.close();
  const tohost = locate(cfs, '/d/tohost');
  t.is(tohost.stat.linkTarget, host, 'the host path taken as a container path (absent there, so lexical)');
  tohost.walk.close();
  const dot = locate(cfs, '/d/.');
  t.is(dot.stat.name, '.');
  dot.walk.close();
});
