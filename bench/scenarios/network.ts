/**
 * Network: what the default bridge adds to a container's start. Through the docker CLI, against
 * a berthd that has its default bridge (berth0, its BERTH* iptables chains) and — when the
 * machine has one — a dockerd that has its own (docker0, DOCKER* chains, the userland proxy),
 * three commands that differ only in the container's network:
 *
 *   none    docker run --rm --network none busybox true
 *   bridge  docker run --rm busybox true                        (the default bridge: a veth, an address)
 *   port    docker run --rm -p 127.0.0.1:<P>:80 busybox true    (and one published port: its rules; P is
 *                                                                a different free loopback port each run)
 *
 * For each daemon: WARMUPS of each command, then SEQ_RUNS rounds of the three one after the
 * other (the order turns every round, so drift on the host hits the three alike), then per
 * command a batch of BATCH runs, PARALLEL at a time. The same daemon runs all three rows, so
 * `÷ none` is the price of the network alone.
 *
 * This scenario changes the host's network while it runs (a bridge, veths, iptables rules,
 * loopback ports), unlike `containers`, whose daemons run without one. So it refuses a daemon
 * whose bridge or chains are already on the host (another berthd or dockerd runs here), takes
 * a snapshot of the host's links (berth0, br-*, veth*, docker0), of the iptables lines naming
 * BERTH or DOCKER, of the built-in chains' policies and of the sysctls either daemon may set,
 * before each daemon and after it has stopped, and puts back what is left: berthd should leave
 * nothing (a clean stop removes its bridge and rules — anything left is reported as such);
 * dockerd leaves docker0 and its chains by design, and they are removed here. No traffic but
 * to loopback and to the containers it starts.
 */
import { readdir, readFile, writeFile, mkdir, lstat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
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
import {
  BATCH,
  CMD_ENV,
  MAX_ERRORS,
  PARALLEL,
  RUN_TIMEOUT_MS,
  SEQ_RUNS,
  WARMUPS,
  describe,
  dockerEnv,
  interrupted,
  makeImage,
  must,
  ok,
  reapLeftovers,
  record,
  runTimed,
  startDockerd,
  scenarioState,
  stopBenchBerthd,
  watchLog,
  type Image,
  type Measured,
  type RunResult,
  type Running,
} from './containers.js';

/** One daemon's measurements (3 commands × warm-ups, sequential, batch) stop after this long. */
const DAEMON_BUDGET_S = 300;

type Variant = 'none' | 'bridge' | 'port';
const VARIANTS: readonly Variant[] = ['none', 'bridge', 'port'];
const LABEL: Record<Variant, string> = { none: 'none', bridge: 'bridge', port: 'bridge + -p' };

function runArgs(v: Variant, port: number): string[] {
  if (v === 'none') return ['run', '--rm', '--network', 'none', 'busybox', 'true'];
  if (v === 'bridge') return ['run', '--rm', 'busybox', 'true'];
  return ['run', '--rm', '-p', `127.0.0.1:${port}:80`, 'busybox', 'true'];
}

type NetMeasured = Measured & { daemon: string; variant: Variant };

export const network: Scenario = {
  name: 'network',
  description:
    '`docker run --rm busybox true` with --network none, on the default bridge, and with one published port, through berthd and, when installed, dockerd (both with their bridges)',
  async run({ repo }) {
    if (process.getuid?.() !== 0) {
      process.stdout.write('NETWORK: skipped — berthd, bridges and iptables need root: run the bench as root\n');
      return { skipped: 'not root' };
    }
    const docker = (await lstat('/usr/local/bin/docker').then(() => '/usr/local/bin/docker', () => null)) ?? (await which('docker'));
    const tools = { docker, runc: await which('runc'), conmon: await which('conmon'), ip: await which('ip'), iptables: await which('iptables'), 'iptables-save': await which('iptables-save') };
    const missing = Object.entries(tools).filter(([, p]) => !p).map(([n]) => n);
    if (missing.length) {
      process.stdout.write(`NETWORK: skipped — not found: ${missing.join(', ')}\n`);
      return { skipped: `not found: ${missing.join(', ')}` };
    }
    const runc = tools.runc!;

    const hostAtStart = await snapshotNet();
    const { tmp, running, notes, printNotes, hostPaths } = await scenarioState('network');
    /** The host's network as it was before the daemon now running started, and how to put it back. */
    const netPhase: { current: { before: NetSnapshot; owner: Owner; pid: number | undefined; done?: Promise<string[]> } | null } = { current: null };
    // Runs putBack once per daemon, whether from the phase's finally or from a cleanup (Ctrl-C) racing it.
    const settleNet = async (): Promise<string[]> => {
      const ph = netPhase.current;
      if (!ph) return [];
      if (ph.done) return ph.done.then(() => []);
      ph.done = putBack(ph.before, ph.owner, ph.pid);
      const found = await ph.done;
      if (netPhase.current === ph) netPhase.current = null;
      return found;
    };
    const hostCheck: { same?: boolean; differences?: string[]; atEnd?: unknown } = {};
    let cleaning: Promise<void> | null = null;
    const cleanup = () => (cleaning ??= cleanupOnce());
    const cleanupOnce = async () => {
      running.stopping = true;
      for (const t of [...running.tools]) await stopChild(t, 2_000);
      running.tools.clear();
      for (const d of [...running.daemons]) if (d.pid !== undefined) await stopChild(d, 30_000);
      running.daemons.clear();
      notes.push(...(await reapLeftovers(tmp, runc)));
      notes.push(...(await settleNet()));
      if (hostPaths.current) notes.push(...(await hostPaths.current.restore()));
      hostPaths.current = null;
      await removeTmp(tmp);
    };
    cleanups.add(cleanup);
    const ports = new Ports();
    try {
      const image = await makeImage(tmp, running);
      const measured: NetMeasured[] = [];
      const daemons: Record<string, unknown> = {};
      const phase = async (key: string, fn: () => Promise<Record<string, unknown>>) => {
        if (running.stopping) return;
        try {
          daemons[key] = await fn();
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          notes.push(`${key}: FAILED: ${message}`);
          daemons[key] = { ...(daemons[key] as object), error: message };
        }
      };

      // 1. berthd with its default bridge, alone on the host with it.
      await phase('berthd', async () => {
        const before = await snapshotNet();
        const refuse = before.links.includes('berth0')
          ? 'a link named berth0 exists already (another berthd with its default bridge runs here)'
          : before.rules.some((r) => BERTHD.rule.test(r))
            ? `iptables has BERTH lines already (another berthd with networking runs here): ${before.rules.filter((r) => BERTHD.rule.test(r)).length} line(s)`
            : null;
        if (refuse) {
          process.stdout.write(`berthd rows skipped: ${refuse}\n`);
          return { skipped: refuse };
        }
        const dir = join(tmp, 'berthd');
        await mkdir(dir);
        const sock = join(dir, 's.sock');
        if (running.stopping) throw interrupted();
        const t0 = Date.now();
        const b = spawnBerthd(repo, dir, ['-H', `unix://${sock}`], { network: true });
        running.daemons.add(b.child);
        netPhase.current = { before, owner: BERTHD, pid: b.child.pid };
        const log = watchLog(b.child);
        const info: Record<string, unknown> = {};
        try {
          await waitForPing(b, sock);
          info.startMs = Date.now() - t0;
          const up = await snapshotNet();
          info.bridgeMade = up.links.includes('berth0');
          info.rulesWhileUp = up.rules.filter((r) => !before.rules.includes(r)).length;
          if (!info.bridgeMade) notes.push('berthd: answered /_ping but there is no berth0 link: its default bridge is missing');
          const r = await daemonRows('berthd', docker!, dockerEnv(sock, tmp), image, running, ports, notes);
          measured.push(...r.rows);
          Object.assign(info, r.info, { logLines: log.count() });
          return info;
        } finally {
          info.stopMs = await stopBenchBerthd(b.child, b.log, log, dir, runc, running, notes);
          const left = await settleNet();
          info.leftOnHost = left;
          notes.push(...left);
          daemons.berthd = info;
        }
      });

      // 2. dockerd with its bridge (docker0), if the machine has one and nothing of another dockerd's network is here.
      await phase('dockerd', async () => {
        if (!(await which('dockerd'))) {
          process.stdout.write('dockerd rows skipped: dockerd is not in PATH\n');
          return { skipped: 'dockerd is not in PATH' };
        }
        const before = await snapshotNet();
        const refuse = before.links.includes('docker0')
          ? 'a link named docker0 exists already (another dockerd runs here, or ran and left it): its bridge is not ours to use or remove'
          : before.rules.some((r) => DOCKERD.rule.test(r))
            ? `iptables has DOCKER lines already (another dockerd's): ${before.rules.filter((r) => DOCKERD.rule.test(r)).length} line(s)`
            : null;
        if (refuse) {
          process.stdout.write(`dockerd rows skipped: ${refuse}\n`);
          return { skipped: refuse };
        }
        const dir = join(tmp, 'dockerd');
        // From here on, whatever dockerd does to the network is put back, even if it fails to start.
        netPhase.current = { before, owner: DOCKERD, pid: undefined };
        const d = await startDockerd(dir, running, { bridge: true });
        if ('skipped' in d) {
          notes.push(...(await settleNet()));
          process.stdout.write(`dockerd rows skipped: ${d.skipped}\n`);
          return { skipped: d.skipped };
        }
        if (netPhase.current) netPhase.current.pid = d.child.pid;
        hostPaths.current = d.hostPaths;
        const log = watchLog(d.child);
        const info: Record<string, unknown> = { version: d.version, startMs: d.startMs };
        try {
          const up = await snapshotNet();
          info.bridgeMade = up.links.includes('docker0');
          info.rulesWhileUp = up.rules.filter((r) => !before.rules.includes(r)).length;
          const r = await daemonRows(`dockerd ${d.version}`, docker!, dockerEnv(d.sock, tmp), image, running, ports, notes);
          measured.push(...r.rows);
          Object.assign(info, r.info, { logLines: log.count() });
          return info;
        } finally {
          const stopT0 = Date.now();
          const exit = await stopChild(d.child, 30_000);
          info.stopMs = Date.now() - stopT0;
          running.daemons.delete(d.child);
          if (exit !== 0) notes.push(`dockerd exited with ${exit} on SIGTERM (expected 0):\n${d.log()}`);
          notes.push(...log.notes('dockerd'));
          notes.push(...(await reapLeftovers(dir, runc, 'after dockerd stopped')));
          const left = await settleNet();
          info.putBack = left;
          notes.push(...left);
          notes.push(...(await d.hostPaths.restore()));
          hostPaths.current = null;
          daemons.dockerd = info;
        }
      });

      if (running.stopping) throw interrupted();
      if (!measured.length) throw new Error(`no daemon could be measured:\n${notes.join('\n')}`);
      const summary = summarize(measured);
      const hasDockerd = summary.some((s) => s.daemon.startsWith('dockerd'));
      process.stdout.write(
        table(
          `NETWORK (busybox \`true\`: --network none, the default bridge, the bridge + -p 127.0.0.1:<free port>:80; sequential: ${SEQ_RUNS} rounds of the three after ${WARMUPS} warm-ups each, each run timed from spawn to exit of the CLI, wall = the sum of the row's runs; parallel: ${BATCH} runs, ${PARALLEL} at a time; ÷ = time over the baseline's — p50 for sequential, the batch's wall time for parallel — Δ p50 = p50 minus the none row's)`,
          ['mode', 'daemon', 'network', 'runs', 'p50', 'p90', 'min', 'wall', 'runs/s', '÷ none', 'Δ p50', ...(hasDockerd ? ['÷ dockerd'] : []), 'errors'],
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
        plan: { warmups: WARMUPS, sequentialRounds: SEQ_RUNS, batch: BATCH, parallel: PARALLEL, runTimeoutMs: RUN_TIMEOUT_MS, daemonBudgetS: DAEMON_BUDGET_S },
        ports: { used: ports.used.length, first: ports.used[0] ?? null, last: ports.used.at(-1) ?? null },
        daemons,
        summary,
        // Filled in by the finally below (the same objects: the results file has them).
        host: hostCheck,
        notes,
      };
    } finally {
      cleanups.delete(cleanup);
      await cleanup();
      // Last: the host's network against what it was when the scenario began.
      const end = await snapshotNet();
      const diff = diffNet(hostAtStart, end);
      hostCheck.same = diff.length === 0;
      hostCheck.differences = diff;
      hostCheck.atEnd = { links: end.links, rules: end.rules.length, sysctls: end.sysctls };
      const others = diff.length ? await processesMatching(ANY_DAEMON, undefined) : [];
      notes.push(
        diff.length
          ? `host network NOT as it was before the scenario${others.length ? ` (another berthd or dockerd runs: pid ${others.join(', ')})` : ''}:\n${diff.map((l) => `    ${l}`).join('\n')}`
          : `host network as before the scenario: links ${end.links.length ? end.links.join(' ') : '(no berth0, br-*, veth*, docker0)'}; ${end.rules.length} iptables line(s) naming BERTH or DOCKER; ${Object.entries(end.sysctls)
              .map(([k, v]) => `${k.replace('/proc/sys/', '').replace(/\//g, '.')}=${v ?? '-'}`)
              .join(' ')}`,
      );
      printNotes();
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Measuring

/**
 * daemonRows: import the image, check that each of the three commands does what it says (a
 * container on the bridge has an address; a published port answers), then warm-ups, the
 * interleaved sequential rounds, and one batch per command; then checks that --rm left nothing.
 */
async function daemonRows(daemon: string, docker: string, env: NodeJS.ProcessEnv, image: Image, running: Running, ports: Ports, notes: string[]) {
  const info: Record<string, unknown> = {};
  const started = Date.now();
  const overBudget = () => (Date.now() - started) / 1000 > DAEMON_BUDGET_S;
  const rows: NetMeasured[] = [];
  try {
    const imp = await must(running, docker, ['import', '--change', 'CMD ["sh"]', '--change', `ENV ${CMD_ENV}`, image.tar, 'busybox:latest'], env);
    info.importMs = imp.ms;
    const none = await must(running, docker, ['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo ok; ip -o -4 addr | grep -vc " lo "; true'], env);
    if (none.stdout.replace(/\s+/g, ' ').trim() !== 'ok 0') throw new Error(`${daemon}: a --network none container printed ${JSON.stringify(none.stdout)}, expected "ok\\n0\\n" (no IPv4 address but loopback's)`);
    const bridge = await must(running, docker, ['run', '--rm', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0; ip route'], env);
    const addr = /inet (\d+\.\d+\.\d+\.\d+\/\d+)/.exec(bridge.stdout)?.[1];
    if (!addr) throw new Error(`${daemon}: a container on the default bridge has no IPv4 address on eth0: ${JSON.stringify(bridge.stdout)}`);
    info.bridgeAddress = addr;
    info.portCheck = await checkPublished(daemon, docker, env, running, ports);
    if (info.portCheck !== 'ok') notes.push(`${daemon}: ${String(info.portCheck)}`);

    const once = async (v: Variant): Promise<RunResult> => {
      const port = v === 'port' ? await ports.take() : 0; // not timed
      return runTimed(running, docker, runArgs(v, port), env);
    };
    const alive = new Set<Variant>(VARIANTS);
    const warm: Record<string, number[]> = {};
    for (let i = 0; i < WARMUPS; i++) {
      for (const v of VARIANTS) {
        if (!alive.has(v)) continue;
        const r = await once(v);
        (warm[v] ??= []).push(r.ms);
        if (!ok(r)) {
          alive.delete(v);
          notes.push(`${daemon} ${LABEL[v]}: a warm-up run failed, so this command is not measured: ${describe(r)}`);
        }
      }
    }
    info.warmupMs = warm;

    const row = (v: Variant, mode: Measured['mode']): NetMeasured => ({ daemon, variant: v, target: `${daemon} ${LABEL[v]}`, mode, runs: 0, okMs: [], errors: 0, wallMs: 0 });
    const cut = (m: NetMeasured) => `stopped after ${m.runs} runs (${m.errors >= MAX_ERRORS ? `${m.errors} errors` : `time budget ${DAEMON_BUDGET_S} s`})`;
    const seq = new Map(VARIANTS.filter((v) => alive.has(v)).map((v) => [v, row(v, 'sequential')]));
    for (let i = 0; i < SEQ_RUNS; i++) {
      for (let k = 0; k < VARIANTS.length; k++) {
        const m = seq.get(VARIANTS[(i + k) % VARIANTS.length]!);
        if (!m || m.cut) continue;
        if (m.errors >= MAX_ERRORS || overBudget()) {
          m.cut = cut(m);
          continue;
        }
        const r = await once(m.variant);
        record(m, r);
        m.wallMs += r.ms;
      }
    }
    rows.push(...seq.values());

    for (const v of VARIANTS) {
      if (!alive.has(v)) continue;
      const p = row(v, 'parallel');
      let next = 0;
      const p0 = now();
      const worker = async () => {
        while (next < BATCH && p.errors < MAX_ERRORS && !overBudget()) {
          next++;
          record(p, await once(v));
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));
      p.wallMs = Number(now() - p0) / 1e6;
      if (p.runs < BATCH) p.cut = cut(p);
      rows.push(p);
    }
    return { rows, info };
  } finally {
    const ps = await runTimed(running, docker, ['ps', '-aq', '--no-trunc'], env, true);
    const left = ok(ps) ? ps.stdout.split('\n').filter(Boolean) : [];
    info.leftContainers = left.length;
    if (!ok(ps) && !running.stopping) notes.push(`${daemon}: docker ps -a failed: ${describe(ps)}`);
    if (left.length) {
      notes.push(`${daemon}: ${left.length} container(s) left after the runs (all were --rm): ${left.map((id) => id.slice(0, 12)).join(' ')}; removing them`);
      const rm = await runTimed(running, docker, ['rm', '-f', ...left], env, true);
      if (!ok(rm)) notes.push(`${daemon}: docker rm -f failed: ${describe(rm)}`);
    }
  }
}

/**
 * checkPublished: one detached container serving its /etc with busybox httpd on port 80,
 * published on 127.0.0.1:<free port>; GET /passwd through the port must answer root's line
 * within 10 s. The container is removed (rm -f) whatever happened. Returns 'ok' or why not.
 */
async function checkPublished(daemon: string, docker: string, env: NodeJS.ProcessEnv, running: Running, ports: Ports): Promise<string> {
  const port = await ports.take();
  const r = await runTimed(running, docker, ['run', '-d', '-p', `127.0.0.1:${port}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc'], env);
  if (!ok(r)) return `the published-port check could not start its container: ${describe(r)}`;
  const id = r.stdout.trim();
  try {
    const deadline = Date.now() + 10_000;
    let last = '';
    while (Date.now() < deadline) {
      const res = await get(port, '/passwd').catch((err: Error) => err);
      if (!(res instanceof Error) && res.status === 200 && res.body.startsWith('root:')) return 'ok';
      last = res instanceof Error ? res.message : `HTTP ${res.status}`;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return `a container's port published on 127.0.0.1:${port} did not answer within 10 s (last: ${last}); the "bridge + -p" rows still measure the start`;
  } finally {
    const rm = await runTimed(running, docker, ['rm', '-f', id], env, true);
    if (!ok(rm)) throw new Error(`${daemon}: docker rm -f ${id.slice(0, 12)} (the published-port check): ${describe(rm)}`);
  }
}

/** Ports: loopback ports for -p, a different one each run, each checked free (bind, close) first. */
class Ports {
  /** Below the usual ephemeral range (32768–60999), so no outgoing connection of the host takes one meanwhile. */
  private next = 20_000 + Math.floor(Math.random() * 10_000);
  readonly used: number[] = [];

  async take(): Promise<number> {
    for (let tries = 0; tries < 200; tries++) {
      const port = this.next++;
      if (this.next >= 32_768) this.next = 20_000;
      if (await loopbackPortFree(port)) {
        this.used.push(port);
        return port;
      }
    }
    throw new Error('no free loopback port in 200 tries');
  }
}

function loopbackPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function summarize(measured: readonly NetMeasured[]) {
  const p50 = (m: NetMeasured | undefined) => (m && m.okMs.length ? percentile([...m.okMs].sort((a, b) => a - b), 50) : NaN);
  // sequential: the median run; parallel: the batch's wall time per successful run.
  const figure = (m: NetMeasured | undefined) => (!m ? NaN : m.mode === 'sequential' ? p50(m) : m.okMs.length ? m.wallMs / m.okMs.length : NaN);
  const order = (m: NetMeasured) => (m.mode === 'sequential' ? 0 : 100) + (m.daemon.startsWith('dockerd') ? 10 : 0) + VARIANTS.indexOf(m.variant);
  return [...measured]
    .sort((a, b) => order(a) - order(b))
    .map((m) => {
      const sorted = [...m.okMs].sort((a, b) => a - b);
      const none = measured.find((x) => x.daemon === m.daemon && x.variant === 'none' && x.mode === m.mode);
      const dockerd = measured.find((x) => x.daemon.startsWith('dockerd') && x.variant === m.variant && x.mode === m.mode);
      return {
        mode: m.mode,
        daemon: m.daemon,
        network: m.variant,
        runs: m.runs,
        ok: m.okMs.length,
        errors: m.errors,
        p50Ms: percentile(sorted, 50),
        p90Ms: percentile(sorted, 90),
        minMs: sorted.length ? sorted[0]! : NaN,
        maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
        wallMs: m.wallMs,
        runsPerSec: m.okMs.length / (m.wallMs / 1000),
        ratioToNone: none ? figure(m) / figure(none) : null,
        deltaP50ToNoneMs: none && m.mode === 'sequential' ? p50(m) - p50(none) : null,
        ratioToDockerd: dockerd ? figure(m) / figure(dockerd) : null,
        ms: m.okMs,
      };
    });
}

function toRow(s: ReturnType<typeof summarize>[number]): Row {
  const ms = (x: number) => fmtUs(x * 1000);
  return {
    mode: s.mode === 'sequential' ? 'sequential' : `${PARALLEL} parallel`,
    daemon: s.daemon,
    network: LABEL[s.network],
    runs: String(s.runs),
    p50: ms(s.p50Ms),
    p90: ms(s.p90Ms),
    min: ms(s.minMs),
    wall: `${(s.wallMs / 1000).toFixed(2)} s`,
    'runs/s': s.runsPerSec.toFixed(1),
    '÷ none': s.ratioToNone === null ? '-' : fmtRatio(s.ratioToNone),
    'Δ p50': s.deltaP50ToNoneMs === null ? '-' : `${s.deltaP50ToNoneMs >= 0 ? '+' : ''}${s.deltaP50ToNoneMs.toFixed(1)} ms`,
    '÷ dockerd': s.ratioToDockerd === null ? '-' : fmtRatio(s.ratioToDockerd),
    errors: String(s.errors),
  };
}

// ---------------------------------------------------------------------------------------------
// The host's network: snapshots, and putting back what a daemon left

/** The iptables dumps looked at: the nft ones the daemons write, and the legacy ones (should stay empty of ours). */
const SAVERS: ReadonlyArray<{ save: string; tool: string }> = [
  { save: 'iptables-save', tool: 'iptables' },
  { save: 'ip6tables-save', tool: 'ip6tables' },
  { save: 'iptables-legacy-save', tool: 'iptables-legacy' },
  { save: 'ip6tables-legacy-save', tool: 'ip6tables-legacy' },
];
/** Host-wide settings a daemon with a bridge may change (per-link ones go with the link). */
const SYSCTLS = [
  '/proc/sys/net/ipv4/ip_forward',
  '/proc/sys/net/ipv6/conf/all/forwarding',
  '/proc/sys/net/ipv4/conf/all/route_localnet',
  '/proc/sys/net/bridge/bridge-nf-call-iptables',
  '/proc/sys/net/bridge/bridge-nf-call-ip6tables',
];

interface NetSnapshot {
  /** Links named berth0, docker0, br-*, veth* (names without @peer). */
  links: string[];
  /** "<tool>\t<table>\t<line>" for every iptables-save line naming BERTH, DOCKER, berth0 or docker0 (chain lines without counters). */
  rules: string[];
  /** "<tool>\t<table>\t<chain>\t<policy>" of the built-in chains. */
  policies: string[];
  sysctls: Record<string, string | null>;
  /** pids of docker-proxy processes. */
  proxies: number[];
}

/**
 * Whose things are whose, for putting back. A daemon's own bridge and chains are its alone
 * (refused at the start if they were there) unless another daemon of that kind runs now; veths,
 * br-* bridges, policies and sysctls could be any daemon's: they are touched only while no
 * other berthd or dockerd runs.
 */
interface Owner {
  name: string;
  link: (name: string) => boolean;
  rule: RegExp;
  /** Another process of this kind. */
  process: RegExp;
}
const BERTHD: Owner = { name: 'berthd', link: (n) => n === 'berth0', rule: /BERTH|berth0/, process: /(^|\/)berthd(\.js)?\0/ };
const DOCKERD: Owner = { name: 'dockerd', link: (n) => n === 'docker0', rule: /DOCKER|docker0/, process: /(^|\/)dockerd\0/ };
const SHARED_LINK = (n: string) => n.startsWith('veth') || n.startsWith('br-');
const ANY_DAEMON = /(^|\/)(berthd(\.js)?|dockerd)\0/;

async function snapshotNet(): Promise<NetSnapshot> {
  const links = (tryRun('ip', ['-o', 'link', 'show']) ?? '')
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter((n) => n === 'berth0' || n === 'docker0' || n.startsWith('br-') || n.startsWith('veth'))
    .sort();
  const rules: string[] = [];
  const policies: string[] = [];
  for (const { save, tool } of SAVERS) {
    if (!(await which(save))) continue;
    let t = '';
    for (const line of (tryRun(save, []) ?? '').split('\n')) {
      if (line.startsWith('*')) t = line.slice(1);
      else if (line.startsWith(':')) {
        const [chain, policy] = line.slice(1).split(' ');
        if (policy && policy !== '-') policies.push(`${tool}\t${t}\t${chain}\t${policy}`);
        else if (/BERTH|DOCKER/.test(chain!)) rules.push(`${tool}\t${t}\t:${chain}`);
      } else if (line.startsWith('-A ') && /BERTH|DOCKER|berth0|docker0/.test(line)) rules.push(`${tool}\t${t}\t${line}`);
    }
  }
  const sysctls: Record<string, string | null> = {};
  for (const p of SYSCTLS) sysctls[p] = await readFile(p, 'utf8').then((s) => s.trim(), () => null);
  const proxies: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const comm = await readFile(`/proc/${name}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'docker-proxy') proxies.push(Number(name));
  }
  return { links, rules, policies, sysctls, proxies };
}

/** diffNet: one line per difference between two snapshots ('' if none). */
function diffNet(a: NetSnapshot, b: NetSnapshot): string[] {
  const out: string[] = [];
  const minus = (x: readonly (string | number)[], y: readonly (string | number)[]) => x.filter((e) => !y.includes(e));
  for (const l of minus(b.links, a.links)) out.push(`link added: ${l}`);
  for (const l of minus(a.links, b.links)) out.push(`link gone: ${l}`);
  for (const r of minus(b.rules, a.rules)) out.push(`iptables line added: ${String(r).replace(/\t/g, ' ')}`);
  for (const r of minus(a.rules, b.rules)) out.push(`iptables line gone: ${String(r).replace(/\t/g, ' ')}`);
  for (const p of minus(b.policies, a.policies)) out.push(`chain policy now: ${String(p).replace(/\t/g, ' ')}`);
  for (const [k, v] of Object.entries(a.sysctls)) if (b.sysctls[k] !== v) out.push(`${k}: ${v} → ${b.sysctls[k]}`);
  for (const p of minus(b.proxies, a.proxies)) out.push(`docker-proxy process ${p} (new)`);
  return out;
}

/**
 * putBack compares the host with `before` once the daemon has stopped, and removes what was
 * added since of its own kind (its bridge, its iptables lines and chains, docker-proxy
 * processes) and, while no other berthd or dockerd runs, veths and br-* bridges, and puts back
 * built-in chains' policies and sysctls. It returns one note per finding; none when nothing
 * was left.
 */
async function putBack(before: NetSnapshot, owner: Owner, pid: number | undefined): Promise<string[]> {
  const after = await snapshotNet();
  const diff = diffNet(before, after);
  if (!diff.length) return [];
  const others = await processesMatching(ANY_DAEMON, pid);
  const sameKind: number[] = [];
  for (const o of others) if (owner.process.test(await readFile(`/proc/${o}/cmdline`, 'utf8').catch(() => ''))) sameKind.push(o);
  const out: string[] = [
    `${owner === DOCKERD ? 'dockerd left on the host (dockerd 20.10 keeps docker0 and its chains when it stops)' : `${owner.name} LEFT on the host after a clean stop`}:\n${diff.map((l) => `    ${l}`).join('\n')}`,
  ];
  if (others.length) out.push(`another berthd or dockerd runs (pid ${others.join(', ')}): ${sameKind.length ? `nothing of ${owner.name}'s kind is touched` : `only ${owner.name}'s own bridge and chains are removed`}; veths, br-* bridges, policies and sysctls are left as they are`);
  const failures: string[] = [];
  if (!sameKind.length) {
    if (owner === DOCKERD) {
      for (const p of after.proxies.filter((x) => !before.proxies.includes(x))) {
        try {
          process.kill(p, 'SIGTERM');
        } catch {
          // gone already
        }
      }
    }
    failures.push(...removeRules(after.rules.filter((r) => !before.rules.includes(r) && owner.rule.test(r))));
    for (const l of after.links.filter((x) => !before.links.includes(x) && (owner.link(x) || (!others.length && SHARED_LINK(x))))) {
      if (tryRun('ip', ['link', 'del', l]) === null) failures.push(`ip link del ${l}`);
    }
  }
  if (!others.length) {
    for (const p of before.policies.filter((x) => !after.policies.includes(x))) {
      const [tool, t, chain, policy] = p.split('\t');
      if (tryRun(tool!, ['-w', '5', '-t', t!, '-P', chain!, policy!]) === null) failures.push(`${tool} -t ${t} -P ${chain} ${policy}`);
    }
    for (const [k, v] of Object.entries(before.sysctls)) {
      if (v === null || after.sysctls[k] === v) continue;
      await writeFile(k, `${v}\n`).catch((err: Error) => failures.push(`${k} ← ${v}: ${err.message}`));
    }
  }
  if (failures.length) out.push(`could not undo: ${failures.join('; ')}`);
  const still = diffNet(before, await snapshotNet());
  out.push(still.length ? `still different from before ${owner.name} started:\n${still.map((l) => `    ${l}`).join('\n')}` : `removed: the host's network is as before ${owner.name} started`);
  return out;
}

/**
 * removeRules deletes iptables lines ("<tool>\t<table>\t-A …" or ":CHAIN"): the rules in
 * chains that stay (the jumps from built-in chains) first, then the added chains are flushed
 * and deleted. It returns the commands that failed.
 */
function removeRules(lines: readonly string[]): string[] {
  const failed: string[] = [];
  const groups = new Map<string, string[]>();
  for (const l of lines) {
    const [tool, t, line] = l.split('\t');
    const key = `${tool}\t${t}`;
    groups.set(key, [...(groups.get(key) ?? []), line!]);
  }
  for (const [key, group] of groups) {
    const [tool, t] = key.split('\t') as [string, string];
    const chains = group.filter((l) => l.startsWith(':')).map((l) => l.slice(1));
    const ipt = (args: string[]) => {
      if (tryRun(tool, ['-w', '5', '-t', t, ...args]) === null) failed.push(`${tool} -t ${t} ${args.join(' ')}`);
    };
    for (const l of group) {
      if (!l.startsWith('-A ')) continue;
      const args = splitRule(l);
      if (!chains.includes(args[1]!)) ipt(['-D', ...args.slice(1)]);
    }
    for (const c of chains) ipt(['-F', c]);
    for (const c of chains) ipt(['-X', c]);
  }
  return failed;
}

/** splitRule splits an iptables-save line into arguments ("…" quoted ones, as --comment has). */
function splitRule(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/** processesMatching: pids (not ours, not `except`) whose command line matches re (args joined by NUL). */
async function processesMatching(re: RegExp, except: number | undefined): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || pid === except) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd && re.test(cmd)) out.push(pid);
  }
  return out;
}
