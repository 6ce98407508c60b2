/**
 * docker pause/unpause, top, stats and update with the real docker CLI against a real berthd,
 * checked against what dockerd 20.10 answers (test/fixtures/dockerd-20.10/extras: statuses,
 * messages, the stats document's shape, the cgroup values an update leaves, the events of a
 * stop of a paused container). The suite ends with the usual check that nothing is left.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, stopWithContainers, dockerOk } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;

test.before(async () => {
  work = tempDir('btr-');
  b = await startBerthd();
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) await stopWithContainers(b);
  if (work) removeDir(work);
});

const ok = (args: string[]) => dockerOk(b, args);
const idOf = async (name: string) => (await ok(['inspect', '-f', '{{.Id}}', name])).trim();
const cg = (controller: string, id: string, file: string) => readFileSync(`/sys/fs/cgroup/${controller}/berth/${id}/${file}`, 'utf8').trim();

/** The events of one container between two times, as "action attr=value" lines. */
async function eventsOf(id: string, since: number): Promise<string[]> {
  const until = Date.now() / 1000;
  const r = await b.request('GET', `/events?since=${since}&until=${until}&filters=${encodeURIComponent(JSON.stringify({ container: [id] }))}`);
  return r.body
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { Action: string; Actor: { Attributes: Record<string, string> } })
    .map((e) => [e.Action, ...['signal', 'exitCode'].filter((k) => e.Actor.Attributes[k] !== undefined).map((k) => `${k}=${e.Actor.Attributes[k]}`)].join(' '));
}

test.serial('pause and unpause: the state, ps, the freezer, exec refused, and dockerd\'s errors', async (t) => {
  await ok(['run', '-d', '--name', 'pz', 'busybox', 'sh', '-c', 'while true; do date +%s%N > /tick; sleep 0.05; done']);
  const id = await idOf('pz');
  const since = Date.now() / 1000;
  t.is(await ok(['pause', 'pz']), 'pz\n');
  const st = JSON.parse(await ok(['inspect', '-f', '{{json .State}}', 'pz']));
  t.like(st, { Status: 'paused', Running: true, Paused: true, Restarting: false });
  t.is(cg('freezer', id, 'freezer.state'), 'FROZEN');
  t.regex(await ok(['ps', '--format', '{{.Status}}', '--filter', 'status=paused']), /^Up .* \(Paused\)\n$/);
  const info = JSON.parse(await ok(['info', '--format', '{{json .}}']));
  t.is(info.ContainersPaused, 1);

  const t1 = (await b.docker(['exec', 'pz', 'cat', '/tick'])).stderr;
  t.is(t1, 'Error response from daemon: Container pz is paused, unpause the container before exec\n');

  const again = await b.request('POST', '/containers/pz/pause');
  t.is(again.status, 409);
  t.is(again.json<{ message: string }>().message, `Container ${id} is already paused`);
  const exec = await b.request('POST', '/containers/pz/exec', { body: JSON.stringify({ Cmd: ['true'] }), headers: { 'Content-Type': 'application/json' } });
  t.is(exec.status, 409);

  t.is(await ok(['unpause', 'pz']), 'pz\n');
  t.is(cg('freezer', id, 'freezer.state'), 'THAWED');
  const before = await ok(['exec', 'pz', 'cat', '/tick']);
  t.true(await waitFor(async () => (await ok(['exec', 'pz', 'cat', '/tick'])) !== before, 5_000), 'the loop runs again');
  const notPaused = await b.request('POST', '/containers/pz/unpause');
  t.is(notPaused.status, 500);
  t.is(notPaused.json<{ message: string }>().message, `Container ${id} is not paused`);
  t.deepEqual((await eventsOf(id, since)).filter((e) => /pause/.test(e)), ['pause', 'unpause']);

  await ok(['rm', '-f', 'pz']);

  await ok(['create', '--name', 'pstopped', 'busybox', 'true']);
  const sid = await idOf('pstopped');
  const p = await b.request('POST', '/containers/pstopped/pause');
  t.is(p.status, 409);
  t.is(p.json<{ message: string }>().message, `Container ${sid} is not running`);
  const u = await b.request('POST', '/containers/pstopped/unpause');
  t.is(u.status, 500);
  t.is(u.json<{ message: string }>().message, `Container ${sid} is not paused`);
  const n = await b.request('POST', '/containers/nosuch/pause');
  t.is(n.status, 404);
  t.is(n.json<{ message: string }>().message, 'No such container: nosuch');
  await ok(['rm', 'pstopped']);
});

test.serial('docker pause of two names: one paused, the missing one an error and exit 1', async (t) => {
  await ok(['run', '-d', '--name', 'pz2', 'busybox', 'sleep', '300']);
  const r = await b.docker(['pause', 'pz2', 'nosuch']);
  t.is(r.code, 1);
  t.is(r.stdout, 'pz2\n');
  t.is(r.stderr, 'Error response from daemon: No such container: nosuch\n');
  await ok(['unpause', 'pz2']);
  await ok(['rm', '-f', 'pz2']);
});

test.serial('stop of a paused container: SIGTERM, the timeout, unpause, SIGKILL (dockerd\'s events); kill and rm of a paused one', async (t) => {
  await ok(['run', '-d', '--name', 'ps1', 'busybox', 'sleep', '300']);
  const id = await idOf('ps1');
  await ok(['pause', 'ps1']);
  const since = Date.now() / 1000;
  await ok(['stop', '-t', '1', 'ps1']);
  const st = JSON.parse(await ok(['inspect', '-f', '{{json .State}}', 'ps1']));
  t.like(st, { Status: 'exited', Running: false, Paused: false, ExitCode: 137 });
  t.deepEqual(await eventsOf(id, since), ['kill signal=15', 'unpause', 'kill signal=9', 'die exitCode=137', 'stop']);

  await ok(['start', 'ps1']);
  await ok(['pause', 'ps1']);
  const rm = await b.docker(['rm', 'ps1']);
  t.is(rm.code, 1);
  t.is(rm.stderr, `Error response from daemon: You cannot remove a paused container ${id}. Unpause and then stop the container before attempting removal or force remove\n`);
  const since2 = Date.now() / 1000;
  await ok(['kill', 'ps1']);
  t.like(JSON.parse(await ok(['inspect', '-f', '{{json .State}}', 'ps1'])), { Status: 'exited', Paused: false, ExitCode: 137 });
  t.deepEqual(await eventsOf(id, since2), ['kill signal=9', 'die exitCode=137'], 'a kill thaws it without an unpause event');

  await ok(['start', 'ps1']);
  await ok(['pause', 'ps1']);
  await ok(['rm', '-f', 'ps1']);
  t.is((await ok(['ps', '-aq'])).trim(), '');
});

test.serial('docker top: the host ps rows of the container only, ps_args, and the errors', async (t) => {
  await ok(['run', '-d', '--name', 'tp', 'busybox', 'sleep', '301']);
  const id = await idOf('tp');
  const r = await b.request('GET', '/containers/tp/top');
  t.is(r.status, 200);
  t.true(r.body.startsWith('{"Processes":'), 'Processes first, as dockerd');
  const top = r.json<{ Titles: string[]; Processes: string[][] }>();
  t.deepEqual(top.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
  t.is(top.Processes.length, 1);
  t.is(top.Processes[0]![7], 'sleep 301');
  t.is(Number(top.Processes[0]![1]), Number((await ok(['inspect', '-f', '{{.State.Pid}}', 'tp'])).trim()), 'host pids');

  // An exec session is one of its processes too.
  await ok(['exec', '-d', 'tp', 'sleep', '302']);
  t.true(await waitFor(async () => (await b.request('GET', '/containers/tp/top')).json<{ Processes: string[][] }>().Processes.length === 2, 5_000));

  const aux = (await b.request('GET', '/containers/tp/top?ps_args=aux')).json<{ Titles: string[] }>();
  t.deepEqual(aux.Titles, ['USER', 'PID', '%CPU', '%MEM', 'VSZ', 'RSS', 'TTY', 'STAT', 'START', 'TIME', 'COMMAND']);
  const cli = await ok(['top', 'tp']);
  t.regex(cli, /^UID {17}PID {17}PPID/);
  t.regex(cli, /sleep 301\n/);

  const bad = await b.request('GET', '/containers/tp/top?ps_args=--bogus');
  t.is(bad.status, 500);
  t.is(bad.json<{ message: string }>().message, 'ps: error: unknown gnu long option');

  await ok(['pause', 'tp']);
  t.is((await b.request('GET', '/containers/tp/top')).status, 200, 'a paused container has processes');
  await ok(['unpause', 'tp']);
  await ok(['stop', '-t', '0', 'tp']);
  const stopped = await b.request('GET', '/containers/tp/top');
  t.is(stopped.status, 409);
  t.is(stopped.json<{ message: string }>().message, `Container ${id} is not running`);
  t.is((await b.request('GET', '/containers/nosuch/top')).status, 404);
  await ok(['rm', 'tp']);
});

test.serial('docker stats: one-shot, stream=false with precpu, the stream chaining read to preread, a stopped container', async (t) => {
  await ok(['run', '-d', '--name', 'st', '-m', '64m', 'busybox', 'sleep', '300']);
  const id = await idOf('st');
  type Stats = {
    read: string;
    preread: string;
    pids_stats: { current: number };
    cpu_stats: { cpu_usage: { total_usage: number; percpu_usage: number[] }; system_cpu_usage: number; online_cpus: number };
    precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number };
    memory_stats: { usage: number; limit: number; stats: Record<string, number> };
    blkio_stats: Record<string, unknown>;
    name: string;
    id: string;
  };
  const one = await b.request('GET', '/containers/st/stats?stream=false&one-shot=true');
  t.is(one.status, 200);
  t.is(Number(one.headers['content-length']), Buffer.byteLength(one.body));
  const o = one.json<Stats>();
  t.deepEqual(Object.keys(o), ['read', 'preread', 'pids_stats', 'blkio_stats', 'num_procs', 'storage_stats', 'cpu_stats', 'precpu_stats', 'memory_stats', 'name', 'id'], 'dockerd\'s keys and order (no networks with --network none)');
  t.is(o.preread, '0001-01-01T00:00:00Z');
  t.is(o.precpu_stats.cpu_usage.total_usage, 0);
  t.is(o.name, '/st');
  t.is(o.id, id);
  t.is(o.pids_stats.current, 1);
  t.is(o.memory_stats.limit, 64 * 1024 * 1024);
  t.is(o.memory_stats.usage, Number(cg('memory', id, 'memory.usage_in_bytes')) || o.memory_stats.usage);
  t.true(o.memory_stats.usage > 0);
  t.true('total_rss' in o.memory_stats.stats);
  t.true(o.cpu_stats.cpu_usage.total_usage > 0);
  t.is(o.cpu_stats.cpu_usage.percpu_usage.length, o.cpu_stats.online_cpus);

  const started = Date.now();
  const two = (await b.request('GET', '/containers/st/stats?stream=false')).json<Stats>();
  t.true(Date.now() - started >= 900, 'stream=false waits for a second reading');
  t.not(two.preread, '0001-01-01T00:00:00Z');
  t.true(Date.parse(two.read) > Date.parse(two.preread));
  t.true((two.precpu_stats.system_cpu_usage ?? 0) > 0);

  // The stream: a document a second, each one's preread the last one's read.
  const ctl = new AbortController();
  const lines: Stats[] = [];
  const docker = b.dockerode();
  const stream = (await docker.getContainer('st').stats({ stream: true, abortSignal: ctl.signal } as never)) as unknown as NodeJS.ReadableStream;
  let buf = '';
  await new Promise<void>((resolve) => {
    stream.on('data', (c: Buffer) => {
      buf += c.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
      if (lines.length >= 3) resolve();
    });
    stream.on('error', () => resolve());
    setTimeout(resolve, 6_000);
  });
  ctl.abort();
  t.true(lines.length >= 3);
  t.is(lines[0]!.preread, '0001-01-01T00:00:00Z');
  t.is(lines[1]!.preread, lines[0]!.read);
  t.is(lines[2]!.preread, lines[1]!.read);

  const cli = await ok(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}', 'st']);
  t.regex(cli, /^st 1 [\d.]+[KM]iB \/ 64MiB\n$/);

  await ok(['stop', '-t', '0', 'st']);
  const stopped = (await b.request('GET', '/containers/st/stats?stream=false')).json<Stats>();
  t.is(stopped.read, '0001-01-01T00:00:00Z');
  t.deepEqual(stopped.pids_stats, {});
  t.deepEqual(stopped.memory_stats, {} as never);
  t.is(stopped.blkio_stats.io_service_bytes_recursive, null);
  t.is((await b.request('GET', '/containers/nosuch/stats?stream=false')).status, 404);
  const both = await b.request('GET', '/containers/st/stats?stream=true&one-shot=true');
  t.is(both.status, 400);
  await ok(['rm', 'st']);
});

test.serial('docker update: limits in the cgroup of a running container, the restart policy, dockerd\'s refusals', async (t) => {
  await ok(['run', '-d', '--name', 'upd', 'busybox', 'sleep', '300']);
  const id = await idOf('upd');
  // dockerd 20.10's quirk: a memory limit alone, on a container without a swap limit, is a conflict.
  const alone = await b.docker(['update', '--memory', '64m', 'upd']);
  t.is(alone.code, 1);
  t.is(alone.stderr, `Error response from daemon: Cannot update container ${id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time\n`);

  t.is(await ok(['update', '--memory', '64m', '--memory-swap', '128m', '--cpus', '0.5', '--pids-limit', '50', '--restart', 'on-failure:2', 'upd']), 'upd\n');
  const hc = JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig}}', 'upd']));
  t.like(hc, { Memory: 67108864, MemorySwap: 134217728, NanoCpus: 500000000, CpuQuota: 0, CpuPeriod: 0, PidsLimit: 50, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } });
  t.is(cg('memory', id, 'memory.limit_in_bytes'), '67108864');
  t.is(cg('memory', id, 'memory.memsw.limit_in_bytes'), '134217728');
  t.is(cg('cpu', id, 'cpu.cfs_quota_us'), '50000');
  t.is(cg('cpu', id, 'cpu.cfs_period_us'), '100000');
  t.is(cg('pids', id, 'pids.max'), '50');

  const empty = await b.request('POST', '/containers/upd/update', { body: '{}', headers: { 'Content-Type': 'application/json' } });
  t.is(empty.status, 200);
  t.is(empty.body, '{"Warnings":null}\n');
  const kmem = await b.docker(['update', '--kernel-memory', '10m', 'upd']);
  t.is(kmem.code, 0);
  // (docker CLI 28 prints the daemon's warnings on stdout, after the name.)
  t.is(kmem.stdout, 'upd\nSpecifying a kernel memory limit is deprecated and will be removed in a future release.\n');

  const refusals: Array<[Record<string, unknown>, number, string]> = [
    [{ Memory: 1000 }, 400, 'Minimum memory limit allowed is 6MB'],
    [{ Memory: 67108864, MemorySwap: 33554432 }, 400, 'Minimum memoryswap limit should be larger than memory limit, see usage'],
    [{ RestartPolicy: { Name: 'bogus' } }, 400, "invalid restart policy 'bogus'"],
    [{ RestartPolicy: { Name: 'always', MaximumRetryCount: 3 } }, 400, "maximum retry count cannot be used with restart policy 'always'"],
    [{ NanoCpus: 500000000, CpuQuota: 50000 }, 400, 'Conflicting options: Nano CPUs and CPU Quota cannot both be set'],
    [{ NanoCpus: 64e9 }, 400, 'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available'.replace(/2/g, String((await import('node:os')).availableParallelism()))],
  ];
  for (const [body, status, message] of refusals) {
    const r = await b.request('POST', '/containers/upd/update', { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    t.is(r.status, status, JSON.stringify(body));
    t.is(r.json<{ message: string }>().message, message);
  }
  // Below what it uses: runc's refusal, in dockerd's words; the record keeps the old limit.
  await ok(['exec', 'upd', 'sh', '-c', 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=20 2>/dev/null']);
  const low = await b.request('POST', '/containers/upd/update', { body: JSON.stringify({ Memory: 8 * 1024 * 1024, MemorySwap: 16 * 1024 * 1024 }), headers: { 'Content-Type': 'application/json' } });
  t.is(low.status, 500);
  t.regex(low.json<{ message: string }>().message, new RegExp(`^Cannot update container ${id}: runc did not terminate successfully: exit status 1: .*unable to set memory limit to 8388608.*\\n: unknown$`, 's'));
  t.is(JSON.parse(await ok(['inspect', '-f', '{{json .HostConfig.Memory}}', 'upd'])), 67108864);
  t.is((await b.request('POST', '/containers/nosuch/update', { body: '{}', headers: { 'Content-Type': 'application/json' } })).status, 404);

  // A stopped container takes the new values at its next start.
  await ok(['stop', '-t', '0', 'upd']);
  await ok(['update', '--pids-limit', '77', 'upd']);
  await ok(['start', 'upd']);
  t.is(cg('pids', id, 'pids.max'), '77');
  await ok(['rm', '-f', 'upd']);
});

test.serial('nothing is left: no mount, conmon, runc state or bundle', async (t) => {
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 5_000), JSON.stringify(leftovers(b)));
});
