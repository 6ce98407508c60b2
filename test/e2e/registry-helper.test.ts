/**
 * Self-test of test/helpers/registry.ts: a plain registry and one with htpasswd auth behind TLS
 * (test CA), a busybox image copied into each with skopeo and read back, then nothing left.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { inspectManifest, pushTestImage, startRegistry } from '../helpers/registry.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('plain registry: skopeo copy busybox in, inspect it back, stop leaves nothing', async (t) => {
  const reg = await startRegistry();
  try {
    t.regex(reg.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    t.is(reg.host, `127.0.0.1:${reg.port}`);
    t.is(reg.caCert, undefined);
    t.is(Buffer.from(reg.xRegistryAuth, 'base64url').toString(), '{}');
    const ping = await reg.fetch('GET', '/v2/');
    t.is(ping.status, 200);
    t.is(ping.headers['docker-distribution-api-version'], 'registry/2.0');

    const img = await pushTestImage(reg, 'x:1', { extraLayers: 2 });
    t.regex(img.digest, /^sha256:[0-9a-f]{64}$/);
    t.is(img.layers.length, 3);
    const m = JSON.parse(img.manifest) as { mediaType: string; layers: unknown[] };
    t.is(m.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const head = await reg.fetch('HEAD', '/v2/x/manifests/1', { Accept: m.mediaType });
    t.is(head.status, 200);
    t.is(head.headers['docker-content-digest'], img.digest, 'the digest of the raw bytes skopeo read is the registry\'s');
    const back = await inspectManifest(reg, `x@${img.digest}`);
    t.is(back.info.Digest, img.digest);
    t.regex(reg.output(), /GET \/v2\/x\/manifests/);
  } finally {
    await reg.stop();
  }
  t.false(alive(reg.pid));
  t.false(existsSync(reg.dir));
});

test('htpasswd + TLS registry: credentials and CA are needed and given', async (t) => {
  const reg = await startRegistry({ auth: true, tls: true });
  try {
    t.regex(reg.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    t.truthy(reg.caCert && existsSync(reg.caCert));
    t.true(existsSync(`${reg.certsDir}/${reg.host}/ca.crt`));
    t.is(reg.user, 'tester');
    t.deepEqual(JSON.parse(Buffer.from(reg.xRegistryAuth, 'base64url').toString()), { username: 'tester', password: 's3cret', serveraddress: reg.host });
    t.is((await reg.fetch('GET', '/v2/')).status, 200, 'with the credentials');
    const anon = await reg.fetch('GET', '/v2/', { Authorization: '' });
    t.is(anon.status, 401);
    t.is(anon.headers['www-authenticate'], 'Basic realm="basic-realm"');

    const img = await pushTestImage(reg, 'x:1', { format: 'oci' });
    t.is(img.layers.length, 2);
    t.is((JSON.parse(img.manifest) as { mediaType: string }).mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const back = await inspectManifest(reg, 'x:1');
    t.is(back.digest, img.digest);
  } finally {
    await reg.stop();
  }
  t.false(alive(reg.pid));
  t.false(existsSync(reg.dir));
});
