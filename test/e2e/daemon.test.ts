/**
 * berthd as a user meets it: started with dockerd's flags, driven by the real docker CLI, stopped
 * with signals. Start-up, shutdown, the pidfile, sockets, sd_notify, side-by-side daemons.
 */
import test from 'ava';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runBerthd, startBerthd, tempDir, waitFor } from '../helpers/berthd.js';

test('docker version shows the server with API 1.41; docker info shows sane values', async (t) => {
  const b = await startBerthd();
  try {
    const v = await b.docker(['version']);
    t.is(v.code, 0, v.stderr);
    t.regex(v.stdout, /Server: berth\n Engine:\n  Version:\s+\d+\.\d+\.\d+\n  API version:\s+1\.41 \(minimum version 1\.24\)/);
    t.regex(v.stdout, /API version:\s+1\.41 \(downgraded from 1\.\d+\)/, 'the CLI negotiated down to 1.41');

    const info = await b.docker(['info']);
    t.is(info.code, 0, info.stderr);
    t.regex(info.stdout, /Server Version: \d+\.\d+\.\d+/);
    t.regex(info.stdout, /Storage Driver: (overlay2|vfs)/);
    t.true(info.stdout.includes(`Docker Root Dir: ${b.dataRoot}`));
    t.regex(info.stdout, /Cgroup Version: [12]/);
    t.regex(info.stdout, /CPUs: [1-9]\d*/);
    t.regex(info.stdout, /Total Memory: [\d.]+[KMG]iB/);
    t.regex(info.stdout, /Swarm: inactive/);
    const id = /ID: (\S+)/.exec(info.stdout)?.[1];
    t.truthy(id);

    const json = await b.docker(['info', '--format', '{{json .}}']);
    const doc = JSON.parse(json.stdout) as Record<string, unknown>;
    t.is(doc.ID, id);
    t.is(doc.OSType, 'linux');
    t.is(doc.Containers, 0);
  } finally {
    await b.stop();
  }
});

test('docker system events --since 1m --until 0s returns at once', async (t) => {
  const b = await startBerthd();
  try {
    const started = Date.now();
    const r = await b.docker(['system', 'events', '--since', '1m', '--until', '0s'], { timeoutMs: 10_000 });
    t.is(r.code, 0, r.stderr);
    t.true(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
  } finally {
    await b.stop();
  }
});

test('the docker CLI shows berth\'s errors: bad filters, and API versions out of range', async (t) => {
  const b = await startBerthd();
  try {
    const filter = await b.docker(['events', '--filter', 'foo=bar', '--since', '1m', '--until', '0s']);
    t.is(filter.code, 1);
    t.is(filter.stderr.trim(), "Error response from daemon: invalid filter 'foo'");
    const neu = await b.docker(['version', '--format', '{{.Server.APIVersion}}'], { env: { DOCKER_API_VERSION: '1.99' } });
    t.not(neu.code, 0);
    t.regex(neu.stderr, /Error response from daemon: client version 1\.99 is too new\. Maximum supported API version is 1\.41/);
    const old = await b.docker(['info'], { env: { DOCKER_API_VERSION: '1.23' } });
    t.not(old.code, 0);
    t.regex(old.stderr, /client version 1\.23 is too old\. Minimum supported API version is 1\.24, please upgrade your client to a newer version/);
    const pinned = await b.docker(['version', '--format', '{{.Server.APIVersion}}'], { env: { DOCKER_API_VERSION: '1.24' } });
    t.is(pinned.code, 0, pinned.stderr);
    t.is(pinned.stdout.trim(), '1.41');
    const run = await b.docker(['exec', 'nosuch', 'true']);
    t.is(run.code, 1);
    t.regex(run.stderr, /Error response from daemon: No such container: nosuch/);
  } finally {
    await b.stop();
  }
});

test('SIGHUP reloads and publishes a daemon reload event that docker events shows', async (t) => {
  const b = await startBerthd();
  try {
    process.kill(b.pid, 'SIGHUP');
    t.true(await waitFor(() => b.output().includes('Reloaded configuration')));
    await new Promise((r) => setTimeout(r, 1_100)); // the CLI's --until has whole seconds
    const r = await b.docker(['events', '--since', '1m', '--until', '0s', '--filter', 'type=daemon'], { timeoutMs: 10_000 });
    t.is(r.code, 0, r.stderr);
    const info = JSON.parse((await b.docker(['info', '--format', '{{json .}}'])).stdout) as { ID: string };
    t.regex(r.stdout, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z daemon reload ${info.ID} \\(.*data-root=${b.dataRoot}.*\\)\\n$`));
    const none = await b.docker(['events', '--since', '1m', '--until', '0s', '--filter', 'type=container']);
    t.is(none.stdout, '', 'filtered out');
  } finally {
    await b.stop();
  }
});

test('SIGHUP applies a changed debug setting from daemon.json to the main thread and the actors', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'daemon.json');
  writeFileSync(file, '{"debug": false}');
  const b = await startBerthd({ dir, args: ['--config-file', file] });
  try {
    await b.request('GET', '/info');
    t.false(b.output().includes('level=debug'));
    writeFileSync(file, '{"debug": true, "labels": ["team=ci"]}');
    process.kill(b.pid, 'SIGHUP');
    t.true(await waitFor(() => b.output().includes('Reloaded configuration')));
    const info = await b.dockerode().info();
    t.true(info.Debug);
    t.deepEqual(info.Labels, ['team=ci']);
    t.true(await waitFor(() => /level=debug msg="Calling GET \/info" actor=api/.test(b.output())), 'the api actor logs at debug now');
    t.regex(b.output(), /level=debug msg="\+job info\(\{\}\)"/, 'and so does the engine');
  } finally {
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM: exit 0 within 15 s, pidfile and socket gone, data kept', async (t) => {
  const b = await startBerthd();
  try {
    t.true(existsSync(b.pidfile));
    t.is(readFileSync(b.pidfile, 'utf8'), String(b.pid));
    const id = readFileSync(join(b.dataRoot, 'engine-id'), 'utf8');
    const started = Date.now();
    process.kill(b.pid, 'SIGTERM');
    const { code } = await b.exited;
    t.is(code, 0, b.output());
    t.true(Date.now() - started < 15_000);
    t.false(existsSync(b.pidfile), `pidfile removed\n${b.output()}`);
    t.false(existsSync(b.socket), `socket removed\n${b.output()}`);
    t.regex(b.output(), /level=info msg="Daemon shutdown complete"/);
    t.is(readFileSync(join(b.dataRoot, 'engine-id'), 'utf8'), id);
  } finally {
    await b.stop();
  }
});

test('the daemon ID is stable across restarts', async (t) => {
  const dir = tempDir();
  try {
    const a = await startBerthd({ dir });
    const id1 = (await a.dockerode().info()).ID;
    await a.stop();
    const b = await startBerthd({ dir });
    const id2 = (await b.dockerode().info()).ID;
    await b.stop();
    t.is(id1, id2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGINT shuts down like SIGTERM', async (t) => {
  const b = await startBerthd();
  try {
    process.kill(b.pid, 'SIGINT');
    t.is((await b.exited).code, 0);
    t.false(existsSync(b.socket));
  } finally {
    await b.stop();
  }
});

test('a third SIGTERM exits at once without cleanup (128+15)', async (t) => {
  // A job that runs for a while keeps the shutdown waiting (up to 5 s): the user insists.
  const b = await startBerthd({ args: ['--debug-failpoints'] });
  try {
    const put = await b.request('PUT', '/debug/failpoints/job/info', { body: '{"action":"delay","arg":8000}', headers: { 'Content-Type': 'application/json' } });
    t.is(put.status, 200, put.body);
    const slow = b.request('GET', '/info', { timeoutMs: 15_000 }).catch(() => null);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    process.kill(b.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    process.kill(b.pid, 'SIGTERM');
    // Pending signals of one kind coalesce in the kernel: give each its own moment.
    await new Promise((r) => setTimeout(r, 200));
    process.kill(b.pid, 'SIGTERM');
    const { code } = await b.exited;
    t.is(code, 143, b.output());
    t.true(Date.now() - started < 3_000);
    t.regex(b.output(), /Forcing berthd shutdown without cleanup; 3 interrupts\/terms received/);
    await slow;
  } finally {
    await b.stop();
  }
});

test('SIGQUIT exits at once with a dump of actors and jobs in flight', async (t) => {
  const b = await startBerthd();
  try {
    process.kill(b.pid, 'SIGQUIT');
    const { code } = await b.exited;
    t.is(code, 131);
    const out = b.output();
    const m = /=== berthd SIGQUIT dump ===\n([\s\S]*?)\n=== end of dump ===/.exec(out);
    t.truthy(m, out);
    const dump = JSON.parse(m![1]!) as { actors: Array<{ actor: string; state: string; threadId: number }>; jobs: unknown[] };
    t.deepEqual(dump.actors.map((a) => a.actor), ['network', 'graph', 'exec', 'api']);
    t.true(dump.actors.every((a) => a.state === 'ready' && a.threadId > 0));
    t.true(Array.isArray(dump.jobs));
  } finally {
    await b.stop();
  }
});

test('with DEBUG set, SIGQUIT is not trapped (the default action applies)', async (t) => {
  const b = await startBerthd({ env: { DEBUG: '1' } });
  try {
    process.kill(b.pid, 'SIGQUIT');
    const r = await b.exited;
    t.is(r.signal, 'SIGQUIT');
    t.false(b.output().includes('SIGQUIT dump'));
  } finally {
    await b.stop();
  }
});

test('the pidfile: a live berthd holding it refuses a second start; a stale one is replaced', async (t) => {
  const a = await startBerthd();
  const dir = tempDir();
  try {
    const r = await runBerthd(['--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '-p', a.pidfile, '-H', `unix://${join(dir, 's.sock')}`]);
    t.is(r.code, 1);
    t.true(r.stderr.includes(`failed to start daemon: pid file found, ensure berthd is not running or delete ${a.pidfile}`), r.stderr);
    t.false(existsSync(join(dir, 'root')), 'nothing half-created');
    t.false(existsSync(join(dir, 'exec')));
    t.is((await a.request('GET', '/_ping')).status, 200, 'the first daemon is untouched');

    writeFileSync(join(dir, 'stale.pid'), '4194303'); // no such pid
    const b = await startBerthd({ args: ['-p', join(dir, 'stale.pid')] });
    t.is(readFileSync(join(dir, 'stale.pid'), 'utf8'), String(b.pid));
    await b.stop();
  } finally {
    await a.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a socket path where a daemon answers is refused, and nothing is left behind', async (t) => {
  const a = await startBerthd();
  const dir = tempDir();
  try {
    const r = await runBerthd(['--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '-p', join(dir, 'pid'), '-H', `unix://${a.socket}`]);
    t.is(r.code, 1);
    t.true(r.stderr.includes(`cannot listen on ${a.socket}: another daemon is already listening there`), r.stderr);
    t.deepEqual(readdirSync(dir), [], 'no data root, exec root or pidfile left');
    t.is((await a.request('GET', '/_ping')).status, 200);
  } finally {
    await a.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stale socket left by a killed daemon is replaced', async (t) => {
  const dir = tempDir();
  try {
    const a = await startBerthd({ dir });
    const killed = await a.stop('SIGKILL');
    t.is(killed.signal, 'SIGKILL');
    t.true(existsSync(a.socket), 'kill -9 leaves the socket file');
    const b = await startBerthd({ dir });
    t.is((await b.request('GET', '/_ping')).status, 200);
    await b.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unwritable data root: a clear message, exit 1, nothing half-created', async (t) => {
  const dir = tempDir();
  try {
    const r = await runBerthd(['--data-root', '/proc/berth-test/root', '--exec-root', join(dir, 'exec'), '-p', join(dir, 'pid'), '-H', `unix://${join(dir, 's.sock')}`]);
    t.is(r.code, 1);
    t.regex(r.stderr, /failed to start daemon: cannot create the data root \/proc\/berth-test\/root: /);
    t.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two berthd with different sockets, pidfiles and roots run side by side', async (t) => {
  const [a, b] = await Promise.all([startBerthd(), startBerthd()]);
  try {
    const [ia, ib] = await Promise.all([a.dockerode().info(), b.dockerode().info()]);
    t.not(ia.ID, ib.ID);
    t.is(ia.DockerRootDir, a.dataRoot);
    t.is(ib.DockerRootDir, b.dataRoot);
    const [va, vb] = await Promise.all([a.docker(['version']), b.docker(['version'])]);
    t.is(va.code, 0);
    t.is(vb.code, 0);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('the data root gets dockerd\'s 0710; the exec root 0711 (it holds the socket, so the group must traverse it)', async (t) => {
  const b = await startBerthd();
  try {
    t.is(lstatSync(b.dataRoot).mode & 0o7777, 0o710);
    t.is(lstatSync(b.execRoot).mode & 0o7777, 0o711);
    t.is(lstatSync(b.pidfile).mode & 0o777, 0o644);
  } finally {
    await b.stop();
  }
});

function groupGid(name: string): number | null {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name) return Number(gid);
  }
  return null;
}

test('the unix socket is 0660 with the default group: docker if it exists, else root', async (t) => {
  const b = await startBerthd();
  try {
    const st = lstatSync(b.socket);
    t.true(st.isSocket());
    t.is(st.mode & 0o777, 0o660);
    t.is(st.uid, 0);
    t.is(st.gid, groupGid('docker') ?? 0);
  } finally {
    await b.stop();
  }
});

test('-G sets the socket group, and the socket is never seen with looser permissions', async (t) => {
  const group = `bt${process.pid}${Date.now() % 100000}`;
  execFileSync('groupadd', [group]);
  const dir = tempDir();
  try {
    const socket = join(dir, 's.sock');
    // Watch the path as closely as we can while the daemon creates it.
    const seen = new Set<number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        try {
          seen.add(lstatSync(socket).mode & 0o7777);
        } catch {
          // not there yet
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const b = await startBerthd({ dir, args: ['-G', group] });
    watching = false;
    await watcher;
    const st = lstatSync(socket);
    t.is(st.gid, groupGid(group)!);
    t.is(st.mode & 0o777, 0o660);
    t.deepEqual([...seen], [0o660], 'only ever 0660');
    await b.stop();
  } finally {
    execFileSync('groupdel', [group]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('acceptconnections sends READY=1 to NOTIFY_SOCKET once the API answers', async (t) => {
  const dir = tempDir();
  const notify = join(dir, 'notify.sock');
  const socket = join(dir, 's.sock');
  // A real datagram listener; on READY=1 it checks at once that the API socket accepts connections.
  const listener = spawn('python3', ['-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
s.settimeout(30)
msg = s.recv(4096).decode()
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sys.argv[2])
c.sendall(b"GET /_ping HTTP/1.0\\r\\n\\r\\n")
reply = c.recv(4096).decode().split("\\r\\n")[0]
print(msg + "|" + reply, flush=True)
`, notify, socket]);
  let out = '';
  listener.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const listenerDone = new Promise((r) => listener.on('exit', r));
  try {
    t.true(await waitFor(() => out.includes('listening')));
    const b = await startBerthd({ dir, env: { NOTIFY_SOCKET: notify } });
    await listenerDone;
    t.is(out.trim().split('\n').pop(), 'READY=1|HTTP/1.1 200 OK');
    await b.stop();
  } finally {
    listener.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('requests that arrive before acceptconnections wait, then succeed', async (t) => {
  // The graph driver takes 1.5 s to initialise; the API socket is up before that.
  const b = await startBerthd({
    args: ['--debug-failpoints'],
    env: { BERTH_FAILPOINTS: JSON.stringify([{ name: 'job/init_graphdriver', action: 'delay', arg: 1500, count: 1 }]) },
    wait: false,
  });
  try {
    t.true(await waitFor(() => existsSync(b.socket), 10_000));
    t.false(b.output().includes('Daemon has completed initialization'));
    const started = Date.now();
    const [ping, version] = await Promise.all([b.request('GET', '/_ping'), b.request('GET', '/version')]);
    t.is(ping.status, 200);
    t.is(version.status, 200);
    t.true(Date.now() - started > 500, 'they waited for the gate');
    // The line is logged as the gate opens; it reaches this process's pipe a moment later.
    t.true(await waitFor(() => b.output().includes('Daemon has completed initialization'), 2_000));
  } finally {
    await b.stop();
  }
});

test('BERTH_FAILPOINTS without --debug-failpoints refuses to start', async (t) => {
  const dir = tempDir();
  try {
    const r = await runBerthd(['--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '-p', join(dir, 'pid'), '-H', `unix://${join(dir, 's.sock')}`], {
      env: { BERTH_FAILPOINTS: '[]' },
    });
    t.is(r.code, 1);
    t.regex(r.stderr, /BERTH_FAILPOINTS is set, but berthd was not started with --debug-failpoints/);
    t.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the start-up log line names version, commit, exec driver and graph driver', async (t) => {
  const b = await startBerthd();
  await b.stop(); // the lines to check are all written by then
  t.regex(b.output(), /level=info msg="berth daemon: \d+\.\d+\.\d+ \S+; execdriver: runc; graphdriver: (overlay2|vfs)" commit=\S+ execdriver=runc graphdriver=(overlay2|vfs) version=\d+\.\d+\.\d+/);
  t.regex(b.output(), new RegExp(`API listen on ${b.socket}`));
});

test('-s vfs picks the vfs graph driver', async (t) => {
  const b = await startBerthd({ args: ['-s', 'vfs'] });
  try {
    const info = await b.dockerode().info();
    t.is(info.Driver, 'vfs');
    t.deepEqual(info.DriverStatus, []);
    t.true(existsSync(join(b.dataRoot, 'vfs')));
  } finally {
    await b.stop();
  }
});

test('a missing group for an explicit -G fails before anything is created', async (t) => {
  const dir = tempDir();
  mkdirSync(join(dir, 'keep'));
  try {
    const r = await runBerthd(['--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '-p', join(dir, 'pid'), '-H', `unix://${join(dir, 's.sock')}`, '-G', 'no-such-group-bt']);
    t.is(r.code, 1);
    t.is(r.stderr, 'failed to load listeners: group no-such-group-bt not found\n');
    t.deepEqual(readdirSync(dir), ['keep']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
