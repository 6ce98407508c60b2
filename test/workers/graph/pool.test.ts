/** The piscina pool for CPU-bound work: correct digests, errors reported, bounded queue. */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPool } from '../../../workers/graph/pool.js';

test('digest hashes bytes and files off the calling thread, like sha256sum', async (t) => {
  const pool = createPool(1, 8);
  const dir = mkdtempSync('/tmp/btp-');
  try {
    const data = randomBytes(3 << 20);
    const want = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    t.is(await pool.digest({ data }), want);
    writeFileSync(join(dir, 'f'), data);
    t.is(await pool.digest({ path: join(dir, 'f') }), want);
    await t.throwsAsync(pool.digest({}), { message: 'digest needs data or path' });
    await t.throwsAsync(pool.digest({ path: join(dir, 'missing') }), { message: /ENOENT/ });
    t.is(await pool.digest({ data: Buffer.from('') }), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'the pool survives failed tasks');
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a full queue refuses work instead of buffering it without bound', async (t) => {
  const pool = createPool(1, 2);
  try {
    const data = randomBytes(8 << 20);
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => pool.digest({ data })));
    const refused = results.filter((r) => r.status === 'rejected');
    t.true(refused.length > 0);
    t.regex(String((refused[0] as PromiseRejectedResult).reason), /queue is at limit/i);
    t.true(results.some((r) => r.status === 'fulfilled'));
  } finally {
    await pool.close();
  }
});
