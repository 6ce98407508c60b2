/**
 * The container endpoints at the HTTP level, beside dockerd 20.10's answers
 * (test/fixtures/dockerd-20.10/containers/http): the hijacked attach (101 and its headers,
 * stdin, detach keys, errors as text), wait's early headers, create's checks, list filters,
 * and dockerode driving a whole lifecycle.
 */
import test from 'ava';
import { createConnection, type Socket } from 'node:net';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, stopWithContainers } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;
const json = { 'Content-Type': 'application/json' };

test.before(async () => {
  work = tempDir('bta-');
  b = await startBerthd();
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) await stopWithContainers(b);
  if (work) removeDir(work);
});

async function create(body: Record<string, unknown>, name = ''): Promise<string> {
  const r = await b.request('POST', `/containers/create${name ? `?name=${name}` : ''}`, { body: JSON.stringify({ Image: 'busybox', ...body }), headers: json });
  if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body}`);
  return r.json<{ Id: string }>().Id;
}

/** A raw connection: write a request, collect what comes back, see when it ends. */
function raw(request: string): { socket: Socket; data: () => Buffer; ended: Promise<void>; waitFor: (text: string, ms?: number) => Promise<boolean> } {
  const socket = createConnection(b.socket);
  let buf = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  socket.write(request);
  return { socket, data: () => buf, ended, waitFor: (text, ms = 10_000) => waitFor(() => buf.includes(text), ms) };
}

const UPGRADED = 'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n';
const attachRequest = (id: string, query: string) =>
  `POST /v1.41/containers/${id}/attach?${query} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: Upgrade\r\nContent-Type: text/plain\r\nUpgrade: tcp\r\n\r\n`;

test.serial('create checks its input with dockerd\'s statuses and messages', async (t) => {
  const cases: Array<[string | undefined, number, string]> = [
    [undefined, 400, 'Config cannot be empty in order to create a container'],
    ['{}', 400, 'Config cannot be empty in order to create a container'],
    ['{"Cmd":[]}', 400, 'No command specified'],
    ['{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}', 400, "invalid restart policy 'sometimes'"],
    ['{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}', 400, "can't create 'AutoRemove' container with restart policy"],
    ['{"Image":"busybox","HostConfig":{"Memory":1024}}', 400, 'Minimum memory limit allowed is 6MB'],
    ['{"Image":"busybox","WorkingDir":"relative"}', 400, "the working directory 'relative' is invalid, it needs to be an absolute path"],
    ['{"Image":"busybox","HostConfig":{"Binds":["/tmp:rel"]}}', 400, 'invalid volume specification: \'/tmp:rel\': invalid mount config for type "bind": invalid mount path: \'rel\' mount path must be absolute'],
    ['{"Image":"busybox","HostConfig":{"VolumesFrom":["x"]}}', 400, 'No such container: x'],
    ['{"Image":"busybox","HostConfig":{"DeviceRequests":[{"Count":-1,"Capabilities":[["gpu"]]}]}}', 501, 'berth does not implement HostConfig.DeviceRequests yet (planned: a later issue)'],
    ['{"Image":"nosuch"}', 404, 'No such image: nosuch:latest'],
    ['[1]', 400, 'the container configuration must be a JSON object'],
  ];
  for (const [body, status, message] of cases) {
    const r = await b.request('POST', '/v1.41/containers/create', { body, headers: json });
    t.is(r.status, status, body);
    t.deepEqual(r.json(), { message }, body);
  }
  // As dockerd: a missing network is found missing at start, not at create.
  const netless = await b.request('POST', '/containers/create', { body: '{"Image":"busybox","HostConfig":{"NetworkMode":"mynet"}}', headers: json });
  t.is(netless.status, 201);
  const id = netless.json<{ Id: string }>().Id;
  const start = await b.request('POST', `/containers/${id}/start`);
  t.deepEqual([start.status, start.json()], [404, { message: 'network mynet not found' }]);
  await b.request('DELETE', `/containers/${id}`);
  const bad = await b.request('POST', '/containers/create?name=a%20b', { body: '{"Image":"busybox"}', headers: json });
  t.is(bad.status, 400);
  t.deepEqual(bad.json(), { message: 'Invalid container name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed' });
  t.is((await b.docker(['ps', '-aq'])).stdout, '', 'a refused create leaves nothing');
});

test.serial('start: 204, then 304 while running; a body is refused; missing containers are 404', async (t) => {
  const id = await create({ Cmd: ['sleep', '300'] });
  const body = await b.request('POST', `/containers/${id}/start`, { body: '{"Binds":["/x:/y"]}', headers: json });
  t.is(body.status, 400);
  t.deepEqual(body.json(), { message: 'starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24' });
  t.is((await b.request('POST', `/containers/${id}/start`)).status, 204);
  const again = await b.request('POST', `/containers/${id}/start`);
  t.is(again.status, 304);
  t.is(again.body, '');
  for (const [m, p] of [['GET', '/containers/nosuch/json'], ['POST', '/containers/nosuch/start'], ['POST', '/containers/nosuch/stop'], ['DELETE', '/containers/nosuch'], ['POST', '/containers/nosuch/wait'], ['GET', '/containers/nosuch/logs?stdout=1']] as const) {
    const r = await b.request(m, p);
    t.is(r.status, 404, `${m} ${p}`);
    t.deepEqual(r.json(), { message: 'No such container: nosuch' }, `${m} ${p}`);
  }
  const stop = await b.request('POST', `/containers/${id}/stop?t=0`);
  t.is(stop.status, 204);
  t.is((await b.request('POST', `/containers/${id}/stop`)).status, 304);
  t.is((await b.request('DELETE', `/containers/${id}`)).status, 204);
});

test.serial('wait sends its headers at once and its body when the container exits', async (t) => {
  const id = await create({ Cmd: ['sh', '-c', 'sleep 1; exit 6'] });
  await b.request('POST', `/containers/${id}/start`);
  const c = raw(`POST /v1.41/containers/${id}/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
  t.true(await c.waitFor('Transfer-Encoding: chunked\r\n\r\n', 500), 'the 200 headers come before the exit');
  t.notRegex(c.data().toString(), /StatusCode/);
  t.true(await c.waitFor('{"Error":null,"StatusCode":6}\n', 10_000));
  t.regex(c.data().toString(), /^HTTP\/1\.1 200 OK\r\n/);
  t.regex(c.data().toString(), /Content-Type: application\/json\r\n/);
  c.socket.destroy();
  const now = await b.request('POST', `/containers/${id}/wait?condition=bogus`);
  t.is(now.body, '{"Error":null,"StatusCode":6}\n', 'an unknown condition is not-running');
  await b.request('DELETE', `/containers/${id}`);
});

test.serial('attach: 101 UPGRADED, stdin in, frames out, half-close ends the container\'s stdin', async (t) => {
  const id = await create({ Cmd: ['sh', '-c', 'cat; echo done >&2'], OpenStdin: true, StdinOnce: true, AttachStdin: true });
  const a = raw(attachRequest(id, 'stream=1&stdin=1&stdout=1&stderr=1'));
  t.true(await a.waitFor(UPGRADED));
  t.true(a.data().toString().startsWith(UPGRADED), 'exactly dockerd\'s status line and headers');
  t.is((await b.request('POST', `/containers/${id}/start`)).status, 204);
  a.socket.write('hello\n');
  t.true(await a.waitFor('hello\n'));
  a.socket.end(); // the client's stdin ends: cat ends, the container exits, the stream ends
  await a.ended;
  const frames = a.data().subarray(UPGRADED.length);
  t.deepEqual([...frames.subarray(0, 8)], [1, 0, 0, 0, 0, 0, 0, 6]);
  t.is(frames.subarray(8, 14).toString(), 'hello\n');
  t.deepEqual([...frames.subarray(14, 22)], [2, 0, 0, 0, 0, 0, 0, 5]);
  t.is(frames.subarray(22).toString(), 'done\n');
  t.true(await waitFor(async () => (await b.request('GET', `/containers/${id}/json`)).json<{ State: { Status: string } }>().State.Status === 'exited'));
  await b.request('DELETE', `/containers/${id}`);
});

test.serial('attach: detach keys end the stream and leave the container running', async (t) => {
  const id = await create({ Cmd: ['sh', '-c', 'cat'], OpenStdin: true, Tty: true });
  await b.request('POST', `/containers/${id}/start`);
  const a = raw(attachRequest(id, 'stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,x'));
  t.true(await a.waitFor(UPGRADED));
  a.socket.write('abc\n');
  t.true(await a.waitFor('abc\r\n'), 'a tty stream is raw: no frame headers');
  a.socket.write(Buffer.from([24, 120]));
  await a.ended;
  const st = (await b.request('GET', `/containers/${id}/json`)).json<{ State: { Running: boolean } }>().State;
  t.true(st.Running);
  // The CLI sends whole seconds: an until in the next second takes in this one's events.
  const until = String(Math.floor(Date.now() / 1000) + 1);
  const ev = await b.docker(['events', '--since', '30s', '--until', until, '--filter', `container=${id}`, '--format', '{{.Action}}']);
  t.deepEqual(ev.stdout.trim().split('\n'), ['create', 'start', 'attach', 'detach']);
  await b.request('DELETE', `/containers/${id}?force=1`);
});

test.serial('attach to a missing container answers as dockerd: the status, then the message as text', async (t) => {
  const a = raw(attachRequest('nosuch', 'stream=1&stdout=1'));
  await a.ended;
  t.is(a.data().toString(), 'HTTP/1.1 404 Not Found\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nNo such container: nosuch\r\n');
});

test.serial('attach?logs=1 without Upgrade replays the log as a plain 200 stream', async (t) => {
  const id = await create({ Cmd: ['sh', '-c', 'echo one; echo two >&2'] });
  await b.request('POST', `/containers/${id}/start`);
  await b.request('POST', `/containers/${id}/wait`);
  const a = raw(`POST /v1.41/containers/${id}/attach?logs=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
  await a.ended;
  const head = 'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n';
  const frame = (s: number, text: string) => Buffer.concat([Buffer.from([s, 0, 0, 0, 0, 0, 0, text.length]), Buffer.from(text)]);
  const got = a.data();
  t.is(got.subarray(0, head.length).toString(), head);
  const body = got.subarray(head.length);
  // The two streams are separate pipes: their relative order in the log may vary.
  t.true(body.equals(Buffer.concat([frame(1, 'one\n'), frame(2, 'two\n')])) || body.equals(Buffer.concat([frame(2, 'two\n'), frame(1, 'one\n')])), JSON.stringify(body.toString()));
  await b.request('DELETE', `/containers/${id}`);
});

test.serial('logs: no Content-Type, frames, both streams required, tail=all by default', async (t) => {
  const id = await create({ Cmd: ['sh', '-c', 'echo a; echo b; echo c'] });
  await b.request('POST', `/containers/${id}/start`);
  await b.request('POST', `/containers/${id}/wait`);
  const none = await b.request('GET', `/containers/${id}/logs`);
  t.is(none.status, 400);
  t.deepEqual(none.json(), { message: 'Bad parameters: you must choose at least one stream' });
  const r = await b.request('GET', `/containers/${id}/logs?stdout=1&tail=2`);
  t.is(r.status, 200);
  t.is(r.headers['content-type'], undefined);
  t.is(r.body, '\x01\0\0\0\0\0\0\x02b\n\x01\0\0\0\0\0\0\x02c\n');
  const bad = await b.request('GET', `/containers/${id}/logs?stdout=1&since=abc`);
  t.is(bad.status, 500);
  t.deepEqual(bad.json(), { message: 'strconv.ParseInt: parsing "abc": invalid syntax' });
  await b.request('DELETE', `/containers/${id}`);
});

test.serial('GET /containers/json: filters and their errors as dockerd 20.10', async (t) => {
  const a = await create({ Cmd: ['sh', '-c', 'exit 3'], Labels: { team: 'x' } }, 'fa');
  const c = await create({ Cmd: ['true'] }, 'fc');
  await b.request('POST', `/containers/${a}/start`);
  await b.request('POST', `/containers/${a}/wait`);
  const list = async (q: string) => (await b.request('GET', `/containers/json?${q}`)).json<Array<{ Id: string }>>().map((x) => x.Id);
  t.deepEqual(await list('all=1'), [c, a], 'newest first');
  t.deepEqual(await list(''), [], 'only running ones by default');
  t.deepEqual(await list(`filters=${encodeURIComponent('{"exited":["3"]}')}`), [a]);
  t.deepEqual(await list(`filters=${encodeURIComponent('{"status":["created"]}')}`), [c]);
  t.deepEqual(await list(`all=1&filters=${encodeURIComponent('{"label":["team=x"]}')}`), [a]);
  t.deepEqual(await list(`all=1&filters=${encodeURIComponent('{"name":["^/f"]}')}`), [c, a]);
  t.deepEqual(await list(`all=1&filters=${encodeURIComponent(`{"before":["fc"]}`)}`), [a]);
  t.deepEqual(await list('limit=1'), [c]);
  const unknown = await b.request('GET', `/containers/json?filters=${encodeURIComponent('{"foo":["x"]}')}`);
  t.is(unknown.status, 400);
  t.deepEqual(unknown.json(), { message: "Invalid filter 'foo'" });
  const status = await b.request('GET', `/containers/json?filters=${encodeURIComponent('{"status":["bogus"]}')}`);
  t.deepEqual([status.status, status.json()], [400, { message: "Invalid filter 'status=bogus'" }]);
  const entry = (await b.request('GET', '/containers/json?all=1')).json<Array<Record<string, unknown>>>()[1]!;
  t.deepEqual(Object.keys(entry), ['Id', 'Names', 'Image', 'ImageID', 'Command', 'Created', 'Ports', 'Labels', 'State', 'Status', 'HostConfig', 'NetworkSettings', 'Mounts']);
  t.is(entry.Command, "sh -c 'exit 3'");
  t.regex(entry.Status as string, /^Exited \(3\) (Less than a second|\d+ seconds?) ago$/);
  await b.request('DELETE', `/containers/${a}`);
  await b.request('DELETE', `/containers/${c}`);
});

test.serial('dockerode drives a whole lifecycle', async (t) => {
  const docker = b.dockerode();
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo from dockerode; exit 2'], name: 'dode' });
  await c.start();
  const w = await c.wait();
  t.is(w.StatusCode, 2);
  const logs = await c.logs({ stdout: true, stderr: true });
  t.is(logs.subarray(8).toString(), 'from dockerode\n');
  const info = await c.inspect();
  t.is(info.Name, '/dode');
  t.is(info.State.ExitCode, 2);
  await c.remove();
  await t.throwsAsync(c.inspect(), { message: /No such container/ });
});
