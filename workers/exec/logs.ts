/**
 * Container logs in dockerd's json-file format (<data-root>/containers/<id>/<id>-json.log),
 * one JSON object per line: {"log":"hi\n","stream":"stdout","time":"2026-…Z"}.
 *
 * conmon writes its own k8s-file log ("<time> <stream> <F|P> <text>") whatever berthd is
 * doing; LogConverter turns it into json-file lines, remembering how far it got in an offset
 * file (with the json-file log's length then), so lines a container writes while berthd is
 * down are converted when it is back, and a crash mid-conversion neither loses nor repeats one.
 * readLogs serves GET /containers/{id}/logs from the json-file log.
 */
import { appendFile, open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
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

/** trimFraction writes a time as Go's RFC3339Nano does: trailing zeros of the fraction dropped. */
export function trimFraction(t: string): string {
  return t.replace(/\.(\d*?)0+Z$/, (_m, d: string) => (d ? `.${d}Z` : 'Z'));
}

/** padFraction is the API's form (and `docker logs -t`'s): always nine digits. */
export function padFraction(t: string): string {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(t);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z` : t;
}

/**
 * goString encodes a string as dockerd's json-file writer (Go's encoder): control characters
 * but \n and \r as \u00XX (a tab too), <, > and & as \u003c \u003e \u0026, U+2028/9 escaped,
 * everything else as is.
 */
export function goString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return out + '"';
}

/** dockerd's json-file copier cuts a line that has no end at this many bytes. */
const MAX_ENTRY = 16 * 1024;

interface Pending {
  data: Buffer;
  /** The time of its first part (dockerd's entry has its first byte's time). */
  time: string;
  /** Where its first part starts in conmon's log. */
  at: number;
}

export class LogConverter {
  private busy: Promise<void> = Promise.resolve();
  private watcher: FSWatcher | null = null;
  /**
   * Partial lines (conmon's "P" records, at most 8 KiB each), joined into dockerd's entries:
   * a whole line, or 16 KiB of one, or what is left when the stream ends.
   */
  private readonly pending = new Map<string, Pending>();
  /** How far this process has read (the offset file may be behind it: see pass). */
  private pos: number | null = null;

  constructor(
    private readonly source: string,
    private readonly target: string,
    private readonly offsetFile: string,
  ) {}

  /**
   * The last checkpoint: how far conmon's log was converted ("src") and how long the json-file
   * log was then ("dst"). After a crash, what was appended past dst is cut and converted again
   * from src: every entry once, none lost, none twice.
   */
  private async checkpoint(): Promise<{ src: number; dst: number | null }> {
    const [src = '0', dst] = (await readFile(this.offsetFile, 'utf8').catch(() => '0')).trim().split(/\s+/);
    return { src: Number(src) || 0, dst: dst === undefined ? null : Number(dst) };
  }

  private async resume(): Promise<number> {
    const { src, dst } = await this.checkpoint();
    if (dst !== null) {
      const size = (await stat(this.target).catch(() => ({ size: 0 }))).size;
      if (size > dst) await truncate(this.target, dst);
    }
    return src;
  }

  private async save(src: number): Promise<void> {
    const dst = (await stat(this.target).catch(() => ({ size: 0 }))).size;
    await writeFile(this.offsetFile, `${src} ${dst}`);
  }

  /** pump converts what the source has beyond the offset (serialized: one pass at a time). */
  pump(): Promise<void> {
    this.busy = this.busy.then(() => this.pass()).catch(() => {});
    return this.busy;
  }

  private entry(data: Buffer, stream: string, time: string): string {
    return `{"log":${goString(data.toString('utf8'))},"stream":"${stream}","time":"${trimFraction(time)}"}\n`;
  }

  /** add takes one conmon record and returns the json-file entries it completes. */
  private add(stream: string, flag: string, text: Buffer, time: string, at: number): string {
    let out = '';
    const p = this.pending.get(stream) ?? { data: Buffer.alloc(0), time, at };
    let data = Buffer.concat([p.data, text, flag === 'F' ? NEWLINE : EMPTY]);
    while (data.length > MAX_ENTRY || (data.length === MAX_ENTRY && flag === 'P')) {
      out += this.entry(data.subarray(0, MAX_ENTRY), stream, p.time);
      data = data.subarray(MAX_ENTRY);
    }
    if (flag === 'F') {
      if (data.length) out += this.entry(data, stream, p.time);
      this.pending.delete(stream);
    } else {
      this.pending.set(stream, { data: Buffer.from(data), time: p.time, at: p.at });
    }
    return out;
  }

  private async pass(): Promise<void> {
    let fh;
    try {
      fh = await open(this.source, 'r');
    } catch {
      return; // no log yet
    }
    try {
      let pos = this.pos ?? (await this.resume());
      const size = (await fh.stat()).size;
      if (size < pos) pos = 0; // conmon rotated the file
      while (pos < size) {
        const buf = Buffer.alloc(Math.min(size - pos, 1 << 20));
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        let out = '';
        let at = 0;
        for (;;) {
          const nl = buf.indexOf(10, at);
          if (nl < 0 || nl >= bytesRead) break; // the rest is a record still being written
          const line = buf.subarray(at, nl);
          // "<time> <stream> <F|P> <text>": split on the first three spaces, text as bytes.
          const s1 = line.indexOf(32);
          const s2 = line.indexOf(32, s1 + 1);
          const s3 = line.indexOf(32, s2 + 1);
          const stream = s1 > 0 && s2 > 0 ? line.subarray(s1 + 1, s2).toString() : '';
          const flag = s2 > 0 ? line.subarray(s2 + 1, s2 + 2).toString() : '';
          if ((stream === 'stdout' || stream === 'stderr') && (flag === 'F' || flag === 'P')) {
            const text = s3 > 0 ? line.subarray(s3 + 1) : EMPTY;
            out += this.add(stream, flag, text, k8sTime(line.subarray(0, s1).toString()), pos + at);
          }
          at = nl + 1;
        }
        if (at === 0) break;
        if (out) await appendFile(this.target, out, { mode: 0o640 });
        pos += at;
        this.pos = pos;
        // Checkpoints only where no partial line is pending, so a restart redoes those whole.
        if (this.pending.size === 0) await this.save(pos);
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

  /** stop converts the rest, and writes out partial lines: the stream has ended. */
  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    await this.pump();
    this.busy = this.busy.then(async () => {
      let out = '';
      for (const [stream, p] of this.pending) if (p.data.length) out += this.entry(p.data, stream, p.time);
      this.pending.clear();
      if (out) await appendFile(this.target, out, { mode: 0o640 });
      if (this.pos !== null) await this.save(this.pos);
    });
    await this.busy;
  }
}

const NEWLINE = Buffer.from('\n');
const EMPTY = Buffer.alloc(0);

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
  const text = (a.timestamps ? `${padFraction(e.time)} ` : '') + (a.details ? ' ' : '') + e.log;
  const data = Buffer.from(text);
  if (a.tty) return data;
  const head = Buffer.alloc(8);
  head[0] = e.stream === 'stderr' ? 2 : 1;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

const CHUNK = 256 * 1024;

/** tailOffset is where the last `n` lines of the file start (read backwards, a block at a time). */
async function tailOffset(path: string, n: number): Promise<number> {
  const fh = await open(path, 'r').catch(() => null);
  if (!fh) return 0;
  try {
    const size = (await fh.stat()).size;
    let pos = size;
    let seen = 0;
    const buf = Buffer.alloc(64 * 1024);
    while (pos > 0) {
      const len = Math.min(buf.length, pos);
      pos -= len;
      await fh.read(buf, 0, len, pos);
      for (let i = len - 1; i >= 0; i--) {
        // Each newline but the file's last one starts a line after it.
        if (buf[i] === 10 && pos + i !== size - 1 && ++seen === n) return pos + i + 1;
      }
    }
    return 0;
  } finally {
    await fh.close();
  }
}

/**
 * readLogs writes the log as GET /containers/{id}/logs does: the last `tail` entries (of both
 * streams), those within since/until, of the streams asked for, as multiplexed frames (raw for
 * a tty); then (follow) what comes until `finished`. The file is read in chunks, from the
 * tail's offset, so a big log costs neither memory nor a full read.
 */
export async function readLogs(a: LogsArgs, out: PortWriter, finished: () => boolean, signal: AbortSignal, pump: () => Promise<void>): Promise<void> {
  const since = a.since ? BigInt(a.since) : 0n;
  const until = a.until ? BigInt(a.until) : 0n;
  let pastUntil = false;
  const want = (e: Entry) => {
    const t = nanos(e.time);
    if (since && t < since) return false;
    if (until && t > until) {
      pastUntil = true;
      return false;
    }
    if (e.stream === 'stdout' && !a.stdout) return false;
    if (e.stream === 'stderr' && !a.stderr) return false;
    return true;
  };
  out.begin();
  await pump();
  if (a.tail === 0 && !a.follow) return;
  let pos = a.tail > 0 ? await tailOffset(a.logPath, a.tail) : 0;
  if (a.tail === 0) pos = (await stat(a.logPath).catch(() => ({ size: 0 }))).size;
  let rest = Buffer.alloc(0);
  /** drain sends every complete line from pos to the end of the file. */
  const drain = async (): Promise<void> => {
    const fh = await open(a.logPath, 'r').catch(() => null);
    if (!fh) return;
    try {
      const buf = Buffer.alloc(CHUNK);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) return;
        pos += bytesRead;
        const data = rest.length ? Buffer.concat([rest, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
        const end = data.lastIndexOf(10);
        rest = Buffer.from(end < 0 ? data : data.subarray(end + 1));
        if (end < 0) continue;
        for (const line of data.subarray(0, end).toString('utf8').split('\n')) {
          if (!line) continue;
          let e: Entry;
          try {
            e = JSON.parse(line) as Entry;
          } catch {
            continue;
          }
          if (want(e)) await out.write(frame(e, a));
          if (pastUntil || signal.aborted || out.closed.aborted) return;
        }
      }
    } finally {
      await fh.close();
    }
  };
  await drain();
  if (!a.follow) return;
  // Follow: new lines as they come, until the container stops (and its log is drained) or the client goes.
  while (!signal.aborted && !out.closed.aborted && !pastUntil) {
    const done = finished();
    await pump();
    await drain();
    if (done) return;
    if (until && nanos(new Date().toISOString()) > until) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 100);
      signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  }
}
