/**
 * Ops: the everyday commands on a running container, through a real berthd and — when the
 * machine has one — a reference dockerd, each beside a bare baseline measured in the same run:
 *
 *   exec            `docker exec <ctr> true`, beside `runc exec <bare ctr> true`
 *   stats           GET /containers/<id>/stats?stream=false&one-shot=true on the daemon's unix
 *                   socket (what `docker stats --no-stream` asks for), no baseline but dockerd
 *   pause+unpause   `docker pause` then `docker unpause`, beside `runc pause` then `runc resume`
 *   diff            `docker diff` of a container with 10 MiB of changes
 *   commit          `docker commit` of that container (the image removed between runs)
 *   cp in / out     `docker cp <dir> <ctr>:/dst` and `docker cp <ctr>:/dst <dir>` of a ~105 MB tree,
 *                   beside `tar -c | tar -x` of the same tree on the host, alternated run by run
 *
 * Latencies are sequential (WARMUPS unmeasured runs, then RUNS), each timed from the spawn of
 * the CLI (docker or runc) to its exit, or for stats from the request to the end of the answer.
 * Everything — the daemons' state, the bare container's runc state, the trees — lives in the
 * scenario's temp dir; the daemons run without a bridge and the containers with --network none.
 * An operation a daemon answers 501 or 404 for (a route it does not serve yet) is reported as
 * "skipped: <reason>" rather than failing the scenario.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import {
  cleanups,
  fmtRatio,
  fmtUs,
  now,
  percentile,
  removeTmp,
  spawnBerthd,
  stopChild,
  table,
  tryRun,
  waitForPing,
  type Row,
  type Scenario,
} from '../lib.js';
import {
  containerTools,
  scenarioState,
  stopBenchBerthd,
  describe,
  dockerEnv,
  interrupted,
  makeBundle,
  makeImage,
  must,
  ok,
  reapLeftovers,
  runTimed,
  startDockerd,
  watchLog,
  type RunResult,
  type Running,
} from './containers.js';

const WARMUPS = 3;
const RUNS = 20;
/** docker cp and the tar beside it: this many runs of each, alternated. */
const CP_RUNS = 3;
/** docker commit: one unmeasured, then this many. */
const COMMIT_RUNS = 3;
/** The cp tree: this many files of 1 MiB random data, plus a few small ones. */
const CP_FILES = 100;
/** The commit container's changes: this many files of 1 MiB. */
const COMMIT_MIB = 10;
const MB = 1e6;
/** Same prefix as containers.ts's bare runs, so reapLeftovers removes a cgroup runc left. */
const RUNC_ID = `berth-bench-${process.pid}-ops`;

/** One latency row: an operation on one target. Times in ms. */
interface Latency {
  op: string;
  target: string;
  kind: 'baseline' | 'berthd' | 'dockerd';
  runs: number;
  okMs: number[];
  warmMs: number[];
  errors: number;
  firstError?: string;
  skipped?: string;
}

/** One cp row: a direction and a tool, its runs' seconds. */
interface Copy {
  direction: 'in' | 'out' | 'host';
  tool: string;
  kind: 'tar' | 'berthd' | 'dockerd';
  /** Which daemon's runs it was alternated with (tar rows). */
  beside?: string;
  bytes: number;
  seconds: number[];
  errors: number;
  firstError?: string;
  skipped?: string;
}

export const ops: Scenario = {
  name: 'ops',
  description: '`docker exec`, stats (one-shot), pause+unpause, diff, commit and cp (~105 MB in and out) on a running container through berthd and, when installed, dockerd, beside runc exec/pause/resume and host tar',
  async run({ repo }) {
    const tools = await containerTools('OPS');
    if ('skipped' in tools) return tools;
    const { docker, runc } = tools;

    const { tmp, running, notes, printNotes, hostPaths } = await scenarioState('ops');
    const bare: { started: boolean } = { started: false };
    let cleaning: Promise<void> | null = null;
    const cleanup = () => (cleaning ??= cleanupOnce());
    const cleanupOnce = async () => {
      running.stopping = true;
      for (const t of [...running.tools]) await stopChild(t, 2_000);
      running.tools.clear();
      if (bare.started) await stopBare(running, runc!, tmp);
      bare.started = false;
      for (const d of [...running.daemons]) if (d.pid !== undefined) await stopChild(d, 30_000);
      running.daemons.clear();
      notes.push(...(await reapLeftovers(tmp, runc!)));
      if (hostPaths.current) notes.push(...(await hostPaths.current.restore()));
      hostPaths.current = null;
      await removeTmp(tmp);
    };
    cleanups.add(cleanup);
    const t0 = Date.now();
    try {
      const image = await makeImage(tmp, running);
      const tree = await makeTree(join(tmp, 'tree'));
      const lat: Latency[] = [];
      const cps: Copy[] = [];
      const targets: Record<string, unknown> = {};
      const phase = async (key: string, fn: () => Promise<Record<string, unknown>>) => {
        if (running.stopping) return;
        try {
          targets[key] = await fn();
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          notes.push(`${key}: FAILED: ${message}`);
          targets[key] = { error: message };
        }
      };

      // 1. The bare container: runc run -d of `sleep`, then runc exec and pause/resume on it.
      await phase('runc', async () => {
        const state = join(tmp, 'runc-state');
        await mkdir(state);
        const bundle = await makeBundle(tmp, runc!, running, ['sleep', '3600']);
        const run = await quiet(running, runc!, [`--root=${state}`, 'run', '-d', '--bundle', bundle, RUNC_ID], join(tmp, 'runc-run.log'));
        bare.started = true;
        if (run !== 0) throw new Error(`runc run -d exited ${run}: ${await readFile(join(tmp, 'runc-run.log'), 'utf8').catch(() => '')}`);
        try {
          lat.push(await series('exec', 'runc exec', 'baseline', WARMUPS, RUNS, () => runTimed(running, runc!, [`--root=${state}`, 'exec', RUNC_ID, 'true'])));
          lat.push(await series('pause+unpause', 'runc pause + resume', 'baseline', WARMUPS, RUNS, () => pair(running, runc!, [`--root=${state}`, 'pause', RUNC_ID], [`--root=${state}`, 'resume', RUNC_ID])));
        } finally {
          await stopBare(running, runc!, tmp);
          bare.started = false;
        }
        return { version: tryRun(runc!, ['--version'])?.split('\n')[0] };
      });

      // 2. berthd, as containers starts it: its state in its own dir, a unix socket, no bridge.
      await phase('berthd', async () => {
        const dir = join(tmp, 'berthd');
        await mkdir(dir);
        const sock = join(dir, 's.sock');
        const s0 = Date.now();
        if (running.stopping) throw interrupted();
        const b = spawnBerthd(repo, dir, ['-H', `unix://${sock}`]);
        running.daemons.add(b.child);
        const log = watchLog(b.child);
        try {
          await waitForPing(b, sock);
          const startMs = Date.now() - s0;
          const info = await daemonOps('berthd', 'berthd', docker!, sock, tmp, image.tar, tree, running, notes, lat, cps);
          return { startMs, ...info, logLines: log.count() };
        } finally {
          await stopBenchBerthd(b.child, b.log, log, dir, runc!, running, notes);
        }
      });

      // 3. dockerd, if the machine has one.
      await phase('dockerd', async () => {
        const dir = join(tmp, 'dockerd');
        const d = await startDockerd(dir, running);
        if ('skipped' in d) {
          process.stdout.write(`dockerd rows skipped: ${d.skipped}\n`);
          return { skipped: d.skipped };
        }
        hostPaths.current = d.hostPaths;
        try {
          const info = await daemonOps(`dockerd ${d.version}`, 'dockerd', docker!, d.sock, tmp, image.tar, tree, running, notes, lat, cps);
          return { version: d.version, startMs: d.startMs, ...info };
        } finally {
          const exit = await stopChild(d.child, 30_000);
          running.daemons.delete(d.child);
          if (exit !== 0) notes.push(`dockerd exited with ${exit} on SIGTERM (expected 0):\n${d.log()}`);
          notes.push(...(await reapLeftovers(dir, runc!, 'after dockerd stopped')));
          notes.push(...(await d.hostPaths.restore()));
          hostPaths.current = null;
        }
      });

      if (running.stopping) throw interrupted();
      if (!lat.length && !cps.length) throw new Error(`nothing could be measured:\n${notes.join('\n')}`);
      const latency = summarizeLatency(lat);
      const copies = summarizeCopies(cps);
      const hasDockerd = lat.some((l) => l.kind === 'dockerd');
      process.stdout.write(
        table(
          `OPS latency (sequential: ${RUNS} runs after ${WARMUPS} warm-ups — commit: ${COMMIT_RUNS} after 1 —, each timed from spawn to exit of the CLI; stats: GET …/stats?stream=false&one-shot=true on the unix socket, a new connection each; ÷ = p50 over the baseline's p50, 2.00× takes twice as long)`,
          ['op', 'target', 'runs', 'p50', 'p99', 'min', '÷ baseline', ...(hasDockerd ? ['÷ dockerd'] : []), 'errors', 'note'],
          latency.map(latencyRow),
        ),
      );
      process.stdout.write('\n');
      process.stdout.write(
        table(
          `OPS docker cp (a tree of ${(tree.bytes / MB).toFixed(1)} MB in ${tree.files} files; ${CP_RUNS} runs of each, alternated with \`tar -c | tar -x\` of the same tree on the host, sync -f before each; ÷ = median MB/s over the baseline's, below 1 is slower)`,
          ['direction', 'tool', 'MB', 'MB/s median', 'MB/s best', 's median', 'runs (s)', '÷ tar', ...(hasDockerd ? ['÷ dockerd'] : []), 'errors', 'note'],
          copies.map(copyRow),
        ),
      );
      for (const l of lat) {
        if (l.skipped) notes.push(`${l.target} ${l.op}: skipped: ${l.skipped}`);
        if (l.firstError) notes.push(`${l.target} ${l.op}: ${l.errors} failed run(s); the first: ${l.firstError}`);
      }
      for (const c of cps) {
        if (c.skipped) notes.push(`${c.tool} ${c.direction}: skipped: ${c.skipped}`);
        if (c.firstError) notes.push(`${c.tool} ${c.direction}: ${c.errors} failed run(s); the first: ${c.firstError}`);
      }
      notes.push(`the scenario took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      printNotes();
      return {
        plan: { warmups: WARMUPS, runs: RUNS, cpRuns: CP_RUNS, commitRuns: COMMIT_RUNS, commitMiB: COMMIT_MIB },
        tree: { bytes: tree.bytes, files: tree.files },
        targets,
        latency,
        copies,
        notes,
      };
    } finally {
      cleanups.delete(cleanup);
      await cleanup();
      printNotes();
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Measuring

/** unsupported: the reason when a failed CLI run says the daemon does not serve the route (501, or a 404 for the route). */
function unsupported(r: RunResult): string | null {
  const text = r.stderr.trim();
  if (/not implement|\b501\b|page not found|404 page/i.test(text)) return text.split('\n').pop()!.slice(0, 300);
  return null;
}

/** series: warm-ups, then runs one after the other. A failed warm-up skips the row (route missing) or throws. */
async function series(op: string, target: string, kind: Latency['kind'], warmups: number, runs: number, once: () => Promise<RunResult>): Promise<Latency> {
  const l: Latency = { op, target, kind, runs: 0, okMs: [], warmMs: [], errors: 0 };
  for (let i = 0; i < warmups; i++) {
    const r = await once();
    if (!ok(r)) {
      const why = unsupported(r);
      if (why) {
        l.skipped = why;
        return l;
      }
      throw new Error(`${target} ${op}: warm-up run failed: ${describe(r)}`);
    }
    l.warmMs.push(r.ms);
  }
  for (let i = 0; i < runs; i++) {
    const r = await once();
    l.runs++;
    if (ok(r)) l.okMs.push(r.ms);
    else {
      l.errors++;
      l.firstError ??= describe(r);
      if (l.errors >= 5) break;
    }
  }
  return l;
}

/** pair: two commands one after the other (pause, then unpause), timed as one: the sum of their times. */
async function pair(running: Running, cmd: string, first: readonly string[], second: readonly string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  const a = await runTimed(running, cmd, first, env);
  if (!ok(a)) return a;
  const b = await runTimed(running, cmd, second, env);
  return { ...b, ms: a.ms + b.ms };
}

/** quiet runs a command whose stdio must not be pipes (runc run -d: the container inherits them), output to a file. */
async function quiet(running: Running, cmd: string, args: readonly string[], logFile: string): Promise<number | string | null> {
  if (running.stopping) throw interrupted();
  const log = await open(logFile, 'a');
  try {
    const child = spawn(cmd, args, { stdio: ['ignore', log.fd, log.fd] });
    running.tools.add(child);
    try {
      return await new Promise<number | string | null>((resolve) => {
        child.once('error', () => resolve('spawn error'));
        child.once('exit', (code, signal) => resolve(code ?? signal));
      });
    } finally {
      running.tools.delete(child);
    }
  } finally {
    await log.close();
  }
}

async function stopBare(running: Running, runc: string, tmp: string): Promise<void> {
  await runTimed(running, runc, [`--root=${join(tmp, 'runc-state')}`, 'delete', '-f', RUNC_ID], undefined, true);
}

/** timedGet: one GET on a unix socket, a new connection, timed from the request to the end of the body. */
function timedGet(sock: string, path: string): Promise<{ ms: number; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const req = request({ socketPath: sock, path, method: 'GET', agent: false, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ ms: Number(now() - t0) / 1e6, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout after 30 s')));
    req.on('error', reject);
    req.end();
  });
}

/** A timedGet as a RunResult (status 200 = exit 0), so series() treats it like a CLI run. */
async function getRun(sock: string, path: string): Promise<RunResult> {
  try {
    const r = await timedGet(sock, path);
    const good = r.status === 200 && r.body.includes('"memory_stats"');
    return { ms: r.ms, code: good ? 0 : r.status, signal: null, timedOut: false, stdout: r.body.slice(0, 4096), stderr: good ? '' : `HTTP ${r.status}: ${r.body.slice(0, 300)}` };
  } catch (err) {
    return { ms: NaN, code: null, signal: null, timedOut: false, stdout: '', stderr: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * daemonOps: one daemon's measurements through the docker CLI (and its socket, for stats):
 * import the image, start a `sleep` container, then exec, stats, pause+unpause, cp, and on a
 * second container with 10 MiB of changes diff and commit. Both containers are removed after.
 */
async function daemonOps(
  name: string,
  kind: 'berthd' | 'dockerd',
  docker: string,
  sock: string,
  tmp: string,
  imageTar: string,
  tree: Tree,
  running: Running,
  notes: string[],
  lat: Latency[],
  cps: Copy[],
): Promise<Record<string, unknown>> {
  const env = dockerEnv(sock, tmp);
  const info: Record<string, unknown> = {};
  const d = (args: readonly string[]) => runTimed(running, docker, args, env);
  const mine = `ops-${kind}`;
  try {
    const imp = await must(running, docker, ['import', '--change', 'CMD ["sh"]', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', imageTar, 'busybox:latest'], env);
    info.importMs = imp.ms;
    const id = (await must(running, docker, ['run', '-d', '--network', 'none', '--name', `${mine}-main`, 'busybox', 'sleep', '3600'], env)).stdout.trim();
    const check = await must(running, docker, ['exec', id, 'sh', '-c', 'echo ok'], env);
    if (check.stdout.trim() !== 'ok') throw new Error(`${name}: docker exec printed ${JSON.stringify(check.stdout)}, expected "ok\\n"`);

    // An operation that fails is noted; the others still run.
    const guard = async (what: string, fn: () => Promise<void>) => {
      if (running.stopping) throw interrupted();
      try {
        await fn();
      } catch (err) {
        notes.push(`${name} ${what}: FAILED: ${err instanceof Error ? err.message : String(err)}`);
      }
    };

    await guard('exec', async () => {
      lat.push(await series('exec', `${name} (docker exec)`, kind, WARMUPS, RUNS, () => d(['exec', id, 'true'])));
    });
    await guard('stats', async () => {
      lat.push(await series('stats one-shot', `${name} (GET stats)`, kind, WARMUPS, RUNS, () => getRun(sock, `/containers/${id}/stats?stream=false&one-shot=true`)));
    });
    await guard('pause', async () => {
      lat.push(await series('pause+unpause', `${name} (docker pause + unpause)`, kind, WARMUPS, RUNS, () => pair(running, docker, ['pause', id], ['unpause', id], env)));
    });
    await guard('cp', async () => {
      await copies(name, kind, docker, env, sock, id, tmp, tree, running, cps);
    });

    // The commit container: 10 files of 1 MiB written into its writable layer.
    await guard('diff/commit', async () => {
      const cid = (await must(running, docker, ['run', '-d', '--network', 'none', '--name', `${mine}-commit`, 'busybox', 'sleep', '3600'], env)).stdout.trim();
      await must(running, docker, ['exec', cid, 'sh', '-c', `mkdir /changes && i=0 && while [ $i -lt ${COMMIT_MIB} ]; do head -c 1048576 /dev/urandom > /changes/f$i; i=$((i+1)); done`], env);
      const diff = await series('diff', `${name} (docker diff)`, kind, WARMUPS, RUNS, () => d(['diff', cid]));
      lat.push(diff);
      if (!diff.skipped && diff.okMs.length) {
        const r = await d(['diff', cid]);
        if (!/^A \/changes$/m.test(r.stdout)) notes.push(`${name}: docker diff did not list "A /changes": ${JSON.stringify(r.stdout.slice(0, 200))}`);
      }
      let n = 0;
      const commitOnce = async () => {
        const tag = `ops-commit:${n++}`;
        const r = await d(['commit', cid, tag]);
        if (ok(r)) {
          const rmi = await d(['rmi', tag]);
          if (!ok(rmi)) notes.push(`${name}: docker rmi ${tag} failed: ${describe(rmi)}`);
        }
        return r;
      };
      lat.push(await series('commit', `${name} (docker commit)`, kind, 1, COMMIT_RUNS, commitOnce));
    });
    return info;
  } finally {
    // Our two containers go; anything else still there is a leftover and said so.
    const ps = await runTimed(running, docker, ['ps', '-a', '--format', '{{.ID}} {{.Names}}'], env, true);
    const all = ok(ps) ? ps.stdout.split('\n').filter(Boolean).map((l) => l.split(' ')) : [];
    const others = all.filter(([, n]) => !n?.startsWith(mine));
    if (!ok(ps) && !running.stopping) notes.push(`${name}: docker ps -a failed: ${describe(ps)}`);
    if (others.length) notes.push(`${name}: ${others.length} container(s) not made by this scenario: ${others.map(([i]) => i).join(' ')}; removing them`);
    if (all.length) {
      const rm = await runTimed(running, docker, ['rm', '-f', ...all.map(([i]) => i!)], env, true);
      if (!ok(rm)) notes.push(`${name}: docker rm -f failed: ${describe(rm)}`);
    }
    info.containersRemoved = all.length;
  }
}

/**
 * copies: CP_RUNS rounds of (tar -c | tar -x of the tree on the host; docker cp tree → ctr;
 * docker cp ctr → host), sync -f before each. The first round's copies are checked (file count
 * and bytes inside the container; the same and one file's contents on the way out).
 */
async function copies(name: string, kind: 'berthd' | 'dockerd', docker: string, env: NodeJS.ProcessEnv, sock: string, id: string, tmp: string, tree: Tree, running: Running, cps: Copy[]): Promise<void> {
  const tar: Copy = { direction: 'host', tool: `tar -c | tar -x (beside ${kind})`, kind: 'tar', beside: kind, bytes: tree.bytes, seconds: [], errors: 0 };
  const cin: Copy = { direction: 'in', tool: `${name} (docker cp)`, kind, bytes: tree.bytes, seconds: [], errors: 0 };
  const cout: Copy = { direction: 'out', tool: `${name} (docker cp)`, kind, bytes: tree.bytes, seconds: [], errors: 0 };

  // Does the daemon serve the archive API? A file that is in every container: 200 with a tar.
  const probe = await timedGet(sock, `/containers/${id}/archive?path=/etc/passwd`).catch((err: Error) => ({ status: 0, body: err.message, ms: 0 }));
  if (probe.status === 501 || probe.status === 404) {
    const why = `GET /containers/{id}/archive answered ${probe.status}${probe.body ? `: ${probe.body.trim().slice(0, 200)}` : ''}`;
    cin.skipped = why;
    cout.skipped = why;
    cps.push(cin, cout);
    return;
  }
  // In the results from here on, whatever happens below (a failed check throws).
  cps.push(tar, cin, cout);
  const fail = (c: Copy, r: RunResult) => {
    c.errors++;
    c.firstError ??= describe(r);
  };
  const settle = () => runTimed(running, 'sync', ['-f', tmp]);
  for (let i = 0; i < CP_RUNS; i++) {
    const host = join(tmp, `tar-${i}`);
    await mkdir(host);
    await settle();
    const t = await tarPipe(running, tree.path, host);
    if (ok(t)) tar.seconds.push(t.ms / 1000);
    else fail(tar, t);
    await rm(host, { recursive: true, force: true });

    await settle();
    const a = await runTimed(running, docker, ['cp', tree.path, `${id}:/cp-${i}`], env);
    if (!ok(a)) {
      const why = i === 0 ? unsupported(a) : null;
      if (why) {
        cin.skipped = why;
        cout.skipped = why;
        return;
      }
      fail(cin, a);
      continue;
    }
    cin.seconds.push(a.ms / 1000);
    if (i === 0) {
      const c = await must(running, docker, ['exec', id, 'sh', '-c', 'find /cp-0 -type f | wc -l; find /cp-0 -type f -exec cat {} + | wc -c'], env);
      const [files, bytes] = c.stdout.trim().split(/\s+/).map(Number);
      if (files !== tree.files || bytes !== tree.bytes) throw new Error(`${name}: after docker cp in, /cp-0 holds ${files} files of ${bytes} bytes; expected ${tree.files} of ${tree.bytes}`);
    }

    const out = join(tmp, `out-${i}`);
    await settle();
    const b = await runTimed(running, docker, ['cp', `${id}:/cp-${i}`, out], env);
    if (ok(b)) cout.seconds.push(b.ms / 1000);
    else fail(cout, b);
    if (ok(b) && i === 0) {
      const got = await walk(out);
      const sample = 'data/f042';
      const same = (await readFile(join(out, sample))).equals(await readFile(join(tree.path, sample)));
      if (got.files !== tree.files || got.bytes !== tree.bytes || !same) {
        throw new Error(`${name}: docker cp out gave ${got.files} files of ${got.bytes} bytes (expected ${tree.files} of ${tree.bytes})${same ? '' : `, ${sample} differs`}`);
      }
    }
    await rm(out, { recursive: true, force: true });
    await must(running, docker, ['exec', id, 'rm', '-rf', `/cp-${i}`], env);
  }
}

/** tarPipe: `tar -c -C src . | tar -x -C dst`, two processes joined by a pipe, timed from the first spawn to the last exit. */
function tarPipe(running: Running, src: string, dst: string): Promise<RunResult> {
  if (running.stopping) return Promise.reject(interrupted());
  return new Promise((resolve) => {
    const t0 = now();
    const c = spawn('tar', ['--numeric-owner', '-C', src, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const x = spawn('tar', ['--numeric-owner', '-C', dst, '-xf', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    running.tools.add(c);
    running.tools.add(x);
    c.stdout!.pipe(x.stdin!);
    x.stdin!.on('error', () => {}); // EPIPE if x dies first: its exit code says so
    let stderr = '';
    for (const p of [c, x]) p.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2_000)));
    const exit = (p: ChildProcess) =>
      new Promise<{ code: number | null; signal: string | null }>((res) => {
        p.once('error', (e) => {
          stderr += e.message;
          res({ code: null, signal: null });
        });
        p.once('exit', (code, signal) => res({ code, signal }));
      });
    void Promise.all([exit(c), exit(x)]).then(([a, b]) => {
      const ms = Number(now() - t0) / 1e6;
      running.tools.delete(c);
      running.tools.delete(x);
      const bad = a.code !== 0 ? a : b;
      resolve({ ms, code: a.code === 0 ? b.code : a.code, signal: bad.signal, timedOut: false, stdout: '', stderr });
    });
  });
}

async function walk(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const w = await walk(p);
      files += w.files;
      bytes += w.bytes;
    } else if (e.isFile()) {
      files++;
      bytes += (await stat(p)).size;
    }
  }
  return { files, bytes };
}

// ---------------------------------------------------------------------------------------------
// Summaries

function summarizeLatency(lat: readonly Latency[]) {
  const p50 = (l: Latency | undefined) => (l && l.okMs.length ? percentile([...l.okMs].sort((a, b) => a - b), 50) : NaN);
  return lat.map((l) => {
    const sorted = [...l.okMs].sort((a, b) => a - b);
    const base = lat.find((x) => x.op === l.op && x.kind === 'baseline');
    const dockerd = lat.find((x) => x.op === l.op && x.kind === 'dockerd');
    return {
      op: l.op,
      target: l.target,
      runs: l.runs,
      ok: l.okMs.length,
      errors: l.errors,
      skipped: l.skipped ?? null,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      minMs: sorted.length ? sorted[0]! : NaN,
      maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
      ratioToBaseline: base ? p50(l) / p50(base) : null,
      ratioToDockerd: dockerd && !dockerd.skipped ? p50(l) / p50(dockerd) : null,
      ms: l.okMs,
      warmupMs: l.warmMs,
    };
  });
}

function latencyRow(s: ReturnType<typeof summarizeLatency>[number]): Row {
  const ms = (x: number) => fmtUs(x * 1000);
  const ratio = fmtSmallRatio;
  return {
    op: s.op,
    target: s.target,
    runs: String(s.runs),
    p50: ms(s.p50Ms),
    p99: ms(s.p99Ms),
    min: ms(s.minMs),
    '÷ baseline': ratio(s.ratioToBaseline),
    '÷ dockerd': ratio(s.ratioToDockerd),
    errors: String(s.errors),
    note: s.skipped ? `skipped: ${s.skipped.slice(0, 90)}` : '',
  };
}

/** fmtRatio, with two significant digits below 0.1 (dockerd's 1 s stats answer makes berthd's 0.0038×, not 0.00×). */
function fmtSmallRatio(r: number | null): string {
  if (r === null || !Number.isFinite(r)) return '-';
  return r > 0 && r < 0.1 ? `${r.toPrecision(2)}×` : fmtRatio(r);
}

function summarizeCopies(cps: readonly Copy[]) {
  const median = (c: Copy | undefined) => (c && c.seconds.length ? percentile(c.seconds.map((s) => c.bytes / MB / s).sort((a, b) => a - b), 50) : NaN);
  return cps.map((c) => {
    const tar = c.kind === 'tar' ? undefined : cps.find((x) => x.kind === 'tar' && x.beside === c.kind);
    const dockerd = c.kind === 'tar' ? undefined : cps.find((x) => x.kind === 'dockerd' && x.direction === c.direction && !x.skipped);
    const mbps = c.seconds.map((s) => c.bytes / MB / s);
    return {
      direction: c.direction,
      tool: c.tool,
      bytes: c.bytes,
      skipped: c.skipped ?? null,
      errors: c.errors,
      medianMBps: median(c),
      bestMBps: mbps.length ? Math.max(...mbps) : NaN,
      medianSeconds: percentile([...c.seconds].sort((a, b) => a - b), 50),
      seconds: c.seconds,
      ratioToTar: tar ? median(c) / median(tar) : null,
      ratioToDockerd: dockerd ? median(c) / median(dockerd) : null,
    };
  });
}

function copyRow(s: ReturnType<typeof summarizeCopies>[number]): Row {
  const rate = (x: number) => (!Number.isFinite(x) ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const ratio = fmtSmallRatio;
  return {
    direction: s.direction,
    tool: s.tool,
    MB: (s.bytes / MB).toFixed(1),
    'MB/s median': rate(s.medianMBps),
    'MB/s best': rate(s.bestMBps),
    's median': Number.isFinite(s.medianSeconds) ? s.medianSeconds.toFixed(3) : '-',
    'runs (s)': s.seconds.length ? s.seconds.map((x) => x.toFixed(2)).join(' ') : '-',
    '÷ tar': ratio(s.ratioToTar),
    '÷ dockerd': ratio(s.ratioToDockerd),
    errors: String(s.errors),
    note: s.skipped ? `skipped: ${s.skipped.slice(0, 90)}` : '',
  };
}

// ---------------------------------------------------------------------------------------------
// The tree and the bundle

interface Tree {
  path: string;
  files: number;
  bytes: number;
}

/** makeTree: CP_FILES files of 1 MiB random data in data/, and a few small files (incompressible, the same size every run). */
async function makeTree(path: string): Promise<Tree> {
  await mkdir(join(path, 'data'), { recursive: true });
  await mkdir(join(path, 'small', 'sub'), { recursive: true });
  let bytes = 0;
  let files = 0;
  for (let i = 0; i < CP_FILES; i++) {
    const b = randomBytes(1 << 20);
    await writeFile(join(path, 'data', `f${String(i).padStart(3, '0')}`), b);
    bytes += b.length;
    files++;
  }
  for (const [name, size] of [['small/a', 100], ['small/b', 1_000], ['small/c', 4_096], ['small/sub/d', 10_000], ['small/sub/e', 0]] as const) {
    await writeFile(join(path, name), randomBytes(size));
    bytes += size;
    files++;
  }
  return { path, files, bytes };
}

