/**
 * TCP and TLS listeners, driven by the real docker CLI: plain tcp only on loopback,
 * --tlsverify requires a client certificate signed by the CA, --tls alone only authenticates
 * the server. Certificates are made with openssl for each run.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run, runBerthd, startBerthd, tempDir, waitFor } from '../helpers/berthd.js';

let certs: string;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

test.before(() => {
  certs = tempDir('btls-');
  const p = (f: string) => join(certs, f);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=berth test CA', '-keyout', p('ca-key.pem'), '-out', p('ca.pem')]);
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', p('server-key.pem'), '-out', p('server.csr')]);
  openssl(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca-key.pem'), '-CAcreateserial', '-days', '2', '-extfile', p('server.ext'), '-out', p('server-cert.pem')]);
  writeFileSync(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=client', '-keyout', p('key.pem'), '-out', p('client.csr')]);
  openssl(['x509', '-req', '-in', p('client.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca-key.pem'), '-CAcreateserial', '-days', '2', '-extfile', p('client.ext'), '-out', p('cert.pem')]);
});

test.after.always(() => {
  if (certs) rmSync(certs, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const docker = (host: string, args: string[], env: Record<string, string> = {}) =>
  run('docker', ['-H', host, ...args], { env: { DOCKER_CONFIG: join(certs, 'cli'), DOCKER_HOST: '', ...env } });

test('plain tcp on loopback serves the CLI', async (t) => {
  const port = await freePort();
  const b = await startBerthd({ hosts: [`tcp://127.0.0.1:${port}`], wait: false });
  try {
    t.true(await waitFor(async () => (await docker(`tcp://127.0.0.1:${port}`, ['version', '--format', '{{.Server.APIVersion}}'])).stdout.trim() === '1.41', 15_000));
    const info = await b.dockerode().info().catch(() => null);
    t.is(info, null, 'no unix socket was asked for');
    t.regex(b.output(), new RegExp(`API listen on 127\\.0\\.0\\.1:${port}`));
    const warn = await docker(`tcp://127.0.0.1:${port}`, ['info']);
    t.regex(warn.stderr, /API is accessible on http:\/\/127\.0\.0\.1:\d+ without encryption/);
  } finally {
    await b.stop();
  }
});

test('--tlsverify: a client with a certificate from the CA gets in; one without is refused', async (t) => {
  const port = await freePort();
  const b = await startBerthd({
    hosts: [`tcp://127.0.0.1:${port}`],
    args: ['--tlsverify', '--tlscacert', join(certs, 'ca.pem'), '--tlscert', join(certs, 'server-cert.pem'), '--tlskey', join(certs, 'server-key.pem')],
    wait: false,
  });
  const host = `tcp://127.0.0.1:${port}`;
  try {
    const ok = () => docker(host, ['--tlsverify', '--tlscacert', join(certs, 'ca.pem'), '--tlscert', join(certs, 'cert.pem'), '--tlskey', join(certs, 'key.pem'), 'version', '--format', '{{.Server.APIVersion}}']);
    t.true(await waitFor(async () => (await ok()).stdout.trim() === '1.41', 15_000), b.output());
    const noCert = await docker(host, ['--tls', '--tlscacert', join(certs, 'ca.pem'), 'version']);
    t.not(noCert.code, 0);
    t.regex(noCert.stderr, /certificate|tls|handshake/i);
    const plain = await docker(host, ['version']);
    t.not(plain.code, 0, 'plain HTTP to a TLS port fails');
  } finally {
    await b.stop();
  }
});

test('TLS is for tcp only: the unix socket next to a --tlsverify listener speaks plain HTTP', async (t) => {
  const port = await freePort();
  const dir = tempDir();
  const b = await startBerthd({
    dir,
    hosts: [`unix://${join(dir, 's.sock')}`, `tcp://127.0.0.1:${port}`],
    args: ['--tlsverify', '--tlscacert', join(certs, 'ca.pem'), '--tlscert', join(certs, 'server-cert.pem'), '--tlskey', join(certs, 'server-key.pem')],
  });
  try {
    const viaUnix = await b.docker(['version', '--format', '{{.Server.APIVersion}}']);
    t.is(viaUnix.stdout.trim(), '1.41', viaUnix.stderr);
    const viaTcp = await docker(`tcp://127.0.0.1:${port}`, ['version']);
    t.not(viaTcp.code, 0, 'the tcp listener still wants a certificate');
  } finally {
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--tls without verify: the server is authenticated, clients need no certificate', async (t) => {
  const port = await freePort();
  const b = await startBerthd({
    hosts: [`tcp://127.0.0.1:${port}`],
    args: ['--tls', '--tlscert', join(certs, 'server-cert.pem'), '--tlskey', join(certs, 'server-key.pem')],
    wait: false,
  });
  try {
    const r = () => docker(`tcp://127.0.0.1:${port}`, ['--tlsverify', '--tlscacert', join(certs, 'ca.pem'), 'version', '--format', '{{.Server.APIVersion}}']);
    t.true(await waitFor(async () => (await r()).stdout.trim() === '1.41', 15_000), b.output());
  } finally {
    await b.stop();
  }
});

test('a non-loopback tcp host without --tlsverify refuses to start, with the reason, creating nothing', async (t) => {
  const dir = tempDir();
  try {
    const r = await runBerthd(['--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '-p', join(dir, 'pid'), '-H', 'tcp://0.0.0.0:23751']);
    t.is(r.code, 1);
    t.regex(r.stderr, /^refusing to listen on tcp:\/\/0\.0\.0\.0:23751 without --tlsverify: anyone who can reach that address would get root on this host/);
    t.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a non-loopback tcp host with --tlsverify starts', async (t) => {
  const port = await freePort();
  const b = await startBerthd({
    hosts: [`tcp://0.0.0.0:${port}`],
    args: ['--tlsverify', '--tlscacert', join(certs, 'ca.pem'), '--tlscert', join(certs, 'server-cert.pem'), '--tlskey', join(certs, 'server-key.pem')],
    wait: false,
  });
  try {
    const ok = () => docker(`tcp://127.0.0.1:${port}`, ['--tlsverify', '--tlscacert', join(certs, 'ca.pem'), '--tlscert', join(certs, 'cert.pem'), '--tlskey', join(certs, 'key.pem'), 'version', '--format', '{{.Server.APIVersion}}']);
    t.true(await waitFor(async () => (await ok()).stdout.trim() === '1.41', 15_000), b.output());
  } finally {
    await b.stop();
  }
});
