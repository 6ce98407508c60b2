/**
 * Container logging as dockerd 20.10 does it: json-file's max-size/max-file rotation (<id>-json.log,
 * .1 … .N-1), compress (.N.gz), attrs from labels/env/tag; docker logs (--tail, -f) across the
 * rotated files; --log-driver none and its docker logs error; the daemon's --log-driver/--log-opt
 * and daemon.json log-driver/log-opts; dockerd's messages for bad options; and a kill -9 of
 * berthd while a container logs with rotation on, which loses and repeats nothing. Real berthd,
 * real docker CLI.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runBerthd, startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, stopWithContainers } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;

test.before(async () => {
  work = tempDir('btl-');
  b = await startBerthd();
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) await stopWithContainers(b);
  if (work) removeDir(work);
});

const ok = async (d: Berthd, args: string[], opts: { timeoutMs?: number } = {}) => {
  const r = await d.docker(args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const inspect = async (d: Berthd, name: string) =>
  (await d.request('GET', `/containers/${name}/json`)).json<{ Id: string; LogPath: string; State: { Running: boolean; ExitCode: number }; HostConfig: { LogConfig: { Type: string; Config: Record<string, string> } } }>();
const waitExit = async (d: Berthd, name: string) => ok(d, ['wait', name], { timeoutMs: 90_000 });
/** The files of a container's log directory that are its json-file log, rotated ones too. */
const logFiles = (logPath: string) => readdirSync(dirname(logPath)).filter((f) => f.startsWith(`${logPath.split('/').pop()}`)).sort();
/** "<prefix> <n> …" lines → the numbers. */
const numbers = (out: string) => out.split('\n').filter(Boolean).map((l) => Number(l.split(' ')[1]));
const consecutive = (ns: number[]) => ns.every((n, i) => i === 0 || n === ns[i - 1]! + 1);
const PAD = 'x'.repeat(60);

test.serial('max-size=100k max-file=3: at most 3 files of about 100k, docker logs reads what they hold in order, --tail 5 the last 5', async (t) => {
  const n = 30000;
  await ok(b, ['run', '-d', '--name', 'rot', '--log-opt', 'max-size=100k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c', `i=0; while [ $i -lt ${n} ]; do echo "line $i ${PAD}"; i=$((i+1)); done`]);
  await waitExit(b, 'rot');
  const c = await inspect(b, 'rot');
  t.deepEqual(c.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '100k', 'max-file': '3' } });
  const id = c.Id;
  t.deepEqual(logFiles(c.LogPath), [`${id}-json.log`, `${id}-json.log.1`, `${id}-json.log.2`]);
  for (const f of logFiles(c.LogPath)) {
    const size = statSync(join(dirname(c.LogPath), f)).size;
    t.true(size <= 100_000 + 16 * 1024, `${f}: ${size} bytes`);
  }
  // The rotated ones are full (each reached max-size before the next began).
  t.true(statSync(`${c.LogPath}.1`).size >= 100_000);
  t.true(statSync(`${c.LogPath}.2`).size >= 100_000);
  const kept = logFiles(c.LogPath).map((f) => readFileSync(join(dirname(c.LogPath), f), 'utf8').split('\n').filter(Boolean).length).reduce((x, y) => x + y, 0);

  const tail = await ok(b, ['logs', '--tail', '5', 'rot']);
  t.deepEqual(numbers(tail), [n - 5, n - 4, n - 3, n - 2, n - 1]);
  const all = numbers(await ok(b, ['logs', 'rot']));
  t.is(all.length, kept, 'exactly what the kept files hold');
  t.is(all[all.length - 1], n - 1);
  t.true(all[0]! > 0, 'the oldest lines went with the dropped files');
  t.true(consecutive(all), 'in order, none missing between the files');
  // --tail larger than the current file reaches into the rotated ones.
  const want = readFileSync(c.LogPath, 'utf8').split('\n').filter(Boolean).length + 100;
  const many = numbers(await ok(b, ['logs', '--tail', String(want), 'rot']));
  t.deepEqual(many, Array.from({ length: want }, (_, i) => n - want + i));
  // An entry of the file, as dockerd writes it.
  const first = JSON.parse(readFileSync(c.LogPath, 'utf8').split('\n')[0]!) as Record<string, string>;
  t.deepEqual(Object.keys(first), ['log', 'stream', 'time']);
});

test.serial('conmon\'s own log under the exec root does not keep what is converted (holes punched): a chatty container costs no memory on /run', async (t) => {
  // ~4 MB of output from a container that keeps running: its ctr.log keeps its size (offsets)
  // but not its blocks, once converted; the json-file log has it all.
  await ok(b, ['run', '-d', '--name', 'chatty', 'busybox', 'sh', '-c', `i=0; while [ $i -lt 50000 ]; do echo "line $i ${PAD}"; i=$((i+1)); done; sleep 300`]);
  const id = (await inspect(b, 'chatty')).Id;
  const ctr = join(b.execRoot, 'containers', id, 'ctr.log');
  t.true(await waitFor(async () => (await ok(b, ['logs', '--tail', '1', 'chatty'])).startsWith('line 49999 '), 60_000, 100));
  t.true(await waitFor(() => statSync(ctr).blocks * 512 < 256 * 1024, 10_000, 100), `ctr.log: size ${statSync(ctr).size}, allocated ${statSync(ctr).blocks * 512}`);
  t.true(statSync(ctr).size > 3_000_000, 'its size (the offsets) stays');
  t.is(numbers(await ok(b, ['logs', 'chatty'])).length, 50000);
  await ok(b, ['rm', '-f', 'chatty']);
});

test.serial('a partial line (a prompt without a newline) does not hold rotation off; docker logs still gives the same bytes', async (t) => {
  await ok(b, ['run', '-d', '--name', 'prompt', '--log-opt', 'max-size=10k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c', `printf 'prompt> '; sleep 1.5; i=0; while [ $i -lt 3000 ]; do echo "line $i ${PAD}" >&2; i=$((i+1)); done; sleep 1.2; echo answered`]);
  await waitExit(b, 'prompt');
  const c = await inspect(b, 'prompt');
  t.deepEqual(logFiles(c.LogPath), [`${c.Id}-json.log`, `${c.Id}-json.log.1`], 'rotated while the prompt was pending');
  for (const f of logFiles(c.LogPath)) t.true(statSync(join(dirname(c.LogPath), f)).size <= 10_000 + 16 * 1024, f);
  const out = await b.docker(['logs', 'prompt']);
  t.true(out.stdout.endsWith('answered\n'), JSON.stringify(out.stdout.slice(-40)));
  t.true(numbers(out.stderr).at(-1) === 2999);
  await ok(b, ['rm', 'prompt']);
});

test.serial('compress=true: rotated files are gzipped (.1.gz, .2.gz) and docker logs still reads them', async (t) => {
  const n = 10000;
  await ok(b, ['run', '-d', '--name', 'gz', '--log-opt', 'max-size=50k', '--log-opt', 'max-file=3', '--log-opt', 'compress=true', 'busybox', 'sh', '-c', `i=0; while [ $i -lt ${n} ]; do echo "line $i ${PAD}"; i=$((i+1)); done`]);
  await waitExit(b, 'gz');
  const c = await inspect(b, 'gz');
  t.deepEqual(logFiles(c.LogPath), [`${c.Id}-json.log`, `${c.Id}-json.log.1.gz`, `${c.Id}-json.log.2.gz`]);
  const one = gunzipSync(readFileSync(`${c.LogPath}.1.gz`)).toString().split('\n').filter(Boolean);
  t.true(one.length > 100);
  t.regex((JSON.parse(one[0]!) as { log: string }).log, /^line \d+ x+\n$/);
  const all = numbers(await ok(b, ['logs', 'gz']));
  t.is(all[all.length - 1], n - 1);
  t.true(all[0]! > 0);
  t.true(consecutive(all));
  const want = readFileSync(c.LogPath, 'utf8').split('\n').filter(Boolean).length + one.length + 10;
  const tail = numbers(await ok(b, ['logs', '--tail', String(want), 'gz']));
  t.deepEqual(tail, Array.from({ length: want }, (_, i) => n - want + i));
  // compress needs max-size and max-file > 1 (dockerd's message, when the container starts).
  const bad = await b.docker(['run', '--rm', '--log-opt', 'compress=true', 'busybox', 'true']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set/);
});

test.serial('docker logs -f follows across rotations: every line once, in order, and ends with the container', async (t) => {
  const n = 3000;
  await ok(b, ['run', '-d', '--name', 'fol', '--log-opt', 'max-size=10k', '--log-opt', 'max-file=20', 'busybox', 'sh', '-c',
    `sleep 1; i=0; while [ $i -lt ${n} ]; do echo "line $i ${PAD}"; i=$((i+1)); [ $((i % 200)) -eq 0 ] && sleep 0.1; done; true`]);
  const r = await b.docker(['logs', '-f', 'fol'], { timeoutMs: 60_000 });
  t.is(r.code, 0, r.stderr);
  t.deepEqual(numbers(r.stdout), Array.from({ length: n }, (_, i) => i));
  const c = await inspect(b, 'fol');
  t.true(logFiles(c.LogPath).length > 10, 'it did rotate');
});

test.serial('labels, env and tag give each entry its attrs; docker logs --details shows them', async (t) => {
  await ok(b, ['run', '--name', 'attrs', '-l', 'team=ci', '-l', 'other=x', '-e', 'STAGE=test&go', '--log-opt', 'labels=team', '--log-opt', 'env=STAGE', '--log-opt', 'tag={{.Name}}/{{.ID}}', 'busybox', 'echo', 'hi']);
  const c = await inspect(b, 'attrs');
  const line = readFileSync(c.LogPath, 'utf8').trim();
  t.regex(line, new RegExp(`^\\{"log":"hi\\\\n","stream":"stdout","attrs":\\{"STAGE":"test\\\\u0026go","tag":"attrs/${c.Id.slice(0, 12)}","team":"ci"\\},"time":"[^"]+"\\}$`));
  t.is(await ok(b, ['logs', '--details', 'attrs']), `STAGE=test%26go,tag=attrs%2F${c.Id.slice(0, 12)},team=ci hi\n`);
});

test.serial('--log-driver none: nothing written, docker logs answers dockerd\'s 501', async (t) => {
  await ok(b, ['run', '-d', '--name', 'quiet', '--log-driver', 'none', 'busybox', 'sh', '-c', 'echo hi; echo err >&2; sleep 30']);
  const c = await inspect(b, 'quiet');
  t.deepEqual(c.HostConfig.LogConfig, { Type: 'none', Config: {} });
  const r = await b.docker(['logs', 'quiet']);
  t.is(r.code, 1);
  t.is(r.stderr.trim(), 'Error response from daemon: configured logging driver does not support reading');
  const raw = await b.request('GET', '/containers/quiet/logs?stdout=1');
  t.is(raw.status, 501);
  t.deepEqual(readdirSync(join(b.dataRoot, 'containers', c.Id)).filter((f) => f.includes('json.log')), []);
  await new Promise((r) => setTimeout(r, 300));
  t.deepEqual(readdirSync(join(b.execRoot, 'containers', c.Id)).filter((f) => f.startsWith('ctr.log')), []);
  await ok(b, ['rm', '-f', 'quiet']);
});

test.serial('dockerd\'s messages for bad options and drivers', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--log-opt', 'foo=bar'], /Error response from daemon: unknown log opt 'foo' for json-file log driver/],
    [['--log-opt', 'max-file=0'], /failed to initialize logging driver: max-file cannot be less than 1/],
    [['--log-opt', 'max-file=x'], /failed to initialize logging driver: strconv.Atoi: parsing "x": invalid syntax/],
    [['--log-opt', 'max-size=abc'], /failed to initialize logging driver: invalid size: 'abc'/],
    [['--log-opt', 'max-size=0'], /failed to initialize logging driver: max-size must be a positive number/],
    [['--log-opt', 'mode=fast'], /logger: logging mode not supported: fast/],
    [['--log-driver', 'nosuch'], /logger: no log driver named 'nosuch' is registered/],
    [['--log-driver', 'syslog'], /berth does not implement the syslog logging driver yet/],
    [['--log-driver', 'local'], /berth does not implement the local logging driver yet/],
  ];
  for (const [opts, re] of cases) {
    const r = await b.docker(['run', '--rm', ...opts, 'busybox', 'true']);
    t.not(r.code, 0, opts.join(' '));
    t.regex(r.stderr, re, opts.join(' '));
  }
  const create = (body: object) => b.request('POST', '/containers/create', { body: JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { LogConfig: body } }), headers: { 'content-type': 'application/json' } });
  t.is((await create({ Type: 'json-file', Config: { nope: '1' } })).status, 400);
  t.is((await create({ Type: 'gelf' })).status, 501);
  t.is((await create({ Type: 'nosuch' })).status, 400);
  // Options dockerd checks only when the logger starts: the create succeeds, the start fails (500).
  const made = await create({ Type: 'json-file', Config: { 'max-file': '0' } });
  t.is(made.status, 201);
  const start = await b.request('POST', `/containers/${made.json<{ Id: string }>().Id}/start`);
  t.is(start.status, 500);
  t.is(start.json<{ message: string }>().message, 'failed to initialize logging driver: max-file cannot be less than 1');
  await b.docker(['rm', '-f', made.json<{ Id: string }>().Id]);
});

test.serial('the daemon\'s --log-opt and daemon.json log-opts apply to new containers; --log-driver none; docker info', async (t) => {
  const d = await startBerthd({ args: ['--log-opt', 'max-size=10k', '--log-opt', 'max-file=2'] });
  try {
    await importBusybox(d, work, 'busybox:latest');
    t.is((await ok(d, ['info', '--format', '{{.LoggingDriver}}'])).trim(), 'json-file');
    await ok(d, ['run', '--name', 'dflt', 'busybox', 'sh', '-c', `i=0; while [ $i -lt 1000 ]; do echo "line $i ${PAD}"; i=$((i+1)); done`]);
    const c = await inspect(d, 'dflt');
    t.deepEqual(c.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '10k', 'max-file': '2' } });
    t.deepEqual(logFiles(c.LogPath), [`${c.Id}-json.log`, `${c.Id}-json.log.1`]);
    // The container's own options win; the daemon's fill the rest.
    await ok(d, ['create', '--name', 'own', '--log-opt', 'max-size=1m', 'busybox', 'true']);
    t.deepEqual((await inspect(d, 'own')).HostConfig.LogConfig.Config, { 'max-size': '1m', 'max-file': '2' });
    // Another driver: the daemon's options are not its.
    await ok(d, ['create', '--name', 'nolog', '--log-driver', 'none', 'busybox', 'true']);
    t.deepEqual((await inspect(d, 'nolog')).HostConfig.LogConfig, { Type: 'none', Config: {} });
    await ok(d, ['rm', '-f', 'dflt', 'own', 'nolog']);
  } finally {
    await d.stop();
  }

  const dir = tempDir('btl-cfg-');
  try {
    writeFileSync(join(dir, 'daemon.json'), JSON.stringify({ 'log-driver': 'none' }));
    const n = await startBerthd({ args: ['--config-file', join(dir, 'daemon.json')] });
    try {
      t.is((await ok(n, ['info', '--format', '{{.LoggingDriver}}'])).trim(), 'none');
    } finally {
      await n.stop();
    }
    writeFileSync(join(dir, 'daemon.json'), JSON.stringify({ 'log-opts': { 'max-size': '1m', bogus: 'x' } }));
    const bad = await runBerthd(['--config-file', join(dir, 'daemon.json'), '--data-root', join(dir, 'r'), '--exec-root', join(dir, 'e'), '-p', join(dir, 'p'), '-H', `unix://${join(dir, 's')}`]);
    t.is(bad.code, 1);
    t.regex(bad.stderr, /failed to set log opts: unknown log opt 'bogus' for json-file log driver/);
    const bad2 = await runBerthd(['--log-opt', 'max-file=0', '--data-root', join(dir, 'r'), '--exec-root', join(dir, 'e'), '-p', join(dir, 'p'), '-H', `unix://${join(dir, 's')}`]);
    t.is(bad2.code, 1);
    t.regex(bad2.stderr, /failed to set log opts: max-file cannot be less than 1/);
    writeFileSync(join(dir, 'daemon.json'), JSON.stringify({ 'log-opts': ['max-size=1m'] }));
    const bad3 = await runBerthd(['--config-file', join(dir, 'daemon.json'), '--data-root', join(dir, 'r'), '--exec-root', join(dir, 'e'), '-p', join(dir, 'p'), '-H', `unix://${join(dir, 's')}`]);
    t.is(bad3.code, 1);
    t.regex(bad3.stderr, /invalid value for "log-opts": expected an object of strings/);
  } finally {
    removeDir(dir);
  }
});

test.serial('berthd killed with -9 while a container logs with rotation on: no line lost, none repeated', async (t) => {
  const dir = tempDir('btl-k-');
  let d: Berthd | null = await startBerthd({ dir });
  try {
    await importBusybox(d, work);
    const n = 12000;
    await ok(d, ['run', '-d', '--name', 'crash', '--log-opt', 'max-size=20k', '--log-opt', 'max-file=100', 'busybox', 'sh', '-c',
      `i=0; while [ $i -lt ${n} ]; do echo "line $i ${PAD}"; i=$((i+1)); [ $((i % 300)) -eq 0 ] && sleep 0.1; done`]);
    t.true(await waitFor(async () => numbers((await d!.docker(['logs', '--tail', '1', 'crash'])).stdout)[0]! > 2000, 20_000));
    process.kill(d.pid, 'SIGKILL');
    await d.exited;
    d = null;
    await new Promise((r) => setTimeout(r, 1_500));
    d = await startBerthd({ dir });
    await waitExit(d, 'crash');
    const all = numbers(await ok(d, ['logs', 'crash']));
    t.is(all.length, n);
    t.deepEqual(all, Array.from({ length: n }, (_, i) => i));
    const c = await inspect(d, 'crash');
    t.true(logFiles(c.LogPath).length > 20, 'it rotated');
    await ok(d, ['rm', 'crash']);
  } finally {
    if (d) await d.stop();
    removeDir(dir);
  }
});

