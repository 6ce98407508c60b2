/**
 * The v2 metadata store names files after digests: anything but sha256:<64 hex> is refused
 * (add) or ignored (list, remove, diffID), so a registry's digest never becomes a path.
 */
import test from 'ava';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { V2MetadataStore } from '../../../../workers/graph/distribution/metadata.js';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;

test('add, list, remove and diffID refuse digests and diffIDs that are not sha256:<hex>', async (t) => {
  const dir = mkdtempSync('/tmp/btmeta-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'image', 'vfs', 'distribution');
  const m = new V2MetadataStore(root);
  await m.add(D1, D2, '127.0.0.1:5000/x');
  t.deepEqual(await m.list(D1), [{ Digest: D2, SourceRepository: '127.0.0.1:5000/x', HMAC: '' }]);
  t.is(await m.diffID(D2), D1);
  for (const bad of ['sha256:../../../../escape', `sha256:${'A'.repeat(64)}`, `sha512:${'a'.repeat(128)}`, '', `sha256:${'a'.repeat(63)}/`]) {
    await t.throwsAsync(m.add(D1, bad, 'r'), { message: /invalid checksum digest format/ }, bad);
    await t.throwsAsync(m.add(bad, D2, 'r'), { message: /invalid checksum digest format/ }, bad);
    t.deepEqual(await m.list(bad), []);
    t.is(await m.diffID(bad), null);
    await m.remove(bad, D2, 'r');
  }
  t.deepEqual(readdirSync(dir), ['image'], 'nothing was written outside the store');
  t.deepEqual(readdirSync(join(root, 'diffid-by-digest', 'sha256')), ['b'.repeat(64)]);
  t.deepEqual(readdirSync(join(root, 'v2metadata-by-diffid', 'sha256')), ['a'.repeat(64)]);
});
