/**
 * Containers: the latency of `docker run --rm --network none busybox true` through a real
 * berthd, and the time of a batch of 32 such runs with 8 in flight, beside bare `runc run` of
 * a bundle holding the same busybox rootfs in the same run — and beside a reference dockerd,
 * when one is installed on the machine (Debian's docker.io: dockerd 20.10 with its own
 * containerd).
 *
 *   sequential  WARMUPS unmeasured runs, then SEQ_RUNS runs one after the other, each timed
 *               from the spawn of the CLI (docker, or runc) to its exit
 *   parallel    BATCH runs, PARALLEL at a time (each worker starts its next run when its
 *               previous one exits): the batch's wall time, and each run's own time
 *
 * The image is made here, from the host's static /bin/busybox (every applet a symlink to it),
 * tarred and `docker import`ed into each daemon under test; the runc bundle's rootfs is an
 * unpacked copy of the same tree with `runc spec`'s config (args ["true"], read-only root, a
 * new network namespace). Every daemon, runc state dir and log lives in the scenario's temp
 * dir; dockerd's few host paths (/run/docker, /run/containerd, its cgroup parent) are removed
 * afterwards when they did not exist before.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readdir, readFile, rmdir, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  cleanups,
  fmtRatio,
  fmtUs,
  get,
  now,
  percentile,
  removeTmp,
  spawnBerthd,
  stopChild,
  table,
  tryRun,
  waitForPing,
  which,
  type Row,
  type Scenario,
} from '../lib.js';

export const WARMUPS = 3;
export const SEQ_RUNS = 20;
export const BATCH = 32;
export const PARALLEL = 8;
/** One run (a CLI process) gets this long before it is killed and counted as an error. */
export const RUN_TIMEOUT_MS = 30_000;
/** A target stops measuring after this many failed runs, or this long: what it has is reported. */
export const MAX_ERRORS = 5;
const TARGET_BUDGET_S = 240;
/** dockerd's containerd namespaces and cgroup parent: ours alone, whatever else runs here. */
const NS = 'berth-bench';
const CG_PARENT = `berth-bench-dockerd-${process.pid}`;
/** runc container ids (and so, with runc spec's defaults, cgroup names): unique to this process. */
const RUNC_PREFIX = `berth-bench-${process.pid}-`;

export const CMD_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What is running now, so that a cleanup (Ctrl-C, or an error) can stop it by its pid. */
export interface Running {
  daemons: Set<ChildProcess>;
  tools: Set<ChildProcess>;
  /** Set when the cleanup starts (Ctrl-C): nothing new is spawned after that. */
  stopping: boolean;
}

export const interrupted = () => new Error('interrupted: the scenario is being cleaned up');

/** One run of a CLI: how long from spawn to exit, and how it ended. */
export interface RunResult {
  ms: number;
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** One row of the table: one target, one mode. Times in ms. */
export interface Measured {
  target: string;
  mode: 'sequential' | 'parallel';
  /** Runs attempted (excluding warm-ups). */
  runs: number;
  /** The times of the runs that exited 0. */
  okMs: number[];
  errors: number;
  firstError?: string;
  /** sequential: the whole loop; parallel: first spawn to last exit. */
  wallMs: number;
  /** Why the row has fewer runs than planned, if it has. */
  cut?: string;
}

/**
 * containerTools checks what a scenario that runs containers needs — root, the docker CLI,
 * runc and conmon — and says on stdout why it is skipped when something is missing.
 */
export async function containerTools(label: string): Promise<{ docker: string; runc: string; conmon: string } | { skipped: string }> {
  if (process.getuid?.() !== 0) {
    process.stdout.write(`${label}: skipped — berthd and runc need root: run the bench as root\n`);
    return { skipped: 'not root' };
  }
  const docker = (await lstat('/usr/local/bin/docker').then(() => '/usr/local/bin/docker', () => null)) ?? (await which('docker'));
  const runc = await which('runc');
  const conmon = await which('conmon');
  const missing = [!docker && 'docker (the CLI, /usr/local/bin/docker)', !runc && 'runc', !conmon && 'conmon'].filter(Boolean);
  if (missing.length || !docker || !runc || !conmon) {
    process.stdout.write(`${label}: skipped — not found: ${missing.join(', ')}\n`);
    return { skipped: `not found: ${missing.join(', ')}` };
  }
  return { docker, runc, conmon };
}

export const containers: Scenario = {
  name: 'containers',
  description: '`docker run --rm busybox true` through berthd (sequential latency, 32 runs 8 at a time) beside bare `runc run` and, when installed, dockerd',
  async run({ repo }) {
    const tools = await containerTools('CONTAINERS');
    if ('skipped' in tools) return tools;
    const { docker, runc } = tools;

    const { tmp, running, notes, printNotes, hostPaths } = await scenarioState('containers');
    // Runs once, whether called on Ctrl-C (via cleanups), in finally, or both: the second call
    // waits for the first. From its start nothing new is spawned.
    let cleaning: Promise<void> | null = null;
    const cleanup = () => (cleaning ??= cleanupOnce());
    const cleanupOnce = async () => {
      running.stopping = true;
      for (const t of [...running.tools]) await stopChild(t, 2_000);
      running.tools.clear();
      for (const d of [...running.daemons]) if (d.pid !== undefined) await stopChild(d, 30_000);
      running.daemons.clear();
      notes.push(...(await reapLeftovers(tmp, runc!)));
      if (hostPaths.current) notes.push(...(await hostPaths.current.restore()));
      hostPaths.current = null;
      await removeTmp(tmp);
    };
    cleanups.add(cleanup);
    try {
      const image = await makeImage(tmp, running);
      const measured: Measured[] = [];
      const targets: Record<string, unknown> = {};
      // A target that fails is reported and the others still run; the scenario fails only if none ran.
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

      // 1. Bare runc: the floor — namespaces, cgroups, pivot_root, mounts, exec `true`.
      await phase('runc', async () => {
        const bundle = await makeBundle(tmp, runc!, running);
        const state = join(tmp, 'runc-state');
        await mkdir(state);
        let seq = 0;
        const once = () => runTimed(running, runc!, [`--root=${state}`, 'run', '--bundle', bundle, `${RUNC_PREFIX}${seq++}`]);
        const r = await measureTarget('runc run', once);
        measured.push(...r.rows);
        notes.push(...(await leftoverRunc(runc!, state, 'bare runc')));
        return { version: tryRun(runc!, ['--version'])?.split('\n')[0], ...r.info };
      });

      // 2. berthd, started as graph starts it: all its state in its own dir, a unix socket.
      await phase('berthd', async () => {
        const dir = join(tmp, 'berthd');
        await mkdir(dir);
        const sock = join(dir, 's.sock');
        const t0 = Date.now();
        if (running.stopping) throw interrupted();
        const b = spawnBerthd(repo, dir, ['-H', `unix://${sock}`]);
        running.daemons.add(b.child);
        const log = watchLog(b.child);
        try {
          await waitForPing(b, sock);
          const startMs = Date.now() - t0;
          const r = await dockerTarget('berthd', docker!, sock, tmp, image, running, notes);
          measured.push(...r.rows);
          return { startMs, ...r.info, logLines: log.count() };
        } finally {
          await stopBenchBerthd(b.child, b.log, log, dir, runc!, running, notes);
        }
      });

      // 3. dockerd, if the machine has one: the same image, the same two measurements.
      await phase('dockerd', async () => {
        const dir = join(tmp, 'dockerd');
        const d = await startDockerd(dir, running);
        if ('skipped' in d) {
          process.stdout.write(`dockerd rows skipped: ${d.skipped}\n`);
          return { skipped: d.skipped };
        }
        hostPaths.current = d.hostPaths;
        try {
          const r = await dockerTarget(`dockerd ${d.version}`, docker!, d.sock, tmp, image, running, notes);
          measured.push(...r.rows);
          return { version: d.version, startMs: d.startMs, ...r.info };
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
      if (!measured.length) throw new Error(`no target could be measured:\n${notes.join('\n')}`);
      const summary = summarize(measured);
      const hasDockerd = summary.some((s) => s.target.startsWith('dockerd'));
      process.stdout.write(
        table(
          `CONTAINERS (busybox \`true\`, --network none; sequential: ${SEQ_RUNS} runs after ${WARMUPS} warm-ups, each timed from spawn to exit of the CLI; parallel: ${BATCH} runs, ${PARALLEL} at a time; ÷ = time over the baseline's — p50 for sequential, the batch's wall time for parallel; 2.00× takes twice as long)`,
          ['mode', 'target', 'runs', 'p50', 'p90', 'min', 'wall', 'runs/s', '÷ runc', ...(hasDockerd ? ['÷ dockerd'] : []), 'errors'],
          summary.map(toRow),
        ),
      );
      for (const m of measured) {
        if (m.cut) notes.push(`${m.target} ${m.mode}: ${m.cut}`);
        if (m.firstError) notes.push(`${m.target} ${m.mode}: ${m.errors} failed run(s); the first: ${m.firstError}`);
      }
      printNotes();
      return {
        image: { tarBytes: image.bytes, applets: image.applets },
        plan: { warmups: WARMUPS, sequential: SEQ_RUNS, batch: BATCH, parallel: PARALLEL, runTimeoutMs: RUN_TIMEOUT_MS },
        targets,
        summary,
        // The same array: what the cleanup below adds is in the results file too.
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

/** measureTarget: warm-ups, then the sequential row, then the parallel one, within the target's budget. */
async function measureTarget(target: string, once: () => Promise<RunResult>): Promise<{ rows: Measured[]; info: Record<string, unknown> }> {
  const started = Date.now();
  const overBudget = () => (Date.now() - started) / 1000 > TARGET_BUDGET_S;
  const warm: RunResult[] = [];
  for (let i = 0; i < WARMUPS; i++) {
    const r = await once();
    warm.push(r);
    if (!ok(r)) throw new Error(`${target}: warm-up run failed: ${describe(r)}`);
  }

  const s: Measured = { target, mode: 'sequential', runs: 0, okMs: [], errors: 0, wallMs: 0 };
  const s0 = now();
  for (let i = 0; i < SEQ_RUNS; i++) {
    if (s.errors >= MAX_ERRORS || overBudget()) {
      s.cut = `stopped after ${s.runs} runs (${s.errors >= MAX_ERRORS ? `${s.errors} errors` : `time budget ${TARGET_BUDGET_S} s`})`;
      break;
    }
    record(s, await once());
  }
  s.wallMs = Number(now() - s0) / 1e6;

  const p: Measured = { target, mode: 'parallel', runs: 0, okMs: [], errors: 0, wallMs: 0 };
  let next = 0;
  const p0 = now();
  const worker = async () => {
    while (next < BATCH && p.errors < MAX_ERRORS && !overBudget()) {
      next++;
      record(p, await once());
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  p.wallMs = Number(now() - p0) / 1e6;
  if (p.runs < BATCH) p.cut = `stopped after ${p.runs} runs (${p.errors >= MAX_ERRORS ? `${p.errors} errors` : `time budget ${TARGET_BUDGET_S} s`})`;
  return { rows: [s, p], info: { warmupMs: warm.map((r) => r.ms) } };
}

export function record(m: Measured, r: RunResult): void {
  m.runs++;
  if (ok(r)) m.okMs.push(r.ms);
  else {
    m.errors++;
    m.firstError ??= describe(r);
  }
}

export const ok = (r: RunResult) => r.code === 0 && !r.timedOut;

export function describe(r: RunResult): string {
  const how = r.timedOut ? `killed after ${RUN_TIMEOUT_MS / 1000} s` : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  return `${how}${r.stderr.trim() ? `: ${r.stderr.trim().slice(-600)}` : ''}`;
}

/**
 * runTimed runs one command, timed from spawn to its exit, killed (SIGKILL, by its pid) after
 * RUN_TIMEOUT_MS. stdout and stderr are kept (their tails) for checks and error messages. Once
 * the cleanup has begun it refuses, except for the cleanup's own commands (evenIfStopping).
 */
export function runTimed(running: Running, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv, evenIfStopping = false): Promise<RunResult> {
  if (running.stopping && !evenIfStopping) return Promise.reject(interrupted());
  return new Promise((resolve) => {
    const t0 = now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    running.tools.add(child);
    let stdout = '';
    let stderr = '';
    let ms = NaN;
    let timedOut = false;
    let settled = false;
    child.stdout!.on('data', (c: Buffer) => {
      if (stdout.length < 4096) stdout += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4_000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(child.pid!, 'SIGKILL');
      } catch {
        // ESRCH: it has just exited
      }
    }, RUN_TIMEOUT_MS);
    const done = (code: number | null, signal: string | null, err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      running.tools.delete(child);
      if (Number.isNaN(ms)) ms = Number(now() - t0) / 1e6;
      resolve({ ms, code, signal, timedOut, stdout, stderr: err ? `${err.message}\n${stderr}` : stderr });
    };
    child.once('error', (err) => done(null, null, err));
    child.once('exit', (code, signal) => {
      ms = Number(now() - t0) / 1e6;
      // 'close' follows when stdout and stderr are read to their end; should anything else
      // hold the pipes (it should not), give up waiting after 2 s.
      const late = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        done(code, signal);
      }, 2_000);
      child.once('close', () => {
        clearTimeout(late);
        done(code, signal);
      });
    });
  });
}

/** The figures of one row, as numbers (JSON); toRow formats them. Ratios are times over the baseline's. */
function summarize(measured: readonly Measured[]) {
  const base = (prefix: string, mode: Measured['mode']) => measured.find((m) => m.target.startsWith(prefix) && m.mode === mode);
  const p50 = (m: Measured | undefined) => (m && m.okMs.length ? percentile([...m.okMs].sort((a, b) => a - b), 50) : NaN);
  // sequential: the median run; parallel: the batch's wall time per successful run.
  const figure = (m: Measured | undefined) => (!m ? NaN : m.mode === 'sequential' ? p50(m) : m.okMs.length ? m.wallMs / m.okMs.length : NaN);
  return (['sequential', 'parallel'] as const).flatMap((mode) =>
    measured
      .filter((m) => m.mode === mode)
      .map((m) => {
        const sorted = [...m.okMs].sort((a, b) => a - b);
        const runc = base('runc', mode);
        const dockerd = base('dockerd', mode);
        return {
          mode,
          target: m.target,
          runs: m.runs,
          ok: m.okMs.length,
          errors: m.errors,
          p50Ms: percentile(sorted, 50),
          p90Ms: percentile(sorted, 90),
          minMs: sorted.length ? sorted[0]! : NaN,
          maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
          wallMs: m.wallMs,
          runsPerSec: m.okMs.length / (m.wallMs / 1000),
          ratioToRunc: runc ? figure(m) / figure(runc) : null,
          ratioToDockerd: dockerd ? figure(m) / figure(dockerd) : null,
          ms: m.okMs,
        };
      }),
  );
}

function toRow(s: ReturnType<typeof summarize>[number]): Row {
  const ms = (x: number) => fmtUs(x * 1000);
  return {
    mode: s.mode === 'sequential' ? 'sequential' : `${PARALLEL} parallel`,
    target: s.target,
    runs: String(s.runs),
    p50: ms(s.p50Ms),
    p90: ms(s.p90Ms),
    min: ms(s.minMs),
    wall: `${(s.wallMs / 1000).toFixed(2)} s`,
    'runs/s': s.runsPerSec.toFixed(1),
    '÷ runc': s.ratioToRunc === null ? '-' : fmtRatio(s.ratioToRunc),
    '÷ dockerd': s.ratioToDockerd === null ? '-' : fmtRatio(s.ratioToDockerd),
    errors: String(s.errors),
  };
}

// ---------------------------------------------------------------------------------------------
// The image and the bundle

export interface Image {
  tar: string;
  bytes: number;
  applets: number;
  /** The tree that was tarred (the runc bundle's rootfs is a copy of it). */
  rootfs: string;
}

/** makeImage builds a busybox rootfs from the host's static /bin/busybox and tars it. */
export async function makeImage(tmp: string, running: Running): Promise<Image> {
  const busybox = '/bin/busybox';
  const file = tryRun('file', ['-L', busybox]);
  if (file !== null && !/statically linked|static-pie/.test(file)) throw new Error(`${busybox} is not statically linked (${file}): install busybox-static`);
  const rootfs = join(tmp, 'rootfs');
  for (const d of ['bin', 'etc', 'dev', 'proc', 'sys', 'tmp', 'root', 'var']) await mkdir(join(rootfs, d), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await chmod(join(rootfs, 'root'), 0o700);
  await copyFile(busybox, join(rootfs, 'bin', 'busybox'));
  await chmod(join(rootfs, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list'], { timeout: 10_000 })
    .toString()
    .split('\n')
    .map((a) => a.trim())
    .filter((a) => a && a !== 'busybox' && !a.includes('/'));
  for (const a of applets) await symlink('busybox', join(rootfs, 'bin', a));
  await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  const tar = join(tmp, 'busybox.tar');
  await must(running, 'tar', ['-C', rootfs, '--numeric-owner', '-cf', tar, '.']);
  return { tar, bytes: (await stat(tar)).size, applets: applets.length, rootfs };
}

/**
 * makeBundle: an OCI bundle whose rootfs is an unpacked copy of the image's tree, config.json
 * from `runc spec` (its defaults: new pid, net, ipc, uts and mount namespaces, read-only root,
 * no seccomp) with args ["true"] and no terminal. Every run shares it under its own id.
 */
export async function makeBundle(tmp: string, runc: string, running: Running, args: string[] = ['true']): Promise<string> {
  const bundle = join(tmp, 'bundle');
  await mkdir(join(bundle, 'rootfs'), { recursive: true });
  await must(running, 'tar', ['-C', join(bundle, 'rootfs'), '--numeric-owner', '-xf', join(tmp, 'busybox.tar')]);
  await must(running, runc, ['spec', '--bundle', bundle]);
  const configPath = join(bundle, 'config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8')) as {
    process: { args: string[]; terminal: boolean };
    root: { path: string; readonly: boolean };
  };
  config.process.args = args;
  config.process.terminal = false;
  config.root.readonly = true; // shared by parallel runs
  await writeFile(configPath, JSON.stringify(config, null, 2));
  return bundle;
}

/** must runs a setup command (not measured) and throws with its stderr if it fails. */
export async function must(running: Running, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  const r = await runTimed(running, cmd, args, env);
  if (!ok(r)) throw new Error(`${cmd} ${args.join(' ')}: ${describe(r)}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// The daemons

/**
 * dockerTarget measures one daemon through the docker CLI: import the image, check that a
 * container runs and prints, then the two measurements; then checks that --rm left nothing.
 */
async function dockerTarget(name: string, docker: string, sock: string, tmp: string, image: Image, running: Running, notes: string[]) {
  const env = dockerEnv(sock, tmp);
  // Filled in as it goes; leftContainers by the finally, after the return value is made.
  const info: Record<string, unknown> = {};
  try {
    const imp = await must(running, docker, ['import', '--change', 'CMD ["sh"]', '--change', `ENV ${CMD_ENV}`, image.tar, 'busybox:latest'], env);
    const check = await must(running, docker, ['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo ok; cat /etc/passwd | wc -l'], env);
    if (check.stdout.replace(/\s+/g, ' ').trim() !== 'ok 2') throw new Error(`${name}: a test container printed ${JSON.stringify(check.stdout)}, expected "ok\\n2\\n"`);
    info.importMs = imp.ms;
    const m = await measureTarget(`${name} (docker run)`, () => runTimed(running, docker, ['run', '--rm', '--network', 'none', 'busybox', 'true'], env));
    Object.assign(info, m.info);
    return { rows: m.rows, info };
  } finally {
    // On every path, before the daemon is stopped: --rm should have left nothing; rm -f what is
    // there. (Also while interrupted: the daemon may be going away then, and these just fail.)
    const ps = await runTimed(running, docker, ['ps', '-aq', '--no-trunc'], env, true);
    const left = ok(ps) ? ps.stdout.split('\n').filter(Boolean) : [];
    info.leftContainers = left.length;
    if (!ok(ps) && !running.stopping) notes.push(`${name}: docker ps -a failed: ${describe(ps)}`);
    if (left.length) {
      notes.push(`${name}: ${left.length} container(s) left after the runs (all were --rm): ${left.map((id) => id.slice(0, 12)).join(' ')}; removing them`);
      const rm = await runTimed(running, docker, ['rm', '-f', ...left], env, true);
      if (!ok(rm)) notes.push(`${name}: docker rm -f failed: ${describe(rm)}`);
    }
  }
}

/** dockerEnv: the CLI's config in the temp dir — it never reads or writes ~/.docker, and no context applies. */
export function dockerEnv(sock: string, tmp: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
  for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_API_VERSION']) delete env[k];
  return env;
}

/**
 * scenarioState is what every container scenario keeps while it runs: its temp dir, the
 * processes it started (for the clean-up), notes printed as they come, and the host paths a
 * reference dockerd makes outside its dirs.
 */
export async function scenarioState(name: string) {
  const tmp = await mkdtemp(join(tmpdir(), `berth-bench-${name}-`));
  const running: Running = { daemons: new Set(), tools: new Set(), stopping: false };
  const notes: string[] = [];
  let printed = 0;
  const printNotes = () => {
    for (const n of notes.slice(printed)) process.stdout.write(`note: ${n}\n`);
    printed = notes.length;
  };
  const hostPaths: { current: HostPaths | null } = { current: null };
  return { tmp, running, notes, printNotes, hostPaths };
}

/**
 * stopBenchBerthd ends a scenario's berthd by its pid and notes what went wrong: its exit, its
 * log, what it left. Resolves with how long the stop itself took (ms).
 */
export async function stopBenchBerthd(child: ChildProcess, berthLog: () => string, log: ReturnType<typeof watchLog>, dir: string, runc: string, running: Running, notes: string[]): Promise<number> {
  const t0 = Date.now();
  const exit = await stopChild(child, 30_000);
  const ms = Date.now() - t0;
  running.daemons.delete(child);
  if (exit !== 0) notes.push(`berthd exited with ${exit} on SIGTERM (expected 0):\n${berthLog()}`);
  notes.push(...log.notes('berthd'));
  notes.push(...(await reapLeftovers(dir, runc, 'after berthd stopped')));
  return ms;
}

/** watchLog counts a daemon's error and warning lines (logfmt `level=…`) and keeps a few distinct ones. */
export function watchLog(child: ChildProcess) {
  let partial = '';
  let errors = 0;
  let warnings = 0;
  const kept = new Map<string, number>();
  child.stderr!.on('data', (c: Buffer) => {
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const level = /level=(error|warning|fatal)/.exec(line)?.[1];
      if (!level) continue;
      if (level === 'warning') warnings++;
      else errors++;
      // Kept by message, with the times and pids inside it (dockerd quotes its shims' logs) blanked.
      const text = /msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line;
      const msg = `${level}: ${text.replace(/time=\\"[^\\]*\\"/g, 'time=…').replace(/\bpid=\d+/g, 'pid=…')}`.slice(0, 300);
      if (kept.has(msg) || kept.size < 8) kept.set(msg, (kept.get(msg) ?? 0) + 1);
    }
  });
  return {
    count: () => ({ errors, warnings }),
    notes: (name: string) => (kept.size ? [`${name} logged ${errors} error and ${warnings} warning line(s):\n${[...kept].map(([m, n]) => `    ${n} × ${m}`).join('\n')}`] : []),
  };
}

export interface Dockerd {
  child: ChildProcess;
  sock: string;
  version: string;
  startMs: number;
  log(): string;
  hostPaths: HostPaths;
}

/**
 * startDockerd starts the machine's dockerd with everything it can keep there in dir: data
 * root, exec root (its containerd's state and socket, runc's state), pidfile, socket, config
 * file, trust key; bridge, iptables and masquerading off (with opts.bridge, dockerd's defaults
 * instead — docker0, its DOCKER* chains, masquerading, the userland proxy — and the caller
 * removes what dockerd leaves of them on the host: see network.ts); containers under our own
 * cgroup parent, in our own containerd namespace. dockerd 20.10 starts its own containerd when
 * none runs at /run/containerd/containerd.sock — if one does, dockerd would use it, so we skip.
 */
export async function startDockerd(dir: string, running: Running, opts: { bridge?: boolean } = {}): Promise<Dockerd | { skipped: string }> {
  const dockerd = await which('dockerd');
  if (!dockerd) return { skipped: 'dockerd is not in PATH' };
  if (!(await which('containerd'))) return { skipped: 'containerd is not in PATH (dockerd needs it to start its own)' };
  if (await lstat('/run/containerd/containerd.sock').then(() => true, () => false)) {
    return { skipped: 'a containerd runs at /run/containerd/containerd.sock: dockerd would use it instead of its own' };
  }
  const versionLine = tryRun(dockerd, ['--version']) ?? '';
  const version = /version ([^\s,]+)/i.exec(versionLine)?.[1] ?? 'unknown';
  const major = Number(version.split('.')[0]);

  await mkdir(dir);
  const sock = join(dir, 'd.sock');
  // Without a config file dockerd reads /etc/docker/daemon.json; up to 23 it keeps its trust key
  // where `deprecated-key-path` says (else /etc/docker/key.json), a key later versions reject.
  const config = major > 0 && major <= 23 ? { 'deprecated-key-path': join(dir, 'key.json') } : {};
  await writeFile(join(dir, 'daemon.json'), JSON.stringify(config));
  const hostPaths = await HostPaths.snapshot();
  const argv = [
    '--config-file', join(dir, 'daemon.json'),
    '--data-root', join(dir, 'root'),
    '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'pid'),
    '-H', `unix://${sock}`,
    ...(opts.bridge ? [] : ['--bridge', 'none', '--iptables=false', '--ip-masq=false']),
    '--containerd-namespace', NS,
    '--containerd-plugins-namespace', `${NS}-plugins`,
    '--exec-opt', 'native.cgroupdriver=cgroupfs',
    '--cgroup-parent', `/${CG_PARENT}`,
  ];
  const t0 = Date.now();
  if (running.stopping) throw interrupted();
  const child = spawn(dockerd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.daemons.add(child);
  let log = '';
  child.stderr!.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-8_000);
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const deadline = Date.now() + 60_000;
  let why = '';
  while (!why) {
    if (child.exitCode !== null || child.signalCode !== null) why = `it exited (${child.exitCode ?? child.signalCode}) before answering /_ping`;
    else if (Date.now() > deadline) why = 'it did not answer /_ping within 60 s';
    else {
      const r = await Promise.race([get(sock, '/_ping').catch(() => null), spawnError.then((e) => e)]);
      if (r instanceof Error) why = `spawn: ${r.message}`;
      else if (r?.status === 200) {
        return { child, sock, version, startMs: Date.now() - t0, log: () => log, hostPaths };
      } else await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  // It failed: stop it by its pid, put the host back, and say why.
  await stopChild(child, 30_000);
  running.daemons.delete(child);
  const restored = await hostPaths.restore();
  return { skipped: `dockerd ${version} failed to start: ${why}${restored.length ? `\n${restored.join('\n')}` : ''}\n${log.split('\n').slice(-12).join('\n')}` };
}

/**
 * HostPaths: what dockerd may create outside its own dirs whatever its flags say. snapshot()
 * notes which of them exist; restore() removes those that did not and do now — a created file
 * only if it is the trust key, a created directory only if it holds nothing but directories
 * (or, for a cgroup, no processes). What it cannot remove it reports.
 */
export class HostPaths {
  private constructor(private readonly before: Set<string>) {}

  private static async candidates(): Promise<string[]> {
    const cg = '/sys/fs/cgroup';
    const hierarchies = (await readdir(cg, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => join(cg, e.name));
    return [
      '/etc/docker/key.json',
      '/etc/docker',
      '/run/docker',
      '/run/containerd',
      '/var/lib/docker',
      '/var/lib/containerd',
      ...[cg, ...hierarchies].flatMap((h) => [join(h, 'docker'), join(h, CG_PARENT)]),
    ];
  }

  static async snapshot(): Promise<HostPaths> {
    const present = new Set<string>();
    for (const p of await HostPaths.candidates()) if (await exists(p)) present.add(p);
    return new HostPaths(present);
  }

  private restoring: Promise<string[]> | null = null;

  /**
   * restore removes what appeared since the snapshot; it returns one line per path it found.
   * It runs once: a second call (a cleanup racing the normal path) waits for it and returns [].
   */
  async restore(): Promise<string[]> {
    if (this.restoring) return this.restoring.then(() => []);
    this.restoring = this.restoreOnce();
    return this.restoring;
  }

  private async restoreOnce(): Promise<string[]> {
    const out: string[] = [];
    const removed: string[] = [];
    for (const p of await HostPaths.candidates()) {
      if (this.before.has(p) || !(await exists(p))) continue;
      const st = await lstat(p);
      try {
        if (!st.isDirectory()) {
          if (p !== '/etc/docker/key.json') throw new Error('a file other than the trust key');
          await unlink(p);
        } else if (p.startsWith('/sys/fs/cgroup/')) await rmdirCgroups(p);
        else await rmdirTree(p);
        removed.push(p);
      } catch (err) {
        out.push(`dockerd created ${p}: left in place (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    // One line for what went well: the cgroup dirs grouped by name (one per hierarchy).
    const cgroups = new Map<string, number>();
    for (const p of removed) if (p.startsWith('/sys/fs/cgroup/')) cgroups.set(basename(p), (cgroups.get(basename(p)) ?? 0) + 1);
    const listed = [...removed.filter((p) => !p.startsWith('/sys/fs/cgroup/')), ...[...cgroups].map(([name, n]) => `cgroup ${name} (${n} hierarchies)`)];
    if (listed.length) out.unshift(`dockerd created outside its dirs, removed after it stopped: ${listed.join(', ')}`);
    return out;
  }
}

export async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}

/** rmdirTree removes a tree of empty directories, deepest first; it fails on anything else. */
async function rmdirTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) throw new Error(`it holds ${join(dir, e.name)}`);
    await rmdirTree(join(dir, e.name));
  }
  await rmdir(dir);
}

/** rmdirCgroups removes a cgroup and its children, deepest first (the kernel refuses one with processes). */
async function rmdirCgroups(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) await rmdirCgroups(join(dir, e.name));
  await rmdir(dir);
}

// ---------------------------------------------------------------------------------------------
// Leftovers

/** leftoverRunc deletes (runc delete -f) any container still in a runc state dir, and says so. */
async function leftoverRunc(runc: string, root: string, owner: string): Promise<string[]> {
  const ids = (await readdir(root, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name);
  const out: string[] = [];
  for (const id of ids) {
    const r = tryRun(runc, [`--root=${root}`, 'delete', '-f', id]);
    out.push(`${owner}: container ${id} was still in runc's state (${root}): runc delete -f ${r === null ? 'failed' : 'done'}`);
  }
  return out;
}

/**
 * reapLeftovers finds processes whose command line names a path under dir (conmon, runc,
 * containerd, shims — all started for this scenario, since dir is its own temp dir), stops
 * them by pid, deletes any runc container left in a state dir under it, and removes the bare
 * runs' cgroups that runc left behind. Called once the daemons are stopped; it returns notes.
 */
export async function reapLeftovers(dir: string, runc: string, when = 'at cleanup'): Promise<string[]> {
  const out: string[] = [];
  for (const root of [join(dir, 'runc-state'), join(dir, 'exec', 'runc'), join(dir, 'berthd', 'exec', 'runc'), join(dir, 'exec', 'runtime-runc', NS), join(dir, 'dockerd', 'exec', 'runtime-runc', NS)]) {
    if (await exists(root)) out.push(...(await leftoverRunc(runc, root, when)));
  }
  const procs = await processesNaming(dir);
  for (const p of procs) {
    out.push(`${when}: process ${p.pid} still running: ${p.cmd.slice(0, 200)}; sending SIGTERM`);
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {
      // gone already
    }
  }
  if (procs.length) {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    for (const p of await processesNaming(dir)) {
      out.push(`${when}: process ${p.pid} survived SIGTERM: SIGKILL`);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  const cg = '/sys/fs/cgroup';
  for (const h of [cg, ...(await readdir(cg).catch(() => [])).map((n) => join(cg, n))]) {
    for (const name of await readdir(h).catch(() => [] as string[])) {
      if (!name.startsWith(RUNC_PREFIX)) continue;
      await rmdirCgroups(join(h, name)).then(
        () => out.push(`${when}: removed cgroup ${join(h, name)} left by a bare runc run`),
        (err: Error) => out.push(`${when}: cgroup ${join(h, name)} left in place: ${err.message}`),
      );
    }
  }
  return out;
}

/** processesNaming lists the processes (not this one) whose command line contains a path under dir. */
async function processesNaming(dir: string): Promise<{ pid: number; cmd: string }[]> {
  const out: { pid: number; cmd: string }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(`${dir}/`)) out.push({ pid: Number(name), cmd: cmd.split('\0').join(' ').trim() });
  }
  return out;
}
