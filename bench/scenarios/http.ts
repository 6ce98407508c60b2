/**
 * HTTP: requests per second for GET /_ping and GET /version through a real berthd, beside a
 * bare node:http server answering the same paths with the same bytes, in the same run.
 *
 * Both servers are child processes, so neither shares an event loop with the load generator
 * (wrk, one thread, 64 keep-alive connections). Runs alternate bare, berthd, bare, berthd …
 * for each path, so a drift of the machine (thermal, a noisy neighbour) hits both alike.
 * Load goes to 127.0.0.1 only.
 *
 * berthd answers both paths in its api worker without an engine round trip (/version from a
 * cache filled once by the `version` job), so the gap to the bare server is the cost of its
 * router, middleware and headers, plus the main thread and other actors sharing the cores.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cleanups, fmtInt, fmtRatio, fmtUs, get, mean, removeTmp, spawnBerthd, stopChild, table, waitForPing, which, type Row, type Scenario } from '../lib.js';

const run = promisify(execFile);

const CONNECTIONS = 64;
const DURATION_S = 5;
const WARMUP_S = 1;
const ROUNDS = 2;
const PATHS = ['/_ping', '/version'] as const;

type ServerName = 'bare' | 'berthd';

interface LoadRun {
  path: string;
  server: ServerName;
  round: number;
  tool: 'wrk' | 'autocannon';
  requests: number;
  reqPerSec: number;
  p50Us: number;
  p99Us: number;
  /** Non-2xx/3xx answers plus socket errors: a run with errors measured something else. */
  errors: number;
}

/** freePort asks the kernel for an unused loopback port (closed again before berthd binds it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** wrkUnit converts wrk's "512.00us" / "1.20ms" / "2.00s" into microseconds. */
function wrkUs(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v : m[2] === 'ms' ? v * 1_000 : v * 1_000_000;
}

/** parseWrk reads the figures out of `wrk --latency` output. */
export function parseWrk(out: string): Omit<LoadRun, 'path' | 'server' | 'round' | 'tool'> {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const non2xx = num(/Non-2xx or 3xx responses:\s+(\d+)/);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    requests: num(/(\d+) requests in/),
    reqPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    p50Us: wrkUs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    p99Us: wrkUs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    errors: (Number.isNaN(non2xx) ? 0 : non2xx) + sockErrors,
  };
}

/** The wrk/autocannon process running now, so an interrupted run can stop it too. */
let loadChild: ChildProcess | null = null;

/** runLoad runs the load generator to its end, remembering its process meanwhile. */
async function runLoad(file: string, args: string[], seconds: number): Promise<string> {
  const p = run(file, args, { timeout: (seconds + 30) * 1_000, maxBuffer: 16 << 20 });
  loadChild = p.child;
  try {
    return (await p).stdout;
  } finally {
    loadChild = null;
  }
}

/** A load generator: wrk if installed, else autocannon if the project already has it. */
type Load = { tool: LoadRun['tool']; run(url: string, seconds: number): Promise<Omit<LoadRun, 'path' | 'server' | 'round' | 'tool'>> };

async function findLoadGenerator(repo: string): Promise<Load | null> {
  const wrk = await which('wrk');
  if (wrk) {
    return {
      tool: 'wrk',
      async run(url, seconds) {
        return parseWrk(await runLoad(wrk, ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', url], seconds));
      },
    };
  }
  // autocannon is not a dependency: use it only if it is already installed (never fetch it here).
  const ac = join(repo, 'node_modules', '.bin', 'autocannon');
  if (await access(ac, constants.X_OK).then(() => true, () => false)) {
    return {
      tool: 'autocannon',
      async run(url, seconds) {
        const r = JSON.parse(await runLoad(ac, ['-c', String(CONNECTIONS), '-d', String(seconds), '-j', url], seconds)) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
        return { requests: r.requests.total, reqPerSec: r.requests.average, p50Us: r.latency.p50 * 1_000, p99Us: r.latency.p99 * 1_000, errors: r.non2xx + r.errors };
      },
    };
  }
  return null;
}

export const http: Scenario = {
  name: 'http',
  description: 'GET /_ping and /version req/s through berthd vs a bare node:http server',
  async run({ repo }) {
    const load = await findLoadGenerator(repo);
    if (!load) {
      process.stdout.write('HTTP: skipped — wrk not found: apt-get install wrk\n');
      return { skipped: 'wrk not found' };
    }
    if (process.getuid?.() !== 0) {
      process.stdout.write('HTTP: skipped — berthd needs root: run the bench as root\n');
      return { skipped: 'not root' };
    }

    const tmp = await mkdtemp(join(tmpdir(), 'berth-bench-http-'));
    let berthd: ChildProcess | null = null;
    let bare: ChildProcess | null = null;
    let berthdLog = () => '';
    const exits: Partial<Record<ServerName, number | string | null>> = {};
    // Idempotent: called once the figures are in (to report the exit codes), and again in finally.
    const cleanup = async () => {
      if (loadChild?.pid && loadChild.exitCode === null) process.kill(loadChild.pid, 'SIGTERM');
      if (berthd) exits.berthd = await stopChild(berthd, 20_000);
      berthd = null;
      if (bare) exits.bare = await stopChild(bare, 5_000);
      bare = null;
      await removeTmp(tmp);
    };
    cleanups.add(cleanup);
    try {
      // berthd on a loopback tcp port plus a unix socket, all its state inside tmp (spawnBerthd
      // adds -b none --iptables=false); -s vfs: the bench must never touch the host's mounts.
      const berthdPort = await freePort();
      const t0 = Date.now();
      const b = spawnBerthd(repo, tmp, ['-H', `tcp://127.0.0.1:${berthdPort}`, '-H', `unix://${join(tmp, 's.sock')}`, '-s', 'vfs']);
      berthd = b.child;
      berthdLog = b.log;
      await waitForPing(b, berthdPort);
      const berthdStartMs = Date.now() - t0;

      // The bare server sends berthd's own /version body, so both answer with the same bytes.
      const version = await get(berthdPort, '/version');
      if (version.status !== 200) throw new Error(`berthd GET /version answered ${version.status}: ${version.body}`);
      await writeFile(join(tmp, 'version.json'), version.body);
      bare = spawn(process.execPath, [join(repo, 'dist/bench/scenarios/bareServer.js'), join(tmp, 'version.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
      const barePort = await firstLine(bare);

      const ports: Record<ServerName, number> = { bare: barePort, berthd: berthdPort };
      for (const server of ['bare', 'berthd'] as const) {
        const ping = await get(ports[server], '/_ping');
        if (ping.status !== 200 || ping.body !== 'OK') throw new Error(`${server} GET /_ping answered ${ping.status} ${JSON.stringify(ping.body)}`);
      }

      // Warm-up (JIT, connection setup paths), not recorded.
      for (const path of PATHS) for (const server of ['bare', 'berthd'] as const) await load.run(`http://127.0.0.1:${ports[server]}${path}`, WARMUP_S);

      const runs: LoadRun[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        for (const path of PATHS) {
          for (const server of ['bare', 'berthd'] as const) {
            const r = await load.run(`http://127.0.0.1:${ports[server]}${path}`, DURATION_S);
            runs.push({ path, server, round, tool: load.tool, ...r });
          }
        }
      }

      // One row per (path, server): req/s is the mean of the rounds, each round shown too.
      const rows: Row[] = [];
      const summary: Record<string, unknown>[] = [];
      for (const path of PATHS) {
        const bareMean = mean(runs.filter((r) => r.path === path && r.server === 'bare').map((r) => r.reqPerSec));
        for (const server of ['bare', 'berthd'] as const) {
          const rs = runs.filter((r) => r.path === path && r.server === server);
          const rps = mean(rs.map((r) => r.reqPerSec));
          const s = {
            path,
            server,
            reqPerSec: rps,
            p50Us: mean(rs.map((r) => r.p50Us)),
            p99Us: mean(rs.map((r) => r.p99Us)),
            ratioToBare: rps / bareMean,
            errors: rs.reduce((a, r) => a + r.errors, 0),
          };
          summary.push(s);
          rows.push({
            path,
            server,
            'req/s': fmtInt(s.reqPerSec),
            ...Object.fromEntries(rs.map((r) => [`round ${r.round}`, fmtInt(r.reqPerSec)])),
            p50: fmtUs(s.p50Us),
            p99: fmtUs(s.p99Us),
            '÷ bare': server === 'bare' ? '1.00×' : fmtRatio(s.ratioToBare),
            errors: String(s.errors),
          });
        }
      }
      // Stop both now: a berthd that does not shut down cleanly (exit 0 on SIGTERM) is worth a line.
      await cleanup();
      const note = exits.berthd === 0 ? '' : `note: berthd exited with ${exits.berthd} on SIGTERM (expected 0)\n${berthdLog()}\n`;
      const rounds = Array.from({ length: ROUNDS }, (_, i) => `round ${i + 1}`);
      process.stdout.write(
        table(
          `HTTP (${load.tool}, 1 thread, ${CONNECTIONS} connections, ${DURATION_S} s × ${ROUNDS} rounds, interleaved; req/s and latencies are means of the rounds; /version body ${Buffer.byteLength(version.body)} B; berthd ready in ${berthdStartMs} ms)`,
          ['path', 'server', 'req/s', ...rounds, 'p50', 'p99', '÷ bare', 'errors'],
          rows,
        ),
      );
      process.stdout.write(note);
      return { exits, tool: load.tool, connections: CONNECTIONS, durationS: DURATION_S, rounds: ROUNDS, versionBodyBytes: Buffer.byteLength(version.body), berthdStartMs, summary, runs };
    } finally {
      cleanups.delete(cleanup);
      await cleanup();
    }
  },
};

/** firstLine reads the port the bare server prints once it listens. */
function firstLine(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('the bare server did not start within 10 s')), 10_000);
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(Number(buf.slice(0, nl)));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the bare server exited (${code}) before listening`));
    });
  });
}
