/**
 * berth benchmarks: `npm run bench` (build, then this), or `node dist/bench/run.js [name…]`
 * to run only the scenarios whose name is given (jobs, http, graph, containers, network, ops, registry). Runs the
 * scenarios in order, prints one table each, and writes every figure plus the machine's
 * description to bench/results/<ISO date>-<git short commit>.json. Not part of CI's
 * pass/fail: it exits non-zero only if a scenario could not run at all.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanups, gitCommit, machineInfo, type Scenario } from './lib.js';
import { jobRoundTrip } from './scenarios/jobRoundTrip.js';
import { http } from './scenarios/http.js';
import { graph } from './scenarios/graph.js';
import { containers } from './scenarios/containers.js';
import { network } from './scenarios/network.js';
import { ops } from './scenarios/ops.js';
import { registry } from './scenarios/registry.js';

// dist/bench/run.js → the repository root, wherever the command is run from.
const repo = fileURLToPath(new URL('../../', import.meta.url));
const scenarios: Scenario[] = [jobRoundTrip, http, graph, containers, network, ops, registry];

// Ctrl-C: stop the daemons and servers a scenario started and remove its temp dir, then exit.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\nbench: ${sig}: cleaning up\n`);
    void Promise.allSettled([...cleanups].map((c) => c())).then(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const filter = process.argv.slice(2);
  const unknown = filter.filter((f) => !scenarios.some((s) => s.name === f));
  if (unknown.length) {
    process.stderr.write(`bench: unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}\n`);
    return 2;
  }
  const chosen = filter.length ? scenarios.filter((s) => filter.includes(s.name)) : scenarios;

  const started = new Date();
  const commit = gitCommit(repo);
  const machine = machineInfo();
  process.stdout.write(`berth bench — commit ${commit}, node ${machine.node}, ${machine.nproc} CPUs (${machine.cpuModel}), kernel ${machine.kernel}, load ${machine.loadAvg1mAtStart}\n\n`);

  const results: Record<string, unknown> = {};
  let failed = 0;
  for (const s of chosen) {
    const t0 = Date.now();
    try {
      results[s.name] = { description: s.description, ...(await s.run({ repo })), seconds: (Date.now() - t0) / 1000 };
    } catch (err) {
      failed++;
      const message = err instanceof Error ? err.message : String(err);
      process.stdout.write(`${s.name}: FAILED: ${message}\n`);
      results[s.name] = { description: s.description, error: message };
    }
    process.stdout.write('\n');
  }

  const file = join(repo, 'bench', 'results', `${started.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}-${commit}.json`);
  await mkdir(join(repo, 'bench', 'results'), { recursive: true });
  const doc = { date: started.toISOString(), commit, machine, totalSeconds: (Date.now() - started.getTime()) / 1000, scenarios: results };
  await writeFile(file, JSON.stringify(doc, null, 2) + '\n');
  process.stdout.write(`results: ${relative(process.cwd(), file) || file} (${doc.totalSeconds.toFixed(0)} s)\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
