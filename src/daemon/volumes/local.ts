/**
 * The `local` volume driver, as dockerd's volume/local: a volume is <root>/<name>/_data; one
 * created with options (type, device, o) is mounted there with mount(8) when a container first
 * uses it, and unmounted when the last one stops. Every call here is asynchronous I/O (the
 * thread pool or a child process), never blocking the main thread.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { InvalidParameterError, NotImplementedError, SystemError } from '../../errdefs/errors.js';

/** The option keys dockerd's local driver accepts on Linux. */
const VALID_OPTS = ['type', 'device', 'o', 'size'];

/** validateOpts checks --opt keys as the local driver does (its messages). */
export function validateOpts(opts: Record<string, string>): void {
  for (const k of Object.keys(opts)) {
    if (!VALID_OPTS.includes(k)) throw new InvalidParameterError(`invalid option key: ${JSON.stringify(k)}`);
  }
  // size needs a quota-capable backing filesystem (xfs project quotas), which berth does not set up.
  if ('size' in opts) throw new NotImplementedError('quota size requested but no quota support');
  // dockerd: type and device go together; o needs both.
  const need: Record<string, string[]> = { type: ['device'], device: ['type'], o: ['device', 'type'] };
  for (const [k, reqs] of Object.entries(need)) {
    if (!(k in opts)) continue;
    for (const r of reqs) if (!(r in opts)) throw new InvalidParameterError(`missing required option: ${JSON.stringify(r)}`);
  }
}

/** needsMount: a volume with a device to mount (else it is a plain directory). */
export function needsMount(opts: Record<string, string> | null): boolean {
  return !!opts && !!opts.type && !!opts.device;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error((stderr || err.message).trim()));
      else resolve();
    });
  });
}

/** mountVolume mounts the volume's device on its _data (dockerd's message on failure). */
export async function mountVolume(path: string, opts: Record<string, string>): Promise<void> {
  const args = ['-t', opts.type!];
  if (opts.o) args.push('-o', opts.o);
  args.push(opts.device!, path);
  try {
    await run('mount', args);
  } catch (err) {
    throw new SystemError(`error while mounting volume '${path}': failed to mount local volume: mount ${opts.device}:${path}, data: ${opts.o ?? ''}: ${(err as Error).message}`);
  }
}

export async function unmountVolume(path: string): Promise<void> {
  try {
    await run('umount', [path]);
  } catch (err) {
    // Lazily, if something still holds it (a shell cd'ed into it): it goes once released.
    await run('umount', ['-l', path]).catch(() => {
      throw new SystemError(`error while unmounting volume path '${path}': ${(err as Error).message}`);
    });
  }
}

/** mountedPaths is the set of mount points of this mount namespace. */
export async function mountedPaths(): Promise<Set<string>> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return new Set(info.split('\n').map((l) => unescapeMountPath(l.split(' ')[4] ?? '')).filter(Boolean));
}

/** mountinfo escapes spaces, tabs, newlines and backslashes as octal. */
export function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

