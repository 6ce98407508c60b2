/**
 * The Engine API as clients see it, through dockerode and raw HTTP: /_ping headers,
 * versioning, errors and their exact JSON, bodies, CORS, events, and the /info and /version
 * documents compared field by field with what dockerd 20.10 returns
 * (test/fixtures/dockerd-20.10, captured from a real dockerd).
 */
import test from 'ava';
import { lstatSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';

const fixture = (name: string) => JSON.parse(readFileSync(fileURLToPath(new URL(`../../../test/fixtures/dockerd-20.10/${name}`, import.meta.url)), 'utf8')) as Record<string, unknown>;

let shared: Berthd;
test.before(async () => {
  shared = await startBerthd({ args: ['--debug-failpoints', '--api-cors-header', 'https://ui.example'] });
});
test.after.always(async () => {
  await shared?.stop();
});

const json = { 'Content-Type': 'application/json' };

/** Fields whose keys are data (names), not schema: only their values' shape is compared. */
const MAPS = new Set(['Runtimes', 'IndexConfigs']);

/** shape maps a document to its field names and JSON types, recursively for objects. */
function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as object)
        .map(([k, x]) => [k, MAPS.has(k) ? [...new Set(Object.values(x as object).map((y) => JSON.stringify(shape(y))))] : shape(x)])
        .sort(),
    );
  }
  return typeof v;
}

test('GET /_ping: OK, never cached, with the version headers', async (t) => {
  const r = await shared.request('GET', '/_ping');
  t.is(r.status, 200);
  t.is(r.body, 'OK');
  t.is(r.headers['api-version'], '1.41');
  t.is(r.headers['docker-experimental'], 'false');
  t.is(r.headers['ostype'], 'linux');
  t.is(r.headers['cache-control'], 'no-cache, no-store, must-revalidate');
  t.is(r.headers['pragma'], 'no-cache');
  t.is(r.headers['content-type'], 'text/plain; charset=utf-8');
  t.is(r.headers['builder-version'], '1');
  t.regex(String(r.headers['server']), /^berth\/\d+\.\d+\.\d+ \(linux\)$/);
});

test('HEAD /_ping: the same headers and no body', async (t) => {
  const r = await shared.request('HEAD', '/_ping');
  t.is(r.status, 200);
  t.is(r.body, '');
  t.is(r.headers['content-length'], '0');
  t.is(r.headers['api-version'], '1.41');
});

test('/vX.Y prefixes from 1.24 to 1.41 are served; no prefix is the current version', async (t) => {
  for (const p of ['/v1.24/version', '/v1.30/version', '/v1.41/version', '/version']) {
    const r = await shared.request('GET', p);
    t.is(r.status, 200, p);
    t.is(r.json<{ ApiVersion: string }>().ApiVersion, '1.41');
  }
});

test('a version too new or too old is a 400 with dockerd\'s message', async (t) => {
  const neu = await shared.request('GET', '/v1.99/version');
  t.is(neu.status, 400);
  t.is(neu.headers['content-type'], 'application/json');
  t.deepEqual(neu.json(), { message: 'client version 1.99 is too new. Maximum supported API version is 1.41' });
  const old = await shared.request('GET', '/v1.23/version');
  t.is(old.status, 400);
  t.deepEqual(old.json(), { message: 'client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version' });
});

test('an unknown path or method is 404 {"message":"page not found"}, Content-Type exactly application/json', async (t) => {
  for (const [m, p] of [['GET', '/nonexistent'], ['POST', '/version'], ['GET', '/vabc/version'], ['DELETE', '/_ping']] as const) {
    const r = await shared.request(m, p);
    t.is(r.status, 404, `${m} ${p}`);
    t.is(r.headers['content-type'], 'application/json');
    t.is(r.body, '{"message":"page not found"}\n');
  }
});

test('endpoints berth does not serve yet say so with 501, not 404; swarm answers as dockerd outside swarm', async (t) => {
  const plugins = await shared.request('GET', '/v1.41/plugins');
  t.is(plugins.status, 501);
  t.regex(plugins.json<{ message: string }>().message, /^berth does not implement GET \/plugins yet/);
  // On a container that does not exist, "no such container" comes first.
  const exec = await shared.request('POST', '/v1.41/containers/x/exec', { body: '{"Cmd":["true"]}', headers: json });
  t.is(exec.status, 404);
  t.deepEqual(exec.json(), { message: 'No such container: x' });
  // Lookups of kinds berth has none of are "not found", so `docker inspect NAME` can go on to the next kind.
  const net = await shared.request('GET', '/v1.41/networks/nosuch');
  t.is(net.status, 404);
  t.deepEqual(net.json(), { message: 'network nosuch not found' });
  const swarm = await shared.request('GET', '/swarm');
  t.is(swarm.status, 503);
  t.deepEqual(swarm.json(), { message: 'This node is not part of a swarm' });
});

test.serial('/info has dockerd 20.10\'s fields with the same JSON types', async (t) => {
  const r = await shared.request('GET', '/v1.41/info');
  t.is(r.status, 200);
  const ours = r.json<Record<string, unknown>>();
  const theirs = fixture('info.json');
  const a = shape(ours) as Record<string, unknown>;
  const b = shape(theirs) as Record<string, unknown>;
  t.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), 'same fields');
  // Values differ by host; types must not (Plugins.Authorization is null in both).
  for (const key of Object.keys(b)) t.deepEqual(a[key], b[key], key);
  t.is(ours.DockerRootDir, shared.dataRoot);
  t.is(ours.OSType, 'linux');
  t.true((ours.NCPU as number) >= 1);
  t.true((ours.MemTotal as number) > 0);
  t.true((ours.Warnings as string[]).some((w) => w.includes('--debug-failpoints')), 'failpoints are announced');
});

test('/version has dockerd 20.10\'s fields with the same JSON types', async (t) => {
  const ours = (await shared.request('GET', '/version')).json<Record<string, unknown>>();
  const theirs = fixture('version.json');
  const strip = (d: Record<string, unknown>) => ({ ...(shape(d) as object), Components: 'array' });
  t.deepEqual(strip(ours), strip(theirs));
  const engine = (ours.Components as Array<{ Name: string; Details: Record<string, unknown> }>).find((c) => c.Name === 'Engine')!;
  t.deepEqual(Object.keys(engine.Details).sort(), Object.keys((theirs.Components as Array<{ Details: object }>)[0]!.Details).sort());
  t.is(ours.ApiVersion, '1.41');
  t.is(ours.MinAPIVersion, '1.24');
  t.regex(String(ours.BuildTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+00:00$/);
});

test('dockerode reads version, info and ping', async (t) => {
  const docker = shared.dockerode();
  t.is(String(await docker.ping()), 'OK');
  const v = await docker.version();
  t.is(v.ApiVersion, '1.41');
  const info = await docker.info();
  t.is(info.Swarm.LocalNodeState, 'inactive');
});

test.serial('/version is answered by the api actor from its cache, without an engine round trip', async (t) => {
  const first = await shared.request('GET', '/version');
  t.is(first.status, 200);
  const put = await shared.request('PUT', '/debug/failpoints/job/version', { body: '{"action":"error","arg":"system","message":"the engine was asked"}', headers: json });
  t.is(put.status, 200);
  try {
    const again = await shared.request('GET', '/version');
    t.is(again.status, 200);
    t.is(again.body, first.body);
  } finally {
    await shared.request('DELETE', '/debug/failpoints/job/version');
  }
});

test('OPTIONS and the CORS header (--api-cors-header)', async (t) => {
  const pre = await shared.request('OPTIONS', '/containers/json');
  t.is(pre.status, 200);
  t.is(pre.headers['access-control-allow-origin'], 'https://ui.example');
  t.is(pre.headers['access-control-allow-methods'], 'HEAD, GET, POST, DELETE, PUT, OPTIONS');
  t.is(pre.headers['access-control-allow-headers'], 'Origin, X-Requested-With, Content-Type, Accept, X-Registry-Auth');
  const get = await shared.request('GET', '/_ping');
  t.is(get.headers['access-control-allow-origin'], 'https://ui.example');
});

test.serial('bodies: malformed JSON, a wrong Content-Type, wrong types and oversized bodies are refused clearly', async (t) => {
  const path = '/debug/failpoints/job/info';
  const bad = await shared.request('PUT', path, { body: '{"action": "delay",', headers: json });
  t.is(bad.status, 400);
  t.deepEqual(bad.json(), { message: 'invalid JSON: unexpected end of JSON input at line 1, column 20' });
  const ct = await shared.request('PUT', path, { body: '{"action":"delay"}', headers: { 'Content-Type': 'text/plain' } });
  t.is(ct.status, 400);
  t.deepEqual(ct.json(), { message: "unsupported Content-Type header (text/plain): must be 'application/json'" });
  const type = await shared.request('PUT', path, { body: '{"action": 5}', headers: json });
  t.is(type.status, 400);
  t.deepEqual(type.json(), { message: 'invalid type for field action: expected string, got number' });
  const big = await shared.request('PUT', path, { body: Buffer.alloc(17 << 20, 0x20), headers: json });
  t.is(big.status, 413);
  t.deepEqual(big.json(), { message: `request body is too large: the limit is ${16 << 20} bytes` });
  t.is((await shared.request('GET', '/_ping')).status, 200, 'the daemon stays up');
  t.deepEqual((await shared.request('GET', '/debug/failpoints')).json(), [], 'nothing was set');
});

test('events: bad filters, timestamps and ranges are 400s with clear messages', async (t) => {
  const cases: Array<[string, string]> = [
    ['filters=%7Bbad', 'invalid filters: '],
    ['filters=' + encodeURIComponent('{"foo":{"x":true}}'), "invalid filter 'foo'"],
    ['filters=' + encodeURIComponent('{"type":{"bogus":true}}'), "invalid filter 'type=bogus': event types are container, image, volume, network, daemon, plugin, node, service, secret, config"],
    ['since=abc', 'invalid value for since: "abc": expected a Unix timestamp (seconds[.nanoseconds])'],
    ['since=200&until=100', '`since` time (200) cannot be after `until` time (100)'],
  ];
  for (const [q, message] of cases) {
    const r = await shared.request('GET', `/events?${q}`);
    t.is(r.status, 400, q);
    t.is(r.headers['content-type'], 'application/json');
    t.true(r.json<{ message: string }>().message.startsWith(message), r.body);
  }
});

test('events: a range in the past returns at once with 200 and the events in it', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const started = Date.now();
  const r = await shared.request('GET', `/events?since=${now - 60}&until=${now - 30}`);
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  t.is(r.body, '');
  t.true(Date.now() - started < 1_000);
});

/** openEvents opens GET /events and collects lines until closed. */
function openEvents(b: Berthd, query = ''): Promise<{ status: number; lines: string[]; ended: Promise<boolean>; close(): void }> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let buf = '';
    const req = request({ socketPath: b.socket, path: `/events${query}` }, (res) => {
      const ended = new Promise<boolean>((done) => {
        res.on('end', () => done(true));
        res.on('aborted', () => done(false));
        res.on('error', () => done(false));
      });
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      resolve({ status: res.statusCode ?? 0, lines, ended, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

test('events: a follower gets the 200 headers at once and then each event as one JSON line', async (t) => {
  const b = await startBerthd();
  try {
    const ev = await openEvents(b, '?filters=' + encodeURIComponent('{"type":{"daemon":true},"event":{"reload":true}}'));
    t.is(ev.status, 200, 'headers arrive before any event');
    t.true(await waitFor(async () => (await b.dockerode().info()).NEventsListener === 1));
    process.kill(b.pid, 'SIGHUP');
    t.true(await waitFor(() => ev.lines.length === 1));
    const e = JSON.parse(ev.lines[0]!) as Record<string, unknown> & { Actor: { ID: string; Attributes: Record<string, string> } };
    t.deepEqual(Object.keys(e), ['Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
    t.is(e.Type, 'daemon');
    t.is(e.Action, 'reload');
    t.is(e.scope, 'local');
    t.is(e.Actor.ID, (await b.dockerode().info()).ID);
    t.is(e.Actor.Attributes['data-root'], b.dataRoot);
    // timeNano is the exact 64-bit integer; time is the same instant in seconds.
    const nano = /"timeNano":(\d+)\}$/.exec(ev.lines[0]!)![1]!;
    t.is(nano.length, 19);
    t.is(BigInt(nano) / 1_000_000_000n, BigInt(e.time as number));
    // SIGTERM ends the stream cleanly (dockerd cuts it).
    process.kill(b.pid, 'SIGTERM');
    t.true(await ev.ended, 'the response ended with its final chunk');
    t.is((await b.exited).code, 0);
  } finally {
    await b.stop();
  }
});

test('events: since replays buffered events; a filter that does not match returns none', async (t) => {
  const b = await startBerthd();
  try {
    process.kill(b.pid, 'SIGHUP');
    await waitFor(() => b.output().includes('Reloaded configuration'));
    const now = Math.ceil(Date.now() / 1000) + 1;
    const all = await b.request('GET', `/events?since=${now - 60}&until=${now}`);
    t.is(all.body.trim().split('\n').length, 1);
    t.regex(all.body, /"Action":"reload"/);
    const none = await b.request('GET', `/events?since=${now - 60}&until=${now}&filters=${encodeURIComponent('{"type":["container"]}')}`);
    t.is(none.body, '');
    const label = await b.request('GET', `/events?since=${now - 60}&until=${now}&filters=${encodeURIComponent('{"label":{"debug=false":true}}')}`);
    t.is(label.body.trim().split('\n').length, 1, 'label filters match the actor attributes');
  } finally {
    await b.stop();
  }
});

test.serial('failpoints: a crashed actor answers the request in flight with 503 JSON and the next request succeeds', async (t) => {
  const put = await shared.request('PUT', '/debug/failpoints/job/graph_status', { body: '{"action":"crash","count":1}', headers: json });
  t.is(put.status, 200);
  const failed = await shared.request('GET', '/info');
  t.is(failed.status, 503);
  t.is(failed.headers['content-type'], 'application/json');
  t.deepEqual(failed.json(), { message: 'the graph actor crashed (uncaught error: failpoint: crash) and is being restarted' });
  const next = await shared.request('GET', '/info');
  t.is(next.status, 200);
  t.is(next.json<{ Driver: string }>().Driver.length > 0, true);
  t.regex(shared.output(), /actor graph restarted/);
});

test.serial('failpoints: an error failpoint answers with its kind\'s status; bad specs are 400', async (t) => {
  await shared.request('PUT', '/debug/failpoints/job/info', { body: '{"action":"error","arg":"notFound","message":"No such thing","count":1}', headers: json });
  const r = await shared.request('GET', '/info');
  t.is(r.status, 404);
  t.deepEqual(r.json(), { message: 'No such thing' });
  const bad = await shared.request('PUT', '/debug/failpoints/job/info', { body: '{"action":"crash"}', headers: json });
  t.is(bad.status, 400);
  t.regex(bad.json<{ message: string }>().message, /not available for info, which runs on the main thread/);
  const unknown = await shared.request('PUT', '/debug/failpoints/job/nosuch', { body: '{"action":"crash"}', headers: json });
  t.is(unknown.status, 400);
});

test('without --debug-failpoints there are no failpoint routes and no warning', async (t) => {
  const b = await startBerthd();
  try {
    const r = await b.request('GET', '/debug/failpoints');
    t.is(r.status, 404);
    const info = await b.dockerode().info();
    t.false((info.Warnings ?? []).some((w: string) => w.includes('failpoints')));
  } finally {
    await b.stop();
  }
});

test('the api actor crashing drops its own connections; it comes back on the same sockets', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const dir = tempDir();
  const b = await startBerthd({ dir, hosts: [`unix://${join(dir, 's.sock')}`, `tcp://127.0.0.1:${port}`], args: ['--debug-failpoints'] });
  try {
    const put = await b.request('PUT', '/debug/failpoints/job/api_status', { body: '{"action":"crash","count":1}', headers: json });
    t.is(put.status, 200);
    // The request runs in the actor that crashes: its connection goes with it.
    await t.throwsAsync(b.request('GET', '/debug/api'), { message: /socket hang up|ECONNRESET/ });
    t.true(await waitFor(async () => (await b.request('GET', '/_ping').catch(() => null))?.status === 200, 5_000));
    const tcp = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/_ping' }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject).end();
    });
    t.is(tcp, 200, 'the tcp listener is back too');
    const st = lstatSync(b.socket);
    t.is(st.mode & 0o777, 0o660, 'the replaced socket has the same permissions');
    const actors = (await b.request('GET', '/debug/actors')).json<Array<{ actor: string; state: string; restarts: number }>>();
    t.like(actors.find((a) => a.actor === 'api'), { state: 'ready', restarts: 1 });
    t.deepEqual((await b.request('GET', '/debug/api')).json(), { listeners: 2, requestsInFlight: 1, accepting: true });
  } finally {
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a client that stops reading events and leaves frees its request; shutdown is not held up by it', async (t) => {
  const b = await startBerthd({ args: ['--debug-failpoints'] });
  try {
    // Fill the ring so a replay is larger than the stream's window and the socket's buffers.
    for (let i = 0; i < 40; i++) process.kill(b.pid, 'SIGHUP');
    await waitFor(() => (b.output().match(/Reloaded configuration/g) ?? []).length >= 20, 10_000);
    const sockets = [];
    for (let i = 0; i < 3; i++) {
      const s = createConnection(b.socket);
      await new Promise((r) => s.once('connect', r));
      s.write('GET /events?since=0 HTTP/1.1\r\nHost: x\r\n\r\n');
      s.pause(); // never read
      sockets.push(s);
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const s of sockets) s.destroy();
    t.true(
      await waitFor(async () => (await b.request('GET', '/debug/api')).json<{ requestsInFlight: number }>().requestsInFlight === 1, 5_000),
      'only the asking request is in flight',
    );
    const stuck = createConnection(b.socket);
    await new Promise((r) => stuck.once('connect', r));
    stuck.write('GET /events?since=0 HTTP/1.1\r\nHost: x\r\n\r\n');
    stuck.pause();
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    process.kill(b.pid, 'SIGTERM');
    t.is((await b.exited).code, 0);
    t.true(Date.now() - started < 4_000, `shutdown took ${Date.now() - started} ms`);
    stuck.destroy();
  } finally {
    await b.stop();
  }
});

test('events: an `until` weeks ahead keeps the stream open (no timer overflow)', async (t) => {
  const until = Math.floor(Date.now() / 1000) + 40 * 24 * 3600;
  const ev = await openEvents(shared, `?until=${until}`);
  t.is(ev.status, 200);
  const ended = await Promise.race([ev.ended, new Promise((r) => setTimeout(() => r('open'), 700))]);
  t.is(ended, 'open');
  ev.close();
  t.false(shared.output().includes('TimeoutOverflowWarning'));
});

test('a chunked body over the limit gets its 413, not a reset; a bad URL escape is a 400', async (t) => {
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ socketPath: shared.socket, method: 'PUT', path: '/debug/failpoints/job/info', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(1 << 20, 0x20);
    let sent = 0;
    const more = () => {
      while (sent < 20) {
        sent++;
        if (!req.write(chunk)) return req.once('drain', more);
      }
      req.end();
    };
    more();
  });
  t.is(status, 413);
  const bad = await shared.request('GET', '/debug/failpoints/job%zz');
  t.is(bad.status, 404, 'an unrouted path stays page not found');
  const bad2 = await shared.request('DELETE', '/debug/failpoints/job/%E0%A4%A');
  t.is(bad2.status, 400);
  t.regex(bad2.json<{ message: string }>().message, /^invalid URL: bad escape/);
});

test('a NOTIFY_SOCKET nobody listens on is a warning, not a failed start', async (t) => {
  const b = await startBerthd({ env: { NOTIFY_SOCKET: '/tmp/berth-no-such-notify.sock' } });
  try {
    t.is((await b.request('GET', '/_ping')).status, 200);
    // The gate opens just before the notification is tried: wait for its line.
    t.true(await waitFor(() => /level=warning msg="could not notify the service manager: sendto: /.test(b.output())), b.output());
  } finally {
    await b.stop();
  }
});

test('too many actor restarts: the daemon shuts down cleanly and exits non-zero', async (t) => {
  const b = await startBerthd({ args: ['--debug-failpoints'] });
  try {
    await b.request('PUT', '/debug/failpoints/job/exec_status', { body: '{"action":"crash"}', headers: json });
    for (let i = 0; i < 10; i++) {
      const r = await b.request('GET', '/info', { timeoutMs: 10_000 }).catch(() => null);
      if (!r) break; // the daemon is going away
      t.true(r.status === 503, `status ${r.status}`);
    }
    const { code } = await b.exited;
    t.is(code, 1);
    t.regex(b.output(), /giving up: the exec actor restarted more than 5 times in 60 s/);
    t.regex(b.output(), /Daemon shutdown complete/);
  } finally {
    await b.stop();
  }
});
