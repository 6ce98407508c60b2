/**
 * Extraction attacks on applyLayer, each checked against a host sentinel that must stay byte
 * for byte what it was: absolute names, "..", symlink-then-write (absolute and relative links),
 * hardlinks out of the layer, device nodes, overlay-steering xattrs, and a size cap.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyLayer, LayerTooLargeError } from '../../../workers/graph/layer/apply.js';
import { native } from '../../../src/native/native.js';
import { craftTar } from '../../helpers/images.js';

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

function sentinel(t: { teardown(f: () => void): void }) {
  const dir = mkdtempSync('/tmp/bt-sentinel-');
  const file = join(dir, 'sentinel');
  writeFileSync(file, 'host data\n');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const digest = () => createHash('sha256').update(readFileSync(file)).digest('hex') + ':' + readFileSync(join(dir, 'sentinel')).length;
  const before = digest();
  return { dir, file, intact: () => digest() === before && !existsSync(join(dir, 'pwned')) };
}

function layerRoot(t: { teardown(f: () => void): void }) {
  const root = mkdtempSync('/tmp/bt-layer-');
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

for (const format of ['overlay', 'naive'] as const) {
  test(`${format}: an absolute name lands inside the layer`, async (t) => {
    const s = sentinel(t);
    const root = layerRoot(t);
    await applyLayer(once(craftTar([{ name: s.file, type: 'file', data: 'pwned' }])), { root, format });
    t.true(s.intact());
    t.is(readFileSync(join(root, s.file), 'utf8'), 'pwned');
  });

  test(`${format}: a name with ".." that escapes is refused`, async (t) => {
    const s = sentinel(t);
    const root = layerRoot(t);
    await t.throwsAsync(applyLayer(once(craftTar([{ name: `../../../../..${s.file}`, type: 'file', data: 'pwned' }])), { root, format }), { message: /would land outside the layer/ });
    t.true(s.intact());
  });

  test(`${format}: symlink-then-write through an absolute link stays inside`, async (t) => {
    const s = sentinel(t);
    const root = layerRoot(t);
    await applyLayer(
      once(craftTar([
        { name: 'evil', type: 'symlink', linkname: s.dir },
        { name: 'evil/sentinel', type: 'file', data: 'pwned' },
        { name: 'evil/pwned', type: 'file', data: 'pwned' },
      ])),
      { root, format },
    );
    t.true(s.intact());
    t.is(readlinkSync(join(root, 'evil')), s.dir, 'the link itself is kept as written');
    t.is(readFileSync(join(root, s.dir, 'sentinel'), 'utf8'), 'pwned', 'the write went to the layer');
  });

  test(`${format}: symlink-then-write through a relative link climbing out stays inside`, async (t) => {
    const s = sentinel(t);
    const root = layerRoot(t);
    await applyLayer(
      once(craftTar([
        { name: 'a/b', type: 'dir' },
        { name: 'a/b/up', type: 'symlink', linkname: `../../../../../../../../..${s.dir}` },
        { name: 'a/b/up/pwned', type: 'file', data: 'pwned' },
      ])),
      { root, format },
    );
    t.true(s.intact());
    t.true(existsSync(join(root, s.dir, 'pwned')));
  });

  test(`${format}: a hardlink to a path outside the layer is refused`, async (t) => {
    const s = sentinel(t);
    const root = layerRoot(t);
    await t.throwsAsync(applyLayer(once(craftTar([{ name: 'h', type: 'link', linkname: s.file }])), { root, format }), { message: /invalid hardlink/ });
    await t.throwsAsync(applyLayer(once(craftTar([{ name: 'h', type: 'link', linkname: `../../../..${s.file}` }])), { root, format }), { message: /would land outside the layer/ });
    t.true(s.intact());
    t.is(lstatSync(s.file).nlink, 1, 'no new link to the host file');
  });

  test(`${format}: a hardlink through a symlink to the host is refused`, async (t) => {
    const s = sentinel(t);
    const root = layerRoot(t);
    await t.throwsAsync(
      applyLayer(once(craftTar([{ name: 'd', type: 'symlink', linkname: s.dir }, { name: 'h', type: 'link', linkname: 'd/sentinel' }])), { root, format }),
      { message: /invalid hardlink/ },
    );
    t.is(lstatSync(s.file).nlink, 1);
    t.true(s.intact());
  });

  test(`${format}: device nodes are not created; FIFOs are`, async (t) => {
    const root = layerRoot(t);
    const r = await applyLayer(
      once(craftTar([
        { name: 'dev/mem', type: 'char', devmajor: 1, devminor: 1 },
        { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 },
        { name: 'run/fifo', type: 'fifo', mode: 0o600 },
      ])),
      { root, format },
    );
    t.deepEqual(r.skipped, ['dev/mem', 'dev/sda']);
    t.false(existsSync(join(root, 'dev/mem')));
    t.true(lstatSync(join(root, 'run/fifo')).isFIFO());
  });

  test(`${format}: only user.* and security.capability xattrs are kept`, async (t) => {
    const root = layerRoot(t);
    await applyLayer(
      once(craftTar([{ name: 'f', type: 'file', data: 'x', xattrs: { 'user.ok': Buffer.from('1'), 'trusted.overlay.opaque': Buffer.from('y'), 'trusted.overlay.redirect': Buffer.from('/etc') } }])),
      { root, format },
    );
    t.deepEqual(native().llistxattr(join(root, 'f')).sort(), ['user.ok']);
  });

  test(`${format}: a layer larger than the cap is refused`, async (t) => {
    const root = layerRoot(t);
    await t.throwsAsync(applyLayer(once(craftTar([{ name: 'big', type: 'file', data: Buffer.alloc(200_000) }])), { root, format, maxBytes: 100_000 }), {
      instanceOf: LayerTooLargeError,
      message: 'the layer does not fit: it is larger than the 100000 bytes the data root has free',
    });
  });
}

test('a whiteout or opaque marker cannot reach outside either', async (t) => {
  const s = sentinel(t);
  const root = layerRoot(t);
  mkdirSync(join(root, 'x'));
  await applyLayer(once(craftTar([{ name: 'l', type: 'symlink', linkname: s.dir }, { name: 'l/.wh.sentinel', type: 'file' }, { name: 'l/.wh..wh..opq', type: 'file' }])), { root, format: 'naive' });
  t.true(s.intact());
});
