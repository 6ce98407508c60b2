/**
 * The registry transport against a real docker-registry (plain, htpasswd, htpasswd + TLS with
 * a test CA in a temp certs dir), and against small token/redirect/hanging servers made here
 * for what docker-registry cannot show (Bearer realms, refresh tokens, cross-host redirects).
 */
import test from 'ava';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry, type Registry } from '../../../helpers/registry.js';
import { createTransport, RegistryError, type Endpoint, type RegistrySettings } from '../../../../workers/graph/distribution/transport.js';
import { send } from '../../../../workers/graph/distribution/http.js';
import { readCertsDirectory } from '../../../../workers/graph/distribution/hosts.js';

const settings = (over: Partial<RegistrySettings> = {}): RegistrySettings => ({ mirrors: [], insecure: [], certsDir: '/nonexistent-certs.d', ...over });

let plain: Registry;
let basicHttp: Registry;
let basicTls: Registry;

test.before(async () => {
  [plain, basicHttp, basicTls] = await Promise.all([startRegistry(), startRegistry({ auth: true }), startRegistry({ auth: true, tls: true })]);
});
test.after.always(async () => {
  await Promise.all([plain?.stop(), basicHttp?.stop(), basicTls?.stop()]);
});

function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, host = '127.0.0.1'): Promise<{ server: Server; url: string; host: string }> {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      resolve({ server, url: `http://${host}:${port}`, host: `${host}:${port}` });
    });
  });
}

function httpEndpoint(hostPort: string): Endpoint {
  return { url: `http://${hostPort}`, host: hostPort, mirror: false, insecure: true, tls: {} };
}

test('plain registry on 127.0.0.1: https is tried first and fails as dockerd words it, http works', async (t) => {
  const tr = createTransport();
  const eps = await tr.endpointsFor(plain.host, settings());
  t.deepEqual(eps.map((e) => e.url), [`https://${plain.host}`, `http://${plain.host}`]);
  const https = tr.session(eps[0]!, 'x', null, 'pull');
  const err = await t.throwsAsync(https.request(`/v2/x/manifests/1`, { method: 'HEAD' }));
  t.true(err instanceof RegistryError);
  t.is(err!.message, `Get "https://${plain.host}/v2/": http: server gave HTTP response to HTTPS client`);
  t.true((err as RegistryError).fallback);
  const s = tr.session(eps[1]!, 'x', null, 'pull');
  const res = await s.request('/v2/x/manifests/1', { method: 'GET', headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  t.is(res.status, 404);
  t.regex(await res.text(), /MANIFEST_UNKNOWN|NAME_UNKNOWN/);
});

test('login: plain registry accepts any credentials; nothing listening is a fallback error', async (t) => {
  const tr = createTransport();
  t.deepEqual(await tr.login(httpEndpoint(plain.host), { username: 'a', password: 'b' }), { identityToken: '' });
  const err = await t.throwsAsync(tr.login(httpEndpoint('127.0.0.1:1'), { username: 'a', password: 'b' }));
  t.is(err!.message, 'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused');
  t.true((err as RegistryError).fallback);
});

test('htpasswd over http: login right and wrong, requests with and without credentials', async (t) => {
  const tr = createTransport();
  const ep = httpEndpoint(basicHttp.host);
  t.deepEqual(await tr.login(ep, { username: 'tester', password: 's3cret' }), { identityToken: '' });
  const err = await t.throwsAsync(tr.login(ep, { username: 'tester', password: 'wrong' }));
  t.is(err!.message, `login attempt to http://${basicHttp.host}/v2/ failed with status: 401 Unauthorized`);
  t.false((err as RegistryError).fallback, 'the registry spoke registry/2.0: no fallback');
  const anon = tr.session(ep, 'x', null, 'pull');
  const e2 = await t.throwsAsync(anon.request('/v2/x/manifests/1', { method: 'HEAD' }));
  t.is(e2!.message, `Head "http://${basicHttp.host}/v2/x/manifests/1": no basic auth credentials`);
  t.is((e2 as RegistryError).detail, 'no basic auth credentials');
  const s = tr.session(ep, 'x', { username: 'tester', password: 's3cret' }, 'pull');
  t.is((await s.request('/v2/_catalog')).status, 200);
});

test('htpasswd + TLS: the test CA from a certs dir verifies; without it, x509 unknown authority; 127.0.0.1 is not verified', async (t) => {
  const tr = createTransport();
  const tls = await readCertsDirectory(join(basicTls.certsDir!, basicTls.host));
  t.is(tls.ca?.length, 1);
  const secure: Endpoint = { url: basicTls.url, host: basicTls.host, mirror: false, insecure: false, tls };
  t.deepEqual(await tr.login(secure, { username: 'tester', password: 's3cret' }), { identityToken: '' });
  const wrong = await t.throwsAsync(tr.login(secure, { username: 'tester', password: 'nope' }));
  t.is(wrong!.message, `login attempt to ${basicTls.url}/v2/ failed with status: 401 Unauthorized`);
  const noCa = await t.throwsAsync(tr.login({ ...secure, tls: {} }, { username: 'tester', password: 's3cret' }));
  t.is(noCa!.message, `Get "${basicTls.url}/v2/": x509: certificate signed by unknown authority`);
  t.true((noCa as RegistryError).fallback);
  // As dockerd: 127.0.0.0/8 is insecure, its certificate is not verified (and certs.d is not read).
  const eps = await tr.endpointsFor(basicTls.host, settings({ certsDir: basicTls.certsDir! }));
  t.deepEqual(eps.map((e) => [e.url, e.insecure, e.tls.ca?.length ?? 0]), [[basicTls.url, true, 0], [`http://${basicTls.host}`, true, 0]]);
  t.deepEqual(await tr.login(eps[0]!, { username: 'tester', password: 's3cret' }), { identityToken: '' });
  const s = tr.session(eps[0]!, 'x', { username: 'tester', password: 's3cret' }, 'pull,push');
  t.is((await s.request('/v2/_catalog')).status, 200);
});

test('a secure host reads <certsDir>/<host>/: its CA and client pair; a .cert without .key is refused', async (t) => {
  const dir = mkdtempSync('/tmp/bt-certsd-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const host = 'registry.berth.invalid:5000';
  mkdirSync(join(dir, host));
  writeFileSync(join(dir, host, 'ca.crt'), readFileSync(basicTls.caCert!));
  const tr = createTransport();
  const eps = await tr.endpointsFor(host, settings({ certsDir: dir }));
  t.is(eps.length, 1, 'a secure registry has no http fallback');
  t.is(eps[0]!.url, `https://${host}`);
  t.false(eps[0]!.insecure);
  t.is(eps[0]!.tls.ca?.length, 1);
  writeFileSync(join(dir, host, 'client.cert'), readFileSync(join(basicTls.dir, 'pki', 'server.crt')));
  const err = await t.throwsAsync(tr.endpointsFor(host, settings({ certsDir: dir })));
  t.is(err!.message, 'missing key client.key for client certificate client.cert. CA certificates must use the extension .crt');
  writeFileSync(join(dir, host, 'client.key'), readFileSync(join(basicTls.dir, 'pki', 'server.key')));
  const withPair = await tr.endpointsFor(host, settings({ certsDir: dir }));
  t.truthy(withPair[0]!.tls.cert);
  t.truthy(withPair[0]!.tls.key);
  rmSync(join(dir, host, 'client.cert'));
  const e2 = await t.throwsAsync(tr.endpointsFor(host, settings({ certsDir: dir })));
  t.is(e2!.message, 'missing client certificate client.cert for key client.key');
});

/** A registry whose /v2/ asks for a Bearer token from its own /token realm. */
async function bearerRegistry(opts: { refresh?: string } = {}) {
  const tokenRequests: URL[] = [];
  const posts: URLSearchParams[] = [];
  let base = '';
  const { server, url, host } = await serve((req, res) => {
    const u = new URL(req.url!, base);
    if (u.pathname === '/token') {
      if (req.method === 'POST') {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          const f = new URLSearchParams(body);
          posts.push(f);
          if (f.get('refresh_token') !== opts.refresh) {
            res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"invalid refresh token"}');
            return;
          }
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ access_token: 'tok-refreshed', expires_in: 300 }));
        });
        return;
      }
      tokenRequests.push(u);
      if (req.headers.authorization !== `Basic ${Buffer.from('alice:pw').toString('base64')}`) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: `tok-${u.searchParams.getAll('scope').join('+') || 'none'}`, expires_in: 300, ...(opts.refresh ? { refresh_token: opts.refresh } : {}) }));
      return;
    }
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer tok-')) {
      res.writeHead(401, {
        'Docker-Distribution-Api-Version': 'registry/2.0',
        'WWW-Authenticate': `Bearer realm="${base}/token",service="test-registry"${u.pathname === '/v2/' ? '' : `,scope="repository:x:pull"`}`,
        'Content-Type': 'application/json',
      }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}');
      return;
    }
    res.writeHead(200, { 'Docker-Distribution-Api-Version': 'registry/2.0', 'Content-Type': 'application/json', 'X-Auth': auth }).end('{}');
  });
  base = url;
  return { server, url, host, tokenRequests, posts };
}

test('Bearer: a token per scope from the realm (account, service, scope), cached until it expires', async (t) => {
  const reg = await bearerRegistry();
  t.teardown(() => reg.server.close());
  const tr = createTransport();
  const ep = httpEndpoint(reg.host);
  const s = tr.session(ep, 'x', { username: 'alice', password: 'pw' }, 'pull', ['repository:y:pull']);
  const r1 = await s.request('/v2/x/manifests/1');
  t.is(r1.status, 200);
  t.is(r1.headers['x-auth'], 'Bearer tok-repository:x:pull+repository:y:pull');
  await s.request('/v2/x/blobs/sha256:00');
  t.is(reg.tokenRequests.length, 1, 'the second request reuses the token');
  const q = reg.tokenRequests[0]!.searchParams;
  t.is(q.get('service'), 'test-registry');
  t.is(q.get('account'), 'alice');
  t.deepEqual(q.getAll('scope'), ['repository:x:pull', 'repository:y:pull']);
  t.is(q.get('offline_token'), null, 'pulls do not ask for a refresh token');
  // Another session with the same credentials and scope shares the cache.
  await tr.session(ep, 'x', { username: 'alice', password: 'pw' }, 'pull', ['repository:y:pull']).request('/v2/x/manifests/1');
  t.is(reg.tokenRequests.length, 1);
  // Wrong password: the token server's 401, as dockerd words it.
  const bad = tr.session(ep, 'x', { username: 'alice', password: 'nope' }, 'pull');
  const err = await t.throwsAsync(bad.request('/v2/x/manifests/1', { method: 'HEAD' }));
  t.is(err!.message, `Head "http://${reg.host}/v2/x/manifests/1": unauthorized: incorrect username or password`);
  t.is((err as RegistryError).kind, 'unauthorized');
});

test('Bearer login: offline_token=true&client_id=docker; the refresh token is the IdentityToken and logs in again', async (t) => {
  const reg = await bearerRegistry({ refresh: 'refresh-123' });
  t.teardown(() => reg.server.close());
  const tr = createTransport();
  const ep = httpEndpoint(reg.host);
  t.deepEqual(await tr.login(ep, { username: 'alice', password: 'pw' }), { identityToken: 'refresh-123' });
  const q = reg.tokenRequests[0]!.searchParams;
  t.is(q.get('offline_token'), 'true');
  t.is(q.get('client_id'), 'docker');
  t.deepEqual(q.getAll('scope'), []);
  const err = await t.throwsAsync(tr.login(ep, { username: 'alice', password: 'bad' }));
  t.is(err!.message, `Get "http://${reg.host}/v2/": unauthorized: incorrect username or password`);
  t.is((err as RegistryError).kind, 'unauthorized');
  t.deepEqual(await tr.login(ep, { identitytoken: 'refresh-123' }), { identityToken: 'refresh-123' });
  const post = reg.posts[0]!;
  t.is(post.get('grant_type'), 'refresh_token');
  t.is(post.get('client_id'), 'docker');
  // A pull with the identity token uses the refresh grant too.
  const s = tr.session(ep, 'x', { identitytoken: 'refresh-123' }, 'pull');
  t.is((await s.request('/v2/x/manifests/1')).headers['x-auth'], 'Bearer tok-refreshed');
});

test('redirects: followed for GET, Authorization not sent to another host', async (t) => {
  let seenAuth = 'unset' as string | undefined;
  const storage = await serve((req, res) => {
    seenAuth = req.headers.authorization;
    res.writeHead(200).end('blob-bytes');
  }, '127.0.0.2');
  t.teardown(() => storage.server.close());
  const reg = await serve((req, res) => {
    if (req.url === '/v2/') {
      res.writeHead(401, { 'Docker-Distribution-Api-Version': 'registry/2.0', 'WWW-Authenticate': 'Basic realm="r"' }).end();
      return;
    }
    res.writeHead(307, { Location: `${storage.url}/blob?sig=1` }).end();
  });
  t.teardown(() => reg.server.close());
  const s = createTransport().session(httpEndpoint(reg.host), 'x', { username: 'u', password: 'p' }, 'pull');
  const res = await s.request('/v2/x/blobs/sha256:aa');
  t.is(res.status, 200);
  t.is(await res.text(), 'blob-bytes');
  t.is(seenAuth, undefined);
  const noFollow = await s.request('/v2/x/blobs/sha256:aa', { redirect: false });
  t.is(noFollow.status, 307);
});

test('a registry that hangs times out with a clear error; an abort signal cancels', async (t) => {
  const hung = await serve(() => {
    // never answers
  });
  t.teardown(() => {
    hung.server.closeAllConnections();
    hung.server.close();
  });
  const err = await t.throwsAsync(send(`${hung.url}/v2/x/blobs/sha256:aa`, { timeoutMs: 300 }));
  t.is(err!.message, `Get "${hung.url}/v2/x/blobs/sha256:aa": timeout: no answer from the registry in 0.3s`);
  t.is((err as RegistryError).reason, 'timeout');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const e2 = await t.throwsAsync(send(`${hung.url}/v2/`, { signal: ac.signal, timeoutMs: 10_000 }));
  t.is((e2 as RegistryError).kind, 'cancelled');
  // A body that stalls half-way fails the stream with the timeout.
  const slow = await serve((_req, res) => {
    res.writeHead(200, { 'Content-Length': 100 });
    res.write('partial');
  });
  t.teardown(() => {
    slow.server.closeAllConnections();
    slow.server.close();
  });
  const res = await send(`${slow.url}/blob`, { timeoutMs: 300 });
  const e3 = await t.throwsAsync(res.text());
  t.regex(e3!.message, /timeout: the registry sent nothing for 0\.3s/);
});
