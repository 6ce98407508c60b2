/**
 * Graph: import and save of a ~100 MB layer through a real berthd, in MB/s, beside GNU tar
 * doing the same work on the same files in the same run.
 *
 *   import  POST /images/create?fromSrc=- with the layer tarball as the body (as `docker
 *           import` sends it) — berthd reads the tar, hashes it (the diffID), extracts it into
 *           a layer directory and records its tar-split — vs `tar -xf layer.tar -C <fresh dir>`
 *   save    GET /images/<name>/get, read fully and discarded — berthd rebuilds the layer tar
 *           from its tar-split and the files and wraps it in an image archive — vs
 *           `tar -cf - -C <extracted dir> .` into a pipe that node counts
 *   hash    `sha256sum layer.tar`, and the same in this node process (node:crypto, which uses the
 *           CPU's SHA instructions where coreutils may not): the hashing that berthd's import
 *           pays on top of extracting
 *
 * berthd runs with its default graph driver (overlay2 where the kernel has it), then, if the
 * scenario is still within its time budget, once more with -s vfs. In each pass tar and berthd
 * alternate run by run, and each berthd row is compared with the tar runs beside it. Requests
 * go over a unix socket; berthd keeps all its state in the scenario's temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { cleanups, fmtRatio, now, percentile, removeTmp, spawnBerthd, stopChild, table, waitForPing, type Row, type Scenario } from '../lib.js';

const RUNS = 3;
/** The whole scenario should stay under this; the vfs pass runs only if it fits. */
const BUDGET_S = 90;
const BIG_FILES = 90; // × 1 MiB of random data
const SMALL_FILES = 2_000; // 1–8 KiB each
const SMALL_DIRS = 10;
const SYMLINKS = 20;

/** One row of the table: the same operation run RUNS times by one tool. */
interface Measured {
  operation: 'import' | 'save' | 'hash';
  tool: string;
  /** Bytes moved per run: the tarball for import/hash, the archive for save. */
  bytes: number[];
  seconds: number[];
}

/** What is running now (berthd, or a tar/sha256sum/sync child), so cleanup can stop it. */
interface Running {
  daemon: ChildProcess | null;
  tool: ChildProcess | null;
}

const MB = 1e6;

export const graph: Scenario = {
  name: 'graph',
  description: 'import and save of a ~100 MB layer through berthd (MB/s) vs GNU tar on the same files',
  async run({ repo }) {
    if (process.getuid?.() !== 0) {
      process.stdout.write('GRAPH: skipped — berthd needs root: run the bench as root\n');
      return { skipped: 'not root' };
    }
    const started = Date.now();
    const tmp = await mkdtemp(join(tmpdir(), 'berth-bench-graph-'));
    const running: Running = { daemon: null, tool: null };
    // Idempotent: called on Ctrl-C (via cleanups) and in finally.
    const cleanup = async () => {
      if (running.tool) await stopChild(running.tool, 5_000);
      running.tool = null;
      if (running.daemon) await stopChild(running.daemon, 20_000);
      running.daemon = null;
      await removeTmp(tmp);
    };
    cleanups.add(cleanup);
    try {
      const layer = await makeLayer(tmp, running);

      // The hashing references first: they only read the tarball (from the page cache).
      const sha: Measured = { operation: 'hash', tool: 'sha256sum', bytes: [], seconds: [] };
      let layerDigest = '';
      for (let i = 1; i <= RUNS; i++) {
        await settle(running, tmp);
        const r = await timeChild(running, 'sha256sum', [layer.path], true);
        sha.seconds.push(r.seconds);
        sha.bytes.push(layer.bytes);
        layerDigest = `sha256:${r.stdout.split(' ')[0]}`;
      }
      // berthd hashes with node:crypto, which may be much faster than coreutils: measure both.
      const nodeSha: Measured = { operation: 'hash', tool: 'node sha256', bytes: [], seconds: [] };
      for (let i = 1; i <= RUNS; i++) {
        await settle(running, tmp);
        const t0 = now();
        const h = createHash('sha256');
        for await (const c of createReadStream(layer.path)) h.update(c as Buffer);
        if (`sha256:${h.digest('hex')}` !== layerDigest) throw new Error('node:crypto and sha256sum disagree on the layer digest');
        nodeSha.seconds.push(Number(now() - t0) / 1e9);
        nodeSha.bytes.push(layer.bytes);
      }

      // One unmeasured extraction: it warms the page cache and tar itself, and is the tree that
      // `tar -c` archives in every pass (the same files berthd's save reads back).
      const ref = join(tmp, 'ref');
      await mkdir(ref);
      await timeChild(running, 'tar', ['-xf', layer.path, '-C', ref]);

      // berthd with its default driver, then with vfs if that is another driver and time allows.
      const passes: Pass[] = [];
      const first = await berthdPass(repo, join(tmp, 'berthd-default'), [], layer, layerDigest, ref, running);
      passes.push(first);
      let vfsSkipped = '';
      const elapsed = (Date.now() - started) / 1000;
      if (first.driver === 'vfs') vfsSkipped = 'the default driver is vfs already';
      else if (elapsed + first.seconds > BUDGET_S) vfsSkipped = `time budget: ${elapsed.toFixed(0)} s spent, a vfs pass takes about ${first.seconds.toFixed(0)} s more, budget ${BUDGET_S} s`;
      else passes.push(await berthdPass(repo, join(tmp, 'berthd-vfs'), ['-s', 'vfs'], layer, layerDigest, ref, running));
      await rm(ref, { recursive: true, force: true });

      // Each berthd row is compared with the tar runs interleaved with it (a tar row is 1.00×).
      const summary = [
        ...passes.flatMap((p) => [summarize(p.imports, p.tarX), summarize(p.tarX, p.tarX)]),
        ...passes.flatMap((p) => [summarize(p.saves, p.tarC), summarize(p.tarC, p.tarC)]),
        summarize(sha, null),
        summarize(nodeSha, null),
      ];
      process.stdout.write(
        table(
          `GRAPH (layer ${(layer.bytes / MB).toFixed(1)} MB: ${BIG_FILES} × 1 MiB random + ${SMALL_FILES} files of 1–8 KiB + ${SYMLINKS} symlinks; ${RUNS} runs each, tar and berthd alternating; MB = 10^6 B; ÷ tar = median MB/s over that of the tar runs beside it)`,
          ['operation', 'tool', 'MB', 'MB/s median', 'MB/s best', 's median', 'runs (s)', '÷ tar'],
          summary.map(toRow),
        ),
      );
      if (vfsSkipped) process.stdout.write(`vfs pass skipped: ${vfsSkipped}\n`);
      for (const p of passes) if (p.exit !== 0) process.stdout.write(`note: berthd (${p.driver}) exited with ${p.exit} on SIGTERM (expected 0)\n${p.log}\n`);
      return {
        layer: { bytes: layer.bytes, digest: layerDigest, bigFiles: BIG_FILES, smallFiles: SMALL_FILES, symlinks: SYMLINKS },
        runs: RUNS,
        drivers: passes.map((p) => p.driver),
        vfsSkipped: vfsSkipped || undefined,
        berthd: passes.map((p) => ({ driver: p.driver, startMs: p.startMs, exit: p.exit, passSeconds: p.seconds })),
        summary,
      };
    } finally {
      cleanups.delete(cleanup);
      await cleanup();
    }
  },
};

/** The figures of one row, as numbers (JSON) — toRow formats them for the table. */
function summarize(m: Measured, tar: Measured | null) {
  const mbps = m.seconds.map((s, i) => m.bytes[i]! / MB / s);
  const medianMBps = percentile([...mbps].sort((a, b) => a - b), 50);
  const tarMBps = tar ? percentile(tar.seconds.map((s, i) => tar.bytes[i]! / MB / s).sort((a, b) => a - b), 50) : NaN;
  return {
    operation: m.operation,
    tool: m.tool,
    bytes: m.bytes[0]!,
    medianMBps,
    bestMBps: Math.max(...mbps),
    medianSeconds: percentile([...m.seconds].sort((a, b) => a - b), 50),
    seconds: m.seconds,
    ratioToTar: tar ? medianMBps / tarMBps : null,
  };
}

function toRow(s: ReturnType<typeof summarize>): Row {
  const rate = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  return {
    operation: s.operation,
    tool: s.tool,
    MB: (s.bytes / MB).toFixed(1),
    'MB/s median': rate(s.medianMBps),
    'MB/s best': rate(s.bestMBps),
    's median': s.medianSeconds.toFixed(3),
    'runs (s)': s.seconds.map((x) => x.toFixed(2)).join(' '),
    '÷ tar': s.ratioToTar === null ? '-' : fmtRatio(s.ratioToTar),
  };
}

interface Layer {
  path: string;
  bytes: number;
}

/**
 * makeLayer writes the source tree and tars it with GNU tar. Random contents: incompressible and
 * all different, so nothing can shortcut the copy. Small-file sizes are fixed (not random) so
 * the layer has the same size in every run.
 */
async function makeLayer(tmp: string, running: Running): Promise<Layer> {
  const src = join(tmp, 'src');
  // small/d0…d9/e0…e1: file i goes round the 20 leaf directories.
  const smallPath = (i: number) => `small/d${i % SMALL_DIRS}/e${Math.floor(i / SMALL_DIRS) % 2}/f${i}.dat`;
  await mkdir(join(src, 'big'), { recursive: true });
  for (let i = 0; i < BIG_FILES; i++) await writeFile(join(src, 'big', `blob${i}.bin`), randomBytes(1 << 20));
  // Two levels of directories: the per-file costs (header, open, chown, utimes) dominate here.
  for (let d = 0; d < SMALL_DIRS; d++) for (let e = 0; e < 2; e++) await mkdir(join(src, 'small', `d${d}`, `e${e}`), { recursive: true });
  for (let i = 0; i < SMALL_FILES; i++) {
    const size = 1024 + ((i * 7919) % 7169); // 1 KiB … 8 KiB
    await writeFile(join(src, smallPath(i)), randomBytes(size));
  }
  // Relative symlinks to files and to a directory, plus one dangling (a layer may have those).
  await mkdir(join(src, 'links'));
  for (let i = 0; i < SYMLINKS - 2; i++) await symlink(`../${smallPath(i)}`, join(src, 'links', `l${i}`));
  await symlink('../big', join(src, 'links', 'bigdir'));
  await symlink('nowhere', join(src, 'links', 'dangling'));
  const path = join(tmp, 'layer.tar');
  await timeChild(running, 'tar', ['--numeric-owner', '-cf', path, '-C', src, '.']);
  await rm(src, { recursive: true, force: true });
  return { path, bytes: (await stat(path)).size };
}

/**
 * settle flushes dirty pages of the temp dir's filesystem before a measured run (not timed):
 * otherwise the previous run's 100 MB of writeback would land in whichever run comes next.
 */
async function settle(running: Running, tmp: string): Promise<void> {
  await timeChild(running, 'sync', ['-f', tmp]);
}

/** timeChild runs one command to its end and times it; optionally counts (and keeps the start of) its stdout. */
async function timeChild(running: Running, cmd: string, args: string[], readStdout = false): Promise<{ seconds: number; stdoutBytes: number; stdout: string }> {
  const t0 = now();
  const child = spawn(cmd, args, { stdio: ['ignore', readStdout ? 'pipe' : 'ignore', 'pipe'] });
  running.tool = child;
  let stdoutBytes = 0;
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdoutBytes += c.length;
    if (stdout.length < 4096) stdout += c.toString('latin1');
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4_000);
  });
  // 'close', not 'exit': stdout has then been read to its end.
  const code = await new Promise<number | string | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, sig) => resolve(c ?? sig));
  }).finally(() => {
    running.tool = null;
  });
  const seconds = Number(now() - t0) / 1e9;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${stderr}`);
  return { seconds, stdoutBytes, stdout };
}

/** call does one request over the unix socket; it counts the whole answer and keeps its first 64 KiB as text. */
function call(sock: string, method: string, path: string, bodyFile?: string): Promise<{ status: number; bytes: number; text: string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    // No Content-Length: the body goes chunked, as the docker CLI sends an import.
    const headers = bodyFile ? { 'Content-Type': 'text/plain' } : {};
    const req = request({ socketPath: sock, method, path, headers, agent: false }, (res) => {
      let bytes = 0;
      const kept: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (bytes < 65_536) kept.push(c);
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, text: Buffer.concat(kept).toString().slice(0, 65_536), seconds: Number(now() - t0) / 1e9 }));
      res.on('error', reject);
    });
    // No time limit but an idle one: a 100 MB import may take a while on a slow disk.
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: no progress for 60 s`)));
    req.on('error', reject);
    if (bodyFile) pipeline(createReadStream(bodyFile), req).catch((err: Error) => req.destroy(err));
    else req.end();
  });
}

interface Pass {
  driver: string;
  imports: Measured;
  saves: Measured;
  /** The tar runs interleaved with this pass's imports and saves. */
  tarX: Measured;
  tarC: Measured;
  startMs: number;
  exit: number | string | null;
  log: string;
  /** Wall time of the whole pass, start to stop: what another pass would cost. */
  seconds: number;
}

/**
 * berthdPass starts one berthd (its own dir, a unix socket) and, run by run, alternates tar
 * with berthd — tar -x then an import, tar -c then a save — so that whatever the host does
 * meanwhile hits both alike (file creation costs swing widely on a shared host). The image is
 * deleted between imports so every run extracts a fresh layer; the saves read the last one.
 * Then it stops berthd by its pid and removes its dir.
 */
async function berthdPass(repo: string, dir: string, args: string[], layer: Layer, layerDigest: string, ref: string, running: Running): Promise<Pass> {
  const t0 = Date.now();
  await mkdir(dir);
  const sock = join(dir, 's.sock');
  const b = spawnBerthd(repo, dir, ['-H', `unix://${sock}`, ...args]);
  running.daemon = b.child;
  await waitForPing(b, sock);
  const startMs = Date.now() - t0;
  const info = await call(sock, 'GET', '/info');
  const driver = (JSON.parse(info.text) as { Driver: string }).Driver;
  const tool = `berthd ${driver}`;

  const imports: Measured = { operation: 'import', tool, bytes: [], seconds: [] };
  const tarX: Measured = { operation: 'import', tool: `tar -x (beside ${driver})`, bytes: [], seconds: [] };
  for (let i = 1; i <= RUNS; i++) {
    const x = join(dir, `x${i}`);
    await mkdir(x);
    await settle(running, dir);
    tarX.seconds.push((await timeChild(running, 'tar', ['-xf', layer.path, '-C', x])).seconds);
    tarX.bytes.push(layer.bytes);
    await rm(x, { recursive: true, force: true });

    await settle(running, dir);
    const r = await call(sock, 'POST', `/images/create?fromSrc=-&repo=bench%3A${i}`, layer.path);
    const id = /"status":"(sha256:[0-9a-f]{64})"/.exec(r.text)?.[1];
    if (r.status !== 200 || !id) throw new Error(`berthd (${driver}) import answered ${r.status}: ${r.text.slice(0, 500)}`);
    imports.seconds.push(r.seconds);
    imports.bytes.push(layer.bytes);
    // Sanity, once: the layer's diffID is the sha256 of the tarball, as sha256sum computed it.
    if (i === 1) {
      const inspect = await call(sock, 'GET', `/images/bench:${i}/json`);
      const diffID = (JSON.parse(inspect.text) as { RootFS?: { Layers?: string[] } }).RootFS?.Layers?.[0];
      if (diffID !== layerDigest) throw new Error(`berthd (${driver}) stored diffID ${diffID}, sha256sum says ${layerDigest}`);
    }
    if (i < RUNS) {
      const del = await call(sock, 'DELETE', `/images/bench:${i}?force=1`);
      if (del.status !== 200) throw new Error(`berthd (${driver}) DELETE /images/bench:${i} answered ${del.status}: ${del.text.slice(0, 500)}`);
    }
  }

  const saves: Measured = { operation: 'save', tool, bytes: [], seconds: [] };
  const tarC: Measured = { operation: 'save', tool: `tar -c (beside ${driver})`, bytes: [], seconds: [] };
  for (let i = 1; i <= RUNS; i++) {
    await settle(running, dir);
    // Into a pipe, not -f /dev/null: GNU tar skips reading the file contents for /dev/null.
    const c = await timeChild(running, 'tar', ['-cf', '-', '-C', ref, '.'], true);
    tarC.seconds.push(c.seconds);
    tarC.bytes.push(c.stdoutBytes);

    await settle(running, dir);
    const r = await call(sock, 'GET', `/images/bench:${RUNS}/get`);
    // The archive holds the whole layer plus config and manifests: anything shorter is an error.
    if (r.status !== 200 || r.bytes < layer.bytes) throw new Error(`berthd (${driver}) save answered ${r.status} with ${r.bytes} B: ${r.text.slice(0, 500)}`);
    saves.seconds.push(r.seconds);
    saves.bytes.push(r.bytes);
  }

  const exit = await stopChild(b.child, 20_000);
  running.daemon = null;
  await removeTmp(dir);
  return { driver, imports, saves, tarX, tarC, startMs, exit, log: b.log(), seconds: (Date.now() - t0) / 1000 };
}
