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
import { native } from '../../src/native/native.js';
import { appendFile, open, readdir, readFile, rename, rm, stat, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { createReadStream, createWriteStream, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, gunzip } from 'node:zlib';
import { promisify } from 'node:util';
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
  /** When its first part was read (wall clock): see pass. */
  since: number;
  /** The time of its first part (dockerd's entry has its first byte's time). */
  time: string;
  /** Where its first part starts in conmon's log. */
  at: number;
}

/** How a container's json-file log rotates (dockerd's LogFile), and the attrs of its entries. */
export interface LogFileOptions {
  /** Bytes; -1 = never rotate. */
  maxSize: number;
  maxFiles: number;
  compress: boolean;
  /** JSON object of extra attributes ('' = none). */
  attrs: string;
  /** The none driver: nothing converted, nothing kept. */
  none?: boolean;
}

const PLAIN: LogFileOptions = { maxSize: -1, maxFiles: 1, compress: false, attrs: '' };

const ignoreMissing = (err: NodeJS.ErrnoException) => {
  if (err.code !== 'ENOENT') throw err;
};

/** gzip compresses a rotated file as dockerd does (<file>.gz; through a .tmp, so a crash leaves no half file). */
async function gzipFile(file: string): Promise<void> {
  try {
    await pipeline(createReadStream(file), createGzip(), createWriteStream(`${file}.gz.tmp`, { mode: 0o640 }));
  } catch (err) {
    await rm(`${file}.gz.tmp`, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await rename(`${file}.gz.tmp`, `${file}.gz`);
  await rm(file, { force: true });
}

export class LogConverter {
  private busy: Promise<void> = Promise.resolve();
  private watcher: FSWatcher | null = null;
  /**
   * Partial lines (conmon's "P" records, at most 8 KiB each), joined into dockerd's entries:
   * a whole line, or 16 KiB of one, or what is left when the stream ends.
   */
  private readonly pending = new Map<string, Pending>();
  /** How far conmon's log has been freed (punched), and whether its filesystem cannot. */
  private punched = 0;
  private noPunch = false;
  /** How far this process has read (the offset file may be behind it: see pass). */
  private pos: number | null = null;
  /** The json-file log's length (known once resumed). */
  private size = 0;
  /** Rotations done by this process: a follower that holds an older file finds its successors by it. */
  rotations = 0;

  constructor(
    private readonly source: string,
    private readonly target: string,
    private readonly offsetFile: string,
    private readonly opts: LogFileOptions = PLAIN,
  ) {}

  /**
   * The last checkpoint: how far conmon's log was converted ("src"), how long the json-file
   * log was then ("dst") and which file it was (its inode). After a crash, what was appended
   * past dst is cut and converted again from src: every entry once, none lost, none twice. A
   * checkpoint is always taken just before a rotation, so when the current file is another
   * than the checkpoint's, the rotated ones end exactly at src and the current one holds only
   * entries past it: it is emptied.
   */
  private async checkpoint(): Promise<{ src: number; dst: number | null; ino: string }> {
    const [src = '0', dst, ino = '0'] = (await readFile(this.offsetFile, 'utf8').catch(() => '0')).trim().split(/\s+/);
    return { src: Number(src) || 0, dst: dst === undefined ? null : Number(dst), ino };
  }

  private async resume(): Promise<number> {
    const { src, dst, ino } = await this.checkpoint();
    await this.tidy();
    const st = await stat(this.target, { bigint: true }).catch(() => null);
    if (st && dst !== null) {
      if (ino !== '0' && st.ino.toString() !== ino) await truncate(this.target, 0);
      else if (st.size > BigInt(dst)) await truncate(this.target, dst);
    } else if (dst === null) {
      // A run's first pass (the log may hold earlier runs' entries): a checkpoint now, so a
      // crash before the next one truncates back to here rather than doubling this run's lines.
      await this.save(src);
    }
    this.size = (await stat(this.target).catch(() => ({ size: 0 }))).size;
    return src;
  }

  /** tidy finishes what a crash may have left of a rotation: half-written .gz, uncompressed rotated files. */
  private async tidy(): Promise<void> {
    const dir = dirname(this.target);
    const base = basename(this.target);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const n of names) if (n.startsWith(`${base}.`) && n.endsWith('.tmp')) await rm(join(dir, n), { force: true });
    if (this.opts.maxFiles < 2) {
      await rm(`${this.target}.1`, { force: true });
      return;
    }
    if (!this.opts.compress) return;
    for (const n of names) {
      const m = new RegExp(`^${base.replace(/[.]/g, '\\.')}\\.(\\d+)$`).exec(n);
      if (!m) continue;
      if (names.includes(`${n}.gz`)) await rm(join(dir, n), { force: true }); // compressed already: the rename was done
      else await gzipFile(join(dir, n));
    }
  }

  private async save(src: number): Promise<void> {
    const st = await stat(this.target, { bigint: true }).catch(() => null);
    // Written aside and renamed: a crash never leaves a torn checkpoint.
    await writeFile(`${this.offsetFile}.new`, `${src} ${st?.size ?? 0n} ${st?.ino ?? 0n}`);
    await rename(`${this.offsetFile}.new`, this.offsetFile);
  }

  /**
   * rotate is dockerd's: <log>.N-1 dropped, the others shifted up one, the log renamed <log>.1
   * and a new one begun; .1 then gzipped (compress). With max-file 1 the old log is dropped
   * (dockerd 20.10 leaves it as a <log>.1 it never reads).
   */
  private async rotate(): Promise<void> {
    const name = this.target;
    const n = this.opts.maxFiles;
    const ext = this.opts.compress ? '.gz' : '';
    if (n >= 2) {
      await rm(`${name}.${n - 1}${ext}`, { force: true });
      for (let i = n - 1; i > 1; i--) await rename(`${name}.${i - 1}${ext}`, `${name}.${i}${ext}`).catch(ignoreMissing);
    }
    await rename(name, `${name}.1`).catch(ignoreMissing);
    await writeFile(name, '', { mode: 0o640 });
    this.size = 0;
    this.rotations++;
    if (n < 2) await rm(`${name}.1`, { force: true });
    else if (this.opts.compress) await gzipFile(`${name}.1`);
  }

  /** pump converts what the source has beyond the offset (serialized: one pass at a time). */
  pump(): Promise<void> {
    this.busy = this.busy.then(() => this.pass()).catch(() => {});
    return this.busy;
  }

  /** locked runs fn between passes: no entry is appended and no file rotated meanwhile. */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.busy.then(fn);
    this.busy = p.then(() => {}, () => {});
    return p;
  }

  private entry(data: Buffer, stream: string, time: string): string {
    const attrs = this.opts.attrs ? `"attrs":${this.opts.attrs},` : '';
    return `{"log":${goString(data.toString('utf8'))},"stream":"${stream}",${attrs}"time":"${trimFraction(time)}"}\n`;
  }

  /**
   * flushPending writes the partial lines pending as entries of their own, without a newline —
   * as dockerd writes a line it cuts at 16 KiB: `docker logs` shows the same bytes.
   */
  private flushPending(): string {
    let out = '';
    for (const [stream, p] of this.pending) if (p.data.length) out += this.entry(p.data, stream, p.time);
    this.pending.clear();
    return out;
  }

  /** add takes one conmon record and returns the json-file entries it completes. */
  private add(stream: string, flag: string, text: Buffer, time: string, at: number): string {
    let out = '';
    const p = this.pending.get(stream) ?? { data: Buffer.alloc(0), time, at, since: Date.now() };
    let data = Buffer.concat([p.data, text, flag === 'F' ? NEWLINE : EMPTY]);
    while (data.length > MAX_ENTRY || (data.length === MAX_ENTRY && flag === 'P')) {
      out += this.entry(data.subarray(0, MAX_ENTRY), stream, p.time);
      data = data.subarray(MAX_ENTRY);
    }
    if (flag === 'F') {
      if (data.length) out += this.entry(data, stream, p.time);
      this.pending.delete(stream);
    } else {
      this.pending.set(stream, { data: Buffer.from(data), time: p.time, at: p.at, since: p.since });
    }
    return out;
  }

  private async append(out: string): Promise<void> {
    if (!out) return;
    await appendFile(this.target, out, { mode: 0o640 });
    this.size += Buffer.byteLength(out);
  }

  private async pass(): Promise<void> {
    if (this.opts.none) return;
    let fh;
    try {
      // Read-write only to punch holes in what is converted (see freeConverted).
      fh = await open(this.source, 'r+');
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
        let outBytes = 0;
        let at = 0;
        for (;;) {
          const nl = buf.indexOf(10, at);
          if (nl < 0 || nl >= bytesRead) break; // the rest is a record still being written
          // Rotation (dockerd's: before an entry, once the file has reached max-size), where
          // no partial line is pending, after a checkpoint at this very record.
          if (this.opts.maxSize > 0 && this.size + outBytes >= this.opts.maxSize) {
            // A partial line (a prompt, a progress bar) must not hold the rotation off.
            const flushed = this.flushPending();
            out += flushed;
            outBytes += Buffer.byteLength(flushed);
            await this.append(out);
            out = '';
            outBytes = 0;
            this.pos = pos + at;
            await this.save(pos + at);
            await this.rotate();
          }
          const line = buf.subarray(at, nl);
          // "<time> <stream> <F|P> <text>": split on the first three spaces, text as bytes.
          const s1 = line.indexOf(32);
          const s2 = line.indexOf(32, s1 + 1);
          const s3 = line.indexOf(32, s2 + 1);
          const stream = s1 > 0 && s2 > 0 ? line.subarray(s1 + 1, s2).toString() : '';
          const flag = s2 > 0 ? line.subarray(s2 + 1, s2 + 2).toString() : '';
          if ((stream === 'stdout' || stream === 'stderr') && (flag === 'F' || flag === 'P')) {
            const text = s3 > 0 ? line.subarray(s3 + 1) : EMPTY;
            const e = this.add(stream, flag, text, k8sTime(line.subarray(0, s1).toString()), pos + at);
            if (e) {
              out += e;
              outBytes += Buffer.byteLength(e);
            }
          }
          at = nl + 1;
        }
        if (at === 0) break;
        await this.append(out);
        pos += at;
        this.pos = pos;
        // Checkpoints only where no partial line is pending, so a restart redoes those whole;
        // one pending for more than a second is written as an entry of its own first, so a
        // prompt without a newline cannot hold checkpoints (and hole punching) off for ever.
        if (this.pending.size > 0 && [...this.pending.values()].some((p) => Date.now() - p.since > 1000)) {
          await this.append(this.flushPending());
        }
        if (this.pending.size === 0) {
          await this.save(pos);
          this.freeConverted(fh.fd, pos);
        }
      }
    } finally {
      await fh.close();
    }
  }

  /**
   * freeConverted punches a hole in conmon's log up to the checkpoint (whole pages): it lives
   * under the exec root, on /run (memory) by default, and conmon only ever appends to it, so
   * without this a chatty container's log would grow in memory for as long as it runs. The size
   * and offsets stay as they are; a filesystem without hole punching keeps the bytes.
   */
  private freeConverted(fd: number, upTo: number): void {
    const end = Math.floor(upTo / 4096) * 4096;
    if (end <= this.punched || this.noPunch) return;
    try {
      native().punchHole(fd, this.punched, end - this.punched);
      this.punched = end;
    } catch {
      this.noPunch = true;
    }
  }

  /** follow converts as conmon writes (inotify), until stop(). */
  follow(): void {
    if (this.watcher || this.opts.none) return;
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
      await this.append(out);
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
  attrs?: Record<string, string>;
}

/** Go's url.QueryEscape. */
function queryEscape(v: string): string {
  return encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
}

/** dockerd's attrsByteSlice (--details): key=value pairs sorted by key, query-escaped, comma-joined. */
function details(attrs: Record<string, string> | undefined): string {
  if (!attrs) return '';
  return Object.keys(attrs).sort().map((k) => `${queryEscape(k)}=${queryEscape(attrs[k]!)}`).join(',');
}

/** nanos parses an RFC 3339 time into nanoseconds since the epoch (as a bigint). */
function nanos(time: string): bigint {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(time);
  const ms = Date.parse(`${m?.[1] ?? time}Z`);
  return BigInt(Math.floor(ms / 1000)) * 1_000_000_000n + BigInt((m?.[2] ?? '').padEnd(9, '0').slice(0, 9));
}

function frame(e: Entry, a: LogsArgs): Buffer {
  const text = (a.timestamps ? `${padFraction(e.time)} ` : '') + (a.details ? `${details(e.attrs)} ` : '') + e.log;
  const data = Buffer.from(text);
  if (a.tty) return data;
  const head = Buffer.alloc(8);
  head[0] = e.stream === 'stderr' ? 2 : 1;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

const CHUNK = 256 * 1024;

/**
 * What readLogs needs of the container's converter: its lock (no append, no rotation while
 * held) and its count of rotations. A container this process does not convert for has none.
 */
export interface LogSource {
  locked<T>(fn: () => Promise<T>): Promise<T>;
  readonly rotations: number;
}

const STILL: LogSource = { locked: (fn) => fn(), rotations: 0 };

/** One file of the log, from `from` to `to`: an open file (it stays readable when rotated away) or a gunzipped one. */
interface Segment {
  fh: FileHandle | null;
  data: Buffer | null;
  from: number;
  to: number;
}

const gunzipAsync = promisify(gunzip);

/** rotated lists <log>.N (or .N.gz), oldest (highest N) first. */
async function rotated(logPath: string): Promise<Array<{ n: number; path: string }>> {
  const dir = dirname(logPath);
  const base = basename(logPath);
  const found = new Map<number, string>();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(`${base}.`)) continue;
    const m = /^(\d+)(\.gz)?$/.exec(name.slice(base.length + 1));
    if (!m) continue;
    const n = Number(m[1]);
    // Both there: the .gz is whole and the plain one about to go; the plain one is as good.
    if (!found.has(n) || !m[2]) found.set(n, join(dir, name));
  }
  return [...found.entries()].sort((a, b) => b[0] - a[0]).map(([n, path]) => ({ n, path }));
}

/** openRotated opens <log>.n (or .n.gz), null when it is not there. */
async function openRotated(logPath: string, n: number): Promise<FileHandle | null> {
  const plain = await open(`${logPath}.${n}`, 'r').catch(() => null);
  if (plain) return plain;
  const gz = await open(`${logPath}.${n}.gz`, 'r').catch(() => null);
  if (gz) (gz as FileHandle & { gz?: boolean }).gz = true;
  return gz;
}

/** segment makes a whole-file segment of an opened rotated file (a .gz one is gunzipped). */
async function segment(fh: FileHandle): Promise<Segment> {
  if ((fh as FileHandle & { gz?: boolean }).gz) {
    const data = await gunzipAsync(await fh.readFile()).catch(() => Buffer.alloc(0));
    await fh.close();
    return { fh: null, data, from: 0, to: data.length };
  }
  return { fh, data: null, from: 0, to: (await fh.stat()).size };
}

async function readAt(s: Segment, buf: Buffer, len: number, pos: number): Promise<number> {
  if (s.data) return s.data.copy(buf, 0, pos, Math.min(pos + len, s.data.length));
  return (await s.fh!.read(buf, 0, len, pos)).bytesRead;
}

/**
 * tailStart finds where the last `n` lines of the segments begin (read backwards, a block at
 * a time, newest segment first): [segment index, offset]. Every segment ends with a newline.
 */
async function tailStart(segs: Segment[], n: number): Promise<[number, number]> {
  let seen = 0;
  const buf = Buffer.alloc(64 * 1024);
  for (let k = segs.length - 1; k >= 0; k--) {
    const s = segs[k]!;
    let pos = s.to;
    while (pos > s.from) {
      const len = Math.min(buf.length, pos - s.from);
      pos -= len;
      await readAt(s, buf, len, pos);
      for (let i = len - 1; i >= 0; i--) {
        // Each newline but the segment's last one starts a line after it.
        if (buf[i] === 10 && pos + i !== s.to - 1 && ++seen === n) return [k, pos + i + 1];
      }
    }
    if (s.to > s.from && ++seen === n) return [k, s.from]; // the segment's first line
  }
  return [0, segs[0]?.from ?? 0];
}

/**
 * readLogs writes the log as GET /containers/{id}/logs does: the last `tail` entries (of both
 * streams, across the rotated files as dockerd reads them, oldest first), those within
 * since/until, of the streams asked for, as multiplexed frames (raw for a tty); then (follow)
 * what comes until `finished`, across rotations. The files are opened under the converter's
 * lock (a rotation cannot slip between them) and read in chunks outside it.
 */
export async function readLogs(a: LogsArgs, out: PortWriter, finished: () => boolean, signal: AbortSignal, pump: () => Promise<void>, source: LogSource = STILL): Promise<void> {
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
  const stopped = () => pastUntil || signal.aborted || out.closed.aborted;

  /** emit sends every line of the segments (closing them). */
  const emit = async (segs: Segment[]): Promise<void> => {
    const buf = Buffer.alloc(CHUNK);
    try {
      for (const s of segs) {
        let pos = s.from;
        let rest = Buffer.alloc(0);
        while (pos < s.to && !stopped()) {
          const n = await readAt(s, buf, Math.min(buf.length, s.to - pos), pos);
          if (n === 0) break;
          pos += n;
          const data = rest.length ? Buffer.concat([rest, buf.subarray(0, n)]) : buf.subarray(0, n);
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
            if (stopped()) return;
          }
        }
      }
    } finally {
      await closeAll(segs, st.cur);
    }
  };

  // The files as they are now: rotated ones oldest first, then the current one (held open
  // for follow, from where this snapshot ends).
  const st: { cur: FileHandle | null; pos: number; gen: number } = { cur: null, pos: 0, gen: 0 };
  const snapshot = await source.locked(async () => {
    const olds: FileHandle[] = [];
    for (const r of await rotated(a.logPath)) {
      const fh = await openRotated(a.logPath, r.n);
      if (fh) olds.push(fh);
    }
    st.cur = await open(a.logPath, 'r').catch(() => null);
    st.pos = st.cur ? (await st.cur.stat()).size : 0;
    st.gen = source.rotations;
    return olds;
  });
  try {
    const segs = await Promise.all(snapshot.map(segment));
    if (st.cur) segs.push({ fh: st.cur, data: null, from: 0, to: st.pos });
    if (a.tail === 0) {
      await closeAll(segs, st.cur);
    } else if (a.tail > 0) {
      const [k, off] = await tailStart(segs, a.tail);
      await closeAll(segs.slice(0, k), st.cur);
      if (segs[k]) segs[k]!.from = off;
      await emit(segs.slice(k));
    } else {
      await emit(segs);
    }
    if (!a.follow) return;
    // Follow: new lines as they come, until the container stops (and its log is drained) or
    // the client goes. After k rotations since the last look, the file held is <log>.k and
    // the files after it (.k-1 … .1, then the new current one) are read whole.
    while (!stopped()) {
      const done = finished();
      await pump();
      const more = await source.locked(async () => {
        const held = st.cur;
        const list: Array<Segment | FileHandle> = [];
        if (held) list.push({ fh: held, data: null, from: st.pos, to: (await held.stat()).size });
        const k = source.rotations - st.gen;
        if (k === 0 && held) {
          st.pos = (list[0] as Segment).to;
          return list;
        }
        for (let j = held ? k - 1 : k; j >= 1; j--) {
          const fh = await openRotated(a.logPath, j);
          if (fh) list.push(fh);
        }
        const now = await open(a.logPath, 'r').catch(() => null);
        st.cur = now;
        st.pos = now ? (await now.stat()).size : 0;
        st.gen = source.rotations;
        if (now) list.push({ fh: now, data: null, from: 0, to: st.pos });
        return list;
      });
      const segs: Segment[] = [];
      for (const x of more) segs.push('to' in x ? x : await segment(x));
      await emit(segs);
      if (done) return;
      if (until && nanos(new Date().toISOString()) > until) return;
      await new Promise<void>((resolve) => {
        // The listener goes with its timer: a long follow must not pile them up on the signal.
        const onAbort = () => (clearTimeout(t), resolve());
        const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), 100);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  } finally {
    if (st.cur) await st.cur.close().catch(() => {});
  }
}

async function closeAll(segs: Segment[], keep: FileHandle | null): Promise<void> {
  for (const s of segs) if (s.fh && s.fh !== keep) await s.fh.close().catch(() => {});
}
