/**
 * Container logs in dockerd's json-file format (<data-root>/containers/<id>/<id>-json.log),
 * one JSON object per line: {"log":"hi\n","stream":"stdout","time":"2026-…Z"}.
 *
 * conmon writes its own k8s-file log ("<time> <stream> <F|P> <text>") whatever berthd is
 * doing; LogConverter turns it into json-file lines, remembering how far it got in an offset
 * file, so lines a container writes while berthd is down are converted when it is back:
 * nothing is lost (a crash between append and offset may repeat a line, never drop one).
 * readLogs serves GET /containers/{id}/logs from the json-file log.
 */
import { appendFile, open, readFile, stat, writeFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import type { PortWriter } from '../../src/protocol/stream.js';
import type { LogsArgs } from '../../src/protocol/types/containers.js';

/** k8sTime turns conmon's "2026-11-28T21:46:34.709741804+00:00" into UTC "…Z", nanoseconds kept. */
export function k8sTime(ts: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return ts;
  const frac = (m[2] ?? '').padEnd(9, '0').slice(0, 9);
  if (m[3] === 'Z' || m[3] === '+00:00') return `${m[1]}.${frac}Z`;
  const utc = new Date(Date.parse(`${m[1]}${m[3]}`)).toISOString().slice(0, 19);
  return `${utc}.${frac}Z`;
}

export class LogConverter {
  private busy: Promise<void> = Promise.resolve();
  private watcher: FSWatcher | null = null;
  private rest = '';

  constructor(
    private readonly source: string,
    private readonly target: string,
    private readonly offsetFile: string,
  ) {}

  private async offset(): Promise<number> {
    return Number((await readFile(this.offsetFile, 'utf8').catch(() => '0')).trim()) || 0;
  }

  /** pump converts what the source has beyond the offset (serialized: one pass at a time). */
  pump(): Promise<void> {
    this.busy = this.busy.then(() => this.pass()).catch(() => {});
    return this.busy;
  }

  private async pass(): Promise<void> {
    let fh;
    try {
      fh = await open(this.source, 'r');
    } catch {
      return; // no log yet
    }
    try {
      let pos = await this.offset();
      const size = (await fh.stat()).size;
      if (size < pos) pos = 0; // conmon rotated the file
      while (pos < size) {
        const buf = Buffer.alloc(Math.min(size - pos, 1 << 20));
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        const text = buf.subarray(0, bytesRead).toString('utf8');
        const end = text.lastIndexOf('\n');
        if (end < 0) break; // a line still being written
        const lines = text.slice(0, end).split('\n');
        let out = '';
        for (const line of lines) {
          const m = /^(\S+) (stdout|stderr) ([FP]) ?(.*)$/s.exec(line);
          if (!m) continue;
          out += JSON.stringify({ log: m[4]! + (m[3] === 'F' ? '\n' : ''), stream: m[2], time: k8sTime(m[1]!) }) + '\n';
        }
        if (out) await appendFile(this.target, out, { mode: 0o640 });
        pos += Buffer.byteLength(text.slice(0, end + 1));
        await writeFile(this.offsetFile, String(pos));
      }
    } finally {
      await fh.close();
    }
  }

  /** follow converts as conmon writes (inotify), until stop(). */
  follow(): void {
    if (this.watcher) return;
    try {
      this.watcher = watch(this.source, () => void this.pump());
    } catch {
      // the file appears with the container's first line: poll until then
      const t = setInterval(() => {
        try {
          this.watcher = watch(this.source, () => void this.pump());
          clearInterval(t);
          void this.pump();
        } catch {
          // not yet
        }
      }, 200);
      t.unref();
    }
    void this.pump();
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    await this.pump();
  }
}

interface Entry {
  log: string;
  stream: string;
  time: string;
}

/** nanos parses an RFC 3339 time into nanoseconds since the epoch (as a bigint). */
function nanos(time: string): bigint {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(time);
  const ms = Date.parse(`${m?.[1] ?? time}Z`);
  return BigInt(Math.floor(ms / 1000)) * 1_000_000_000n + BigInt((m?.[2] ?? '').padEnd(9, '0').slice(0, 9));
}

function frame(e: Entry, a: LogsArgs): Buffer {
  const text = a.timestamps ? `${e.time} ${e.log}` : e.log;
  const data = Buffer.from(text);
  if (a.tty) return data;
  const head = Buffer.alloc(8);
  head[0] = e.stream === 'stderr' ? 2 : 1;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

/**
 * readLogs writes the log as GET /containers/{id}/logs does: multiplexed frames (raw for a
 * tty), filtered by stream, since/until and tail, then (follow) what comes until `finished`.
 */
export async function readLogs(a: LogsArgs, out: PortWriter, finished: () => boolean, signal: AbortSignal, pump: () => Promise<void>): Promise<void> {
  const since = a.since ? BigInt(a.since) : 0n;
  const until = a.until ? BigInt(a.until) : 0n;
  const want = (e: Entry) => {
    if (e.stream === 'stdout' && !a.stdout) return false;
    if (e.stream === 'stderr' && !a.stderr) return false;
    const t = nanos(e.time);
    if (since && t < since) return false;
    if (until && t > until) return false;
    return true;
  };
  out.begin();
  await pump();
  let pos = 0;
  let rest = '';
  const readNew = async (): Promise<Entry[]> => {
    const size = (await stat(a.logPath).catch(() => ({ size: 0 }))).size;
    if (size <= pos) return [];
    const fh = await open(a.logPath, 'r');
    try {
      const buf = Buffer.alloc(size - pos);
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      pos += bytesRead;
      const text = rest + buf.subarray(0, bytesRead).toString('utf8');
      const end = text.lastIndexOf('\n');
      rest = text.slice(end + 1);
      return text
        .slice(0, end < 0 ? 0 : end)
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          try {
            return JSON.parse(l) as Entry;
          } catch {
            return null;
          }
        })
        .filter((e): e is Entry => e !== null);
    } finally {
      await fh.close();
    }
  };
  let entries = (await readNew()).filter(want);
  if (a.tail >= 0) entries = a.tail === 0 ? [] : entries.slice(-a.tail);
  for (const e of entries) await out.write(frame(e, a));
  if (!a.follow) return;
  // Follow: new lines as they come, until the container stops (and its log is drained) or the client goes.
  while (!signal.aborted && !out.closed.aborted) {
    const done = finished();
    await pump();
    for (const e of (await readNew()).filter(want)) await out.write(frame(e, a));
    if (done) return;
    if (until && nanos(new Date().toISOString()) > until) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 100);
      signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  }
}
