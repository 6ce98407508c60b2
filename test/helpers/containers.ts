/**
 * Container material for tests: the busybox image imported into a berthd (as a user would:
 * docker import with a CMD and PATH), a pseudo-terminal for `docker run -t` (util-linux
 * `script`), and the leak check every container suite ends with: no mount, conmon or runc
 * state of the daemon's left behind.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Berthd, CliResult } from './berthd.js';
import { run } from './berthd.js';
import { busyboxTar } from './images.js';

export async function importBusybox(b: Berthd, work: string, tag = 'busybox:latest'): Promise<void> {
  const tar = busyboxTar(work);
  const r = await b.docker(['import', '--change', 'CMD ["sh"]', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', tar, tag]);
  if (r.code !== 0) throw new Error(`docker import failed: ${r.stderr}`);
}

/** inPty runs a command with a pseudo-terminal as its stdin/stdout (for -t, -it). */
export function inPty(b: Berthd, command: string, timeoutMs = 30_000): Promise<CliResult> {
  return run('script', ['-qec', command, '/dev/null'], { env: { DOCKER_HOST: `unix://${b.socket}` }, timeoutMs });
}

/** Mount points under a directory, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(dir));
}

/** Processes whose command line mentions a path (conmons and containers of one daemon). */
export function processesMentioning(path: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(path) && !cmd.includes('berthd.js')) out.push(`${pid}: ${cmd.slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** What a daemon left behind under its roots once every container is gone. */
export function leftovers(b: Berthd): { mounts: string[]; processes: string[]; bundles: string[]; runc: string[] } {
  const ls = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  return {
    mounts: mountsUnder(b.dir),
    processes: processesMentioning(b.dir),
    bundles: ls(join(b.execRoot, 'containers')),
    runc: ls(join(b.execRoot, 'runc')),
  };
}

/** dockerOk runs the docker CLI against a berthd and gives its stdout; a failure throws with its stderr. */
export async function dockerOk(b: Berthd, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  const r = await b.docker(args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** stopWithContainers removes every container a suite left (a failed test's), then stops the daemon. */
export async function stopWithContainers(b: Berthd): Promise<void> {
  const ids = (await b.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
  if (ids.length) await b.docker(['rm', '-f', ...ids]);
  await b.stop();
}
