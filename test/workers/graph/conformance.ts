/**
 * The graph driver conformance suite (moby's graphtest, containerd's SnapshotterSuite): one set
 * of behaviours every driver must have, run against each driver by its own test file. Mount
 * descriptions are realised with mount(8), so merged views are the kernel's, not ours.
 */
import type { ExecutionContext, TestFn } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { GraphDriver } from '../../../workers/graph/driver.js';
import { applyLayer } from '../../../workers/graph/layer/apply.js';
import { walk } from '../../../workers/graph/layer/changes.js';
import { mountAll, unmount } from '../../../workers/graph/mount.js';

/** tarOf makes a layer tarball with GNU tar from a directory the caller fills. */
function tarOf(fill: (dir: string) => void): Buffer {
  const dir = mkdtempSync('/tmp/btg-src-');
  try {
    fill(dir);
    return execFileSync('tar', ['-C', dir, '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 64 << 20 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

async function snapshotTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of walk(root)) {
    out[e.rel] = e.st.isDirectory() ? `dir ${(e.st.mode & 0o7777).toString(8)}` : e.st.isSymbolicLink() ? `link ${readlinkSync(e.host)}` : `file ${(e.st.mode & 0o7777).toString(8)} ${readFileSync(e.host, 'utf8')}`;
  }
  return out;
}

async function withMount<T>(d: GraphDriver, key: string, f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync('/tmp/btg-mnt-');
  await mountAll(await d.mounts(key), dir);
  try {
    return await f(dir);
  } finally {
    await unmount(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function conformance(test: TestFn, name: string, make: () => GraphDriver): void {
  const setup = async (t: ExecutionContext) => {
    const home = mkdtempSync(`/tmp/btg-${name}-`);
    t.teardown(() => rmSync(home, { recursive: true, force: true }));
    const d = make();
    await d.init(join(home, name), []);
    return d;
  };

  const layer = async (d: GraphDriver, key: string, parent: string | null, tar: Buffer) => {
    await d.prepare(key, parent);
    const r = await applyLayer(once(tar), { root: d.applyDir(key), format: d.format });
    await d.commit(key);
    return r;
  };

  const base = () =>
    tarOf((s) => {
      mkdirSync(join(s, 'etc'));
      writeFileSync(join(s, 'etc/hostname'), 'base\n');
      writeFileSync(join(s, 'etc/keep'), 'keep\n');
      mkdirSync(join(s, 'd'));
      writeFileSync(join(s, 'd/x'), 'x\n');
      writeFileSync(join(s, 'd/y'), 'y\n');
      mkdirSync(join(s, 'opq'));
      writeFileSync(join(s, 'opq/old'), 'old\n');
      execFileSync('ln', ['-s', 'etc/hostname', join(s, 'link')]);
    });

  const top = () =>
    tarOf((s) => {
      mkdirSync(join(s, 'etc'));
      writeFileSync(join(s, 'etc/hostname'), 'top\n');
      writeFileSync(join(s, 'etc/new'), 'new\n');
      mkdirSync(join(s, 'd'));
      writeFileSync(join(s, 'd/.wh.x'), '');
      mkdirSync(join(s, 'opq'));
      writeFileSync(join(s, 'opq/.wh..wh..opq'), '');
      writeFileSync(join(s, 'opq/fresh'), 'fresh\n');
    });

  const merged = {
    'd': 'dir 755',
    'd/y': 'file 644 y\n',
    'etc': 'dir 755',
    'etc/hostname': 'file 644 top\n',
    'etc/keep': 'file 644 keep\n',
    'etc/new': 'file 644 new\n',
    'link': 'link etc/hostname',
    'opq': 'dir 755',
    'opq/fresh': 'file 644 fresh\n',
  };

  test(`${name}: a committed chain shows the layers merged, whiteouts and opaque directories applied`, async (t) => {
    const d = await setup(t);
    const a = await layer(d, 'a', null, base());
    const b = await layer(d, 'b', 'a', top());
    t.regex(a.diffID, /^sha256:[0-9a-f]{64}$/);
    t.not(a.diffID, b.diffID);
    t.deepEqual(await d.stat('b'), { key: 'b', parent: 'a', kind: 'committed' });
    t.deepEqual(await withMount(d, 'b', (dir) => snapshotTree(dir)), merged);
    await d.view('v', 'b');
    t.deepEqual(await withMount(d, 'v', (dir) => snapshotTree(dir)), merged, 'a view shows the same');
    await t.throwsAsync(withMount(d, 'v', async (dir) => writeFileSync(join(dir, 'nope'), 'x')), { code: 'EROFS' }, 'views are read-only');
  });

  test(`${name}: an active snapshot records changes; its diff applied elsewhere gives the same tree`, async (t) => {
    const d = await setup(t);
    await layer(d, 'a', null, base());
    await layer(d, 'b', 'a', top());
    await d.prepare('c', 'b');
    await withMount(d, 'c', async (dir) => {
      writeFileSync(join(dir, 'etc/added'), 'added\n');
      writeFileSync(join(dir, 'etc/keep'), 'changed\n');
      unlinkSync(join(dir, 'd/y'));
      mkdirSync(join(dir, 'newdir'));
      writeFileSync(join(dir, 'newdir/f'), 'f\n');
    });
    const changes = await d.changes('c');
    const byPath = Object.fromEntries(changes.map((c) => [c.Path, c.Kind]));
    t.is(byPath['/etc/added'], 1);
    t.is(byPath['/etc/keep'], 0);
    t.is(byPath['/etc'], 0);
    t.is(byPath['/d/y'], 2);
    t.is(byPath['/newdir'], 1);
    t.is(byPath['/newdir/f'], 1);
    t.false('/opq/fresh' in byPath, 'unchanged paths are not reported');

    const chunks: Buffer[] = [];
    for await (const c of d.diff('c')) chunks.push(c);
    await layer(d, 'e', 'b', Buffer.concat(chunks));
    const want = await withMount(d, 'c', (dir) => snapshotTree(dir));
    t.deepEqual(await withMount(d, 'e', (dir) => snapshotTree(dir)), want);
    t.false('d/y' in want);
    t.is(want['etc/added'], 'file 644 added\n');
  });

  test(`${name}: usage counts a snapshot's bytes; remove refuses parents and frees the rest`, async (t) => {
    const d = await setup(t);
    await layer(d, 'a', null, tarOf((s) => writeFileSync(join(s, 'big'), Buffer.alloc(100_000, 1))));
    await layer(d, 'b', 'a', tarOf((s) => writeFileSync(join(s, 'small'), 'tiny')));
    const ua = await d.usage('a');
    t.true(ua.size >= 100_000 && ua.inodes >= 1, JSON.stringify(ua));
    await t.throwsAsync(d.remove('a'), { message: 'snapshot a is the parent of b' });
    await d.remove('b');
    t.is(await d.stat('b'), null);
    await d.remove('a');
    t.deepEqual(await d.list(), []);
  });

  test(`${name}: a half-made snapshot can be purged; mounts describe, they do not mount`, async (t) => {
    const d = await setup(t);
    const m = await d.prepare('p', null);
    t.true(m.length === 1);
    const where = d.applyDir('p');
    t.true(existsSync(where));
    t.false(lstatSync(where).isSymbolicLink());
    await d.purge('p');
    t.false(existsSync(where));
    t.deepEqual(await d.list(), []);
  });
}
