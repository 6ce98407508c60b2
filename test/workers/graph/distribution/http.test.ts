/**
 * The registry HTTP client against small servers made here on 127.0.0.1: redirects that change
 * the origin (scheme, host or port) never carry the Authorization header, and an https answer
 * is never downgraded to plain http by a redirect unless the endpoint is insecure. A Bearer
 * token the registry calls invalid_token is dropped from the cache before the retry. Error
 * messages quote at most 4 KiB of a registry's answer.
 */
import test from 'ava';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { makeTestCA } from '../../../helpers/registry.js';
import { send } from '../../../../workers/graph/distribution/http.js';
import { RegistryError } from '../../../../workers/graph/distribution/errors.js';
import { createTransport } from '../../../../workers/graph/distribution/transport.js';
import { describeError, MAX_QUOTED } from '../../../../workers/graph/distribution/auth.js';

let dir: string;
let ca: ReturnType<typeof makeTestCA>;

test.before(() => {
  dir = mkdtempSync('/tmp/bthttp-');
  ca = makeTestCA(dir);
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/**
 * One port that speaks both TLS and plain HTTP (the first byte decides), so https://h:p →
 * http://h:p is a redirect to the same host and port, another scheme only.
 */
async function dualServer(handler: (req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https') => void): Promise<{ port: number; close: () => void }> {
  const plain = createHttpServer((req, res) => handler(req, res, 'http'));
  const tls = createHttpsServer({ cert: readFileSync(ca.cert), key: readFileSync(ca.key) }, (req, res) => handler(req, res, 'https'));
  const front: Server = createNetServer((sock) => {
    sock.once('readable', () => {
      const first = sock.read(1) as Buffer | null;
      if (!first) return void sock.destroy();
      sock.unshift(first);
      (first[0] === 0x16 ? tls : plain).emit('connection', sock);
    });
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  return {
    port: (front.address() as AddressInfo).port,
    close: () => {
      plain.closeAllConnections();
      tls.closeAllConnections();
      front.close();
    },
  };
}

test('a redirect from https to http on the same host and port: refused for a secure endpoint; for an insecure one, followed without Authorization', async (t) => {
  const seen: Array<{ scheme: string; url?: string; auth?: string }> = [];
  const s = await dualServer((req, res, scheme) => {
    seen.push({ scheme, url: req.url, auth: req.headers.authorization });
    if (scheme === 'https') return void res.writeHead(302, { Location: `http://127.0.0.1:${s.port}/landing` }).end();
    res.writeHead(200).end('plain');
  });
  t.teardown(s.close);
  const url = `https://127.0.0.1:${s.port}/v2/x/blobs/sha256:aa`;
  const tls = { ca: [readFileSync(ca.caCert)] };
  const err = await t.throwsAsync(send(url, { tls, insecure: false, headers: { Authorization: 'Basic c2VjcmV0' } }));
  t.true(err instanceof RegistryError);
  t.is(err!.message, `Get "${url}": refusing a redirect from https to plain http (http://127.0.0.1:${s.port}) for a secure registry`);
  t.deepEqual(seen.map((x) => x.scheme), ['https'], 'nothing was sent over plain http');
  seen.length = 0;
  const res = await send(url, { tls, insecure: true, headers: { Authorization: 'Basic c2VjcmV0' } });
  t.is(await res.text(), 'plain');
  t.deepEqual(seen, [
    { scheme: 'https', url: '/v2/x/blobs/sha256:aa', auth: 'Basic c2VjcmV0' },
    { scheme: 'http', url: '/landing', auth: undefined },
  ]);
});

test('a redirect to the same host on another port drops Authorization; one to the same origin keeps it; other schemes are refused', async (t) => {
  const seen: Array<{ port: number; url?: string; auth?: string }> = [];
  const other = createHttpServer((req, res) => {
    seen.push({ port: 2, url: req.url, auth: req.headers.authorization });
    res.writeHead(200).end('other');
  });
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
  const otherPort = (other.address() as AddressInfo).port;
  const main = createHttpServer((req, res) => {
    seen.push({ port: 1, url: req.url, auth: req.headers.authorization });
    if (req.url === '/same') return void res.writeHead(307, { Location: '/same2' }).end();
    if (req.url === '/file') return void res.writeHead(302, { Location: 'file:///etc/passwd' }).end();
    if (req.url === '/same2') return void res.writeHead(302, { Location: `http://127.0.0.1:${otherPort}/moved` }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => main.listen(0, '127.0.0.1', () => r()));
  const port = (main.address() as AddressInfo).port;
  t.teardown(() => {
    main.closeAllConnections();
    other.closeAllConnections();
    main.close();
    other.close();
  });
  const res = await send(`http://127.0.0.1:${port}/same`, { headers: { Authorization: 'Bearer tok' } });
  t.is(await res.text(), 'other');
  t.deepEqual(seen, [
    { port: 1, url: '/same', auth: 'Bearer tok' },
    { port: 1, url: '/same2', auth: 'Bearer tok' },
    { port: 2, url: '/moved', auth: undefined },
  ]);
  const err = await t.throwsAsync(send(`http://127.0.0.1:${port}/file`, { headers: { Authorization: 'Bearer tok' } }));
  t.regex(err!.message, /refusing a redirect to "file:\/\/\/etc\/passwd": not http or https$/);
});

test('a Bearer token the registry calls invalid_token is dropped from the cache: the retry asks the realm for a new one', async (t) => {
  let issued = 0;
  let valid = '';
  const tokenAsks: number[] = [];
  const server = createHttpServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (u.pathname === '/token') {
      valid = `tok-${++issued}`;
      tokenAsks.push(issued);
      return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: valid, expires_in: 300 }));
    }
    const challenge = `Bearer realm="http://127.0.0.1:${port}/token",service="svc"`;
    const auth = req.headers.authorization;
    if (!auth) return void res.writeHead(401, { 'WWW-Authenticate': challenge, 'Docker-Distribution-Api-Version': 'registry/2.0' }).end();
    if (auth !== `Bearer ${valid}`) {
      return void res.writeHead(401, { 'WWW-Authenticate': `${challenge},error="invalid_token"`, 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"token revoked"}]}');
    }
    res.writeHead(200, { 'X-Auth': auth }).end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const tr = createTransport();
  const ep = { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, mirror: false, insecure: true, tls: {} };
  const s = tr.session(ep, 'x', { username: 'u', password: 'p' }, 'pull');
  const r1 = await s.request('/v2/x/manifests/1');
  t.is(r1.headers['x-auth'], 'Bearer tok-1');
  r1.body.resume();
  // The registry revokes tok-1 (a new one becomes the valid one when asked for).
  valid = 'none';
  const r2 = await s.request('/v2/x/manifests/1');
  t.is(r2.status, 200, 'the retry got a new token');
  t.is(r2.headers['x-auth'], 'Bearer tok-2');
  r2.body.resume();
  // Another session with the same credentials uses the new token, not the revoked one.
  const r3 = await tr.session(ep, 'x', { username: 'u', password: 'p' }, 'pull').request('/v2/x/manifests/1');
  t.is(r3.headers['x-auth'], 'Bearer tok-2');
  r3.body.resume();
  t.deepEqual(tokenAsks, [1, 2]);
});

test('error messages quote at most a few KiB of what a registry sent', (t) => {
  const big = 'x'.repeat(1 << 20);
  const e = describeError(418, {}, big);
  t.true(e.message.length < MAX_QUOTED + 200, `${e.message.length} characters`);
  t.true(e.message.startsWith('error parsing HTTP 418 response body: invalid character \'x\' looking for beginning of value: "xxx'));
  const details = describeError(401, {}, JSON.stringify({ details: big }));
  t.true(details.message.length < MAX_QUOTED + 200);
  const errs = describeError(400, {}, JSON.stringify({ errors: [{ code: 'NAME_INVALID', message: big }] }));
  t.true(errs.message.length < MAX_QUOTED + 200);
  t.true(errs.message.startsWith('name invalid: xxx'));
  // A short body is quoted whole, as before.
  t.is(describeError(418, {}, 'teapot').message, 'error parsing HTTP 418 response body: invalid character \'t\' looking for beginning of value: "teapot"');
});
