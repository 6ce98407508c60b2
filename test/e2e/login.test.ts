/**
 * docker login (POST /auth), docker search (GET /images/search) and the registry settings
 * (--insecure-registry, --registry-mirror, certs.d, SIGHUP reload) with a real berthd, the real
 * docker CLI and Debian's docker-registry, against dockerd 20.10's answers
 * (test/fixtures/dockerd-20.10/registry/SUMMARY.md §5, §6, §9).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { startBerthd, waitFor, type Berthd } from '../helpers/berthd.js';
import { freePort, startRegistry, type Registry } from '../helpers/registry.js';

let plain: Registry;
let authHttp: Registry;
let authTls: Registry;
let b: Berthd;

test.before(async () => {
  [plain, authHttp, authTls] = await Promise.all([startRegistry(), startRegistry({ auth: true }), startRegistry({ auth: true, tls: true })]);
  b = await startBerthd();
});
test.after.always(async () => {
  await Promise.all([b?.stop(), plain?.stop(), authHttp?.stop(), authTls?.stop()]);
});

test.serial('docker login with the right password to htpasswd + TLS on 127.0.0.1: Login Succeeded, credentials stored', async (t) => {
  const r = await b.docker(['login', authTls.host, '-u', 'tester', '-p', 's3cret']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), 'Login Succeeded');
  const cfg = JSON.parse(readFileSync(join(b.dir, 'docker-config', 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
  t.is(cfg.auths[authTls.host]?.auth, Buffer.from('tester:s3cret').toString('base64'));
});

test.serial('docker login with a wrong password: dockerd 20.10\'s 500 and message', async (t) => {
  const r = await b.docker(['login', authTls.host, '-u', 'tester', '-p', 'wrong']);
  t.is(r.code, 1);
  t.is(r.stderr.trim().split('\n').pop(), `Error response from daemon: login attempt to https://${authTls.host}/v2/ failed with status: 401 Unauthorized`);
  const api = await b.request('POST', '/v1.41/auth', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'tester', password: 'wrong', serveraddress: authHttp.host }) + '\n' });
  t.is(api.status, 500);
  t.is(api.body, `{"message":"login attempt to http://${authHttp.host}/v2/ failed with status: 401 Unauthorized"}\n`);
});

test.serial('POST /auth answers exactly as dockerd: body, key order, length', async (t) => {
  const r = await b.request('POST', '/v1.41/auth', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'tester', password: 's3cret', serveraddress: authTls.host }) + '\n' });
  t.is(r.status, 200);
  t.is(r.body, '{"IdentityToken":"","Status":"Login Succeeded"}\n');
  t.is(r.headers['content-length'], '48');
  const bad = await b.request('POST', '/v1.41/auth', { headers: { 'Content-Type': 'application/json' }, body: '' });
  t.is(bad.status, 500);
  t.is(bad.json<{ message: string }>().message, 'EOF');
});

test.serial('docker login to plain http on 127.0.0.1: htpasswd right and wrong, a registry without auth, nothing listening', async (t) => {
  const ok = await b.docker(['login', authHttp.host, '-u', 'tester', '-p', 's3cret']);
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout.trim(), 'Login Succeeded');
  const wrong = await b.docker(['login', authHttp.host, '-u', 'tester', '-p', 'nope']);
  t.is(wrong.stderr.trim().split('\n').pop(), `Error response from daemon: login attempt to http://${authHttp.host}/v2/ failed with status: 401 Unauthorized`);
  const noauth = await b.docker(['login', plain.host, '-u', 'anyone', '-p', 'anything']);
  t.is(noauth.code, 0, noauth.stderr);
  t.is(noauth.stdout.trim(), 'Login Succeeded');
  const port = await freePort();
  const refused = await b.docker(['login', `127.0.0.1:${port}`, '-u', 'a', '-p', 'b']);
  t.is(refused.code, 1);
  t.is(refused.stderr.trim().split('\n').pop(), `Error response from daemon: Get "http://127.0.0.1:${port}/v2/": dial tcp 127.0.0.1:${port}: connect: connection refused`);
});

test.serial('docker search: a v2 registry has no search API (dockerd\'s error), nothing listening, limit and filters', async (t) => {
  for (const reg of [plain, authTls]) {
    const r = await b.docker(['search', `${reg.host}/x`]);
    t.is(r.code, 1);
    t.is(r.stderr.trim(), 'Error response from daemon: Unexpected status code 404');
  }
  const port = await freePort();
  const refused = await b.docker(['search', `127.0.0.1:${port}/x`]);
  t.is(
    refused.stderr.trim(),
    `Error response from daemon: invalid registry endpoint "http://127.0.0.1:${port}/v1/". HTTPS attempt: Get "https://127.0.0.1:${port}/v1/_ping": dial tcp 127.0.0.1:${port}: connect: connection refused. HTTP attempt: Get "http://127.0.0.1:${port}/v1/_ping": dial tcp 127.0.0.1:${port}: connect: connection refused`,
  );
  const limit = await b.request('GET', `/v1.41/images/search?term=${encodeURIComponent(`${plain.host}/x`)}&limit=0`);
  t.is(limit.status, 400);
  t.is(limit.json<{ message: string }>().message, 'Limit 0 is outside the range of [1, 100]');
  const nan = await b.request('GET', `/v1.41/images/search?term=x&limit=abc`);
  t.is(nan.status, 500);
  t.is(nan.json<{ message: string }>().message, 'strconv.Atoi: parsing "abc": invalid syntax');
  const filter = await b.request('GET', `/v1.41/images/search?term=x&filters=${encodeURIComponent('{"is-official":["maybe"]}')}`);
  t.is(filter.status, 400);
  t.is(filter.json<{ message: string }>().message, "Invalid filter 'is-official=[maybe]'");
});

/** A local address that is not loopback (a registry there is secure: its CA comes from certs.d). */
function publicAddress(): string | null {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return null;
}

/**
 * A TLS front for `reg` on `addr`, with a certificate for IP:addr signed by the registry's test
 * CA (the registry's own names only 127.0.0.1): berth verifies it with certs.d.
 */
async function tlsFront(reg: Registry, addr: string, dir: string): Promise<{ server: TlsServer; host: string }> {
  writeFileSync(join(dir, 'front.ext'), `subjectAltName=IP:${addr}\nextendedKeyUsage=serverAuth\n`);
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${addr}`, '-keyout', 'front.key', '-out', 'front.csr']);
  ssl(['x509', '-req', '-in', 'front.csr', '-CA', reg.caCert!, '-CAkey', reg.caKey!, '-CAcreateserial', '-days', '2', '-extfile', 'front.ext', '-out', 'front.crt']);
  const server = createTlsServer({ cert: readFileSync(join(dir, 'front.crt')), key: readFileSync(join(dir, 'front.key')) }, (client) => {
    const upstream = tlsConnect({ host: '127.0.0.1', port: reg.port, rejectUnauthorized: false });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, addr, resolve));
  return { server, host: `${addr}:${(server.address() as { port: number }).port}` };
}

test.serial('a secure registry (not loopback): the test CA in the certs dir makes login work; without it, x509 and no http fallback', async (t) => {
  const addr = publicAddress();
  if (!addr) {
    t.log('no non-loopback IPv4 address on this host: skipped');
    t.pass();
    return;
  }
  const dir = mkdtempSync('/tmp/bt-certs-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const front = await tlsFront(authTls, addr, dir);
  t.teardown(() => front.server.close());
  const certsDir = join(dir, 'certs.d');
  mkdirSync(join(certsDir, front.host), { recursive: true });
  writeFileSync(join(certsDir, front.host, 'ca.crt'), readFileSync(authTls.caCert!));
  const d = await startBerthd({ env: { BERTH_REGISTRY_CERTS_DIR: certsDir } });
  t.teardown(() => d.stop());
  const ok = await d.docker(['login', front.host, '-u', 'tester', '-p', 's3cret']);
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout.trim(), 'Login Succeeded');
  const wrong = await d.docker(['login', front.host, '-u', 'tester', '-p', 'nope']);
  t.is(wrong.stderr.trim().split('\n').pop(), `Error response from daemon: login attempt to https://${front.host}/v2/ failed with status: 401 Unauthorized`);
  // certs.d is read at each login, as dockerd reads it at each lookup.
  rmSync(join(certsDir, front.host, 'ca.crt'));
  const noCa = await d.docker(['login', front.host, '-u', 'tester', '-p', 's3cret']);
  t.is(noCa.code, 1);
  t.is(noCa.stderr.trim().split('\n').pop(), `Error response from daemon: Get "https://${front.host}/v2/": x509: certificate signed by unknown authority`);
  // A client certificate without its key is dockerd's 400.
  writeFileSync(join(certsDir, front.host, 'client.cert'), readFileSync(join(dir, 'front.crt')));
  const half = await d.request('POST', '/v1.41/auth', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'tester', password: 's3cret', serveraddress: front.host }) });
  t.is(half.status, 400);
  t.is(half.json<{ message: string }>().message, 'missing key client.key for client certificate client.cert. CA certificates must use the extension .crt');
});

const EXPECTED_REGISTRY_CONFIG = (mirrorPort: number) =>
  `"RegistryConfig":{"AllowNondistributableArtifactsCIDRs":[],"AllowNondistributableArtifactsHostnames":[],"InsecureRegistryCIDRs":["192.168.0.0/16","127.0.0.0/8"],"IndexConfigs":{"10.1.2.3:5000":{"Name":"10.1.2.3:5000","Mirrors":[],"Secure":false,"Official":false},"docker.io":{"Name":"docker.io","Mirrors":["https://mirror.example.com/","http://127.0.0.1:${mirrorPort}/"],"Secure":true,"Official":true},"myreg.example:5000":{"Name":"myreg.example:5000","Mirrors":[],"Secure":false,"Official":false}},"Mirrors":["https://mirror.example.com/","http://127.0.0.1:${mirrorPort}/"]}`;

test.serial('docker info with --insecure-registry and --registry-mirror: RegistryConfig as dockerd 20.10', async (t) => {
  const d = await startBerthd({
    args: ['--insecure-registry', 'myreg.example:5000', '--insecure-registry', '10.1.2.3:5000', '--insecure-registry', '192.168.0.0/16', '--registry-mirror', 'https://mirror.example.com', '--registry-mirror', `http://127.0.0.1:${plain.port}`],
  });
  t.teardown(() => d.stop());
  const raw = await d.request('GET', '/v1.41/info');
  t.true(raw.body.includes(EXPECTED_REGISTRY_CONFIG(plain.port)), raw.body.slice(raw.body.indexOf('"RegistryConfig"'), raw.body.indexOf('"NCPU"')));
  const r = await d.docker(['info']);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const i = lines.indexOf(' Insecure Registries:');
  t.deepEqual(lines.slice(i + 1, i + 5).map((l) => l.trim()).sort(), ['10.1.2.3:5000', '127.0.0.0/8', '192.168.0.0/16', 'myreg.example:5000']);
  const m = lines.indexOf(' Registry Mirrors:');
  t.deepEqual(lines.slice(m + 1, m + 3).map((l) => l.trim()), ['https://mirror.example.com/', `http://127.0.0.1:${plain.port}/`]);
});

test.serial('SIGHUP reloads registry mirrors and insecure registries from daemon.json; the graph actor uses them', async (t) => {
  const dir = mkdtempSync('/tmp/bt-reload-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'daemon.json');
  writeFileSync(file, JSON.stringify({ 'registry-mirrors': ['https://one.example.com'] }));
  const d = await startBerthd({ args: ['--config-file', file] });
  t.teardown(() => d.stop());
  const info = async () => (await d.request('GET', '/v1.41/info')).json<{ RegistryConfig: { Mirrors: string[]; InsecureRegistryCIDRs: string[] } }>().RegistryConfig;
  t.deepEqual((await info()).Mirrors, ['https://one.example.com/']);
  writeFileSync(file, JSON.stringify({ 'registry-mirrors': ['https://two.example.com'], 'insecure-registries': ['10.9.0.0/16'] }));
  process.kill(d.pid, 'SIGHUP');
  t.true(await waitFor(async () => (await info()).Mirrors[0] === 'https://two.example.com/', 10_000));
  t.deepEqual((await info()).InsecureRegistryCIDRs, ['10.9.0.0/16', '127.0.0.0/8']);
  // Still answers logins after the reload (the graph actor got the new settings).
  const ok = await d.docker(['login', authHttp.host, '-u', 'tester', '-p', 's3cret']);
  t.is(ok.code, 0, ok.stderr);
});

test.serial('a wrong password on pull and on /distribution: dockerd 20.10\'s 500 "unauthorized: authentication required" (not 401)', async (t) => {
  const auth = (password: string) => Buffer.from(JSON.stringify({ username: 'tester', password, serveraddress: authHttp.host })).toString('base64url');
  // test/fixtures/dockerd-20.10/registry/http/pull-api-wrong-creds-http.txt
  const pull = await b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${authHttp.host}/x`)}&tag=1`, { headers: { 'X-Registry-Auth': auth('wrong') } });
  t.is(pull.status, 500, pull.body);
  t.is(pull.body, '{"message":"unauthorized: authentication required"}\n');
  const dist = await b.request('GET', `/v1.41/distribution/${authHttp.host}/x:1/json`, { headers: { 'X-Registry-Auth': auth('wrong') } });
  t.is(dist.status, 500, dist.body);
  t.is(dist.json<{ message: string }>().message, 'unauthorized: authentication required');
  // No credentials at all: 500 too (http/pull-api-noauth-http.txt words it with Head "…").
  const anon = await b.request('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${authHttp.host}/x`)}&tag=1`, { headers: { 'X-Registry-Auth': 'e30=' } });
  t.is(anon.status, 500, anon.body);
  t.regex(anon.json<{ message: string }>().message, new RegExp(`^(Head|Get) "http://${authHttp.host.replace(/\./g, '\\.')}/v2/x/manifests/1": no basic auth credentials$`));
});
