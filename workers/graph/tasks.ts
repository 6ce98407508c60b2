/**
 * The piscina pool's tasks: the CPU-bound part of the graph actor's work (hashing,
 * decompression, tar), off the actor's own thread, so a 1 GB layer never delays the actor's
 * other jobs (`docker images` during a `docker load`). Each task is self-contained: plain data
 * in, plain data out; bytes come and go through MessagePorts (stream.ts) or files.
 *
 *   digest  sha256 of bytes or a file
 *   apply   one layer: decompress, hash (diffID), extract safely, record tar-split
 *   unpack  an archive to load (docker save / OCI layout), decompressed, into a staging dir
 *   save    write an archive (docker save) to a port, layers rebuilt from their tar-split
 *   exportRoot  write a container's root filesystem as a tar to a port (docker export)
 *   compressLayer  a layer rebuilt from its tar-split, gzip'ed and hashed, to a port (docker push)
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readFile, symlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { createGzip, gunzipSync } from 'node:zlib';
import { PortReader, PortWriter } from '../../src/protocol/stream.js';
import { readTar } from '../../src/tar/reader.js';
import { TarWriter } from '../../src/tar/writer.js';
import { applyLayer, type ApplyResult, type LayerFormat } from './layer/apply.js';
import { decompress, type Compression } from './layer/compression.js';
import { cleanName, resolveInRootSync } from '../../src/fs/rootpath.js';
import { reassemble } from './layer/tarsplit.js';
import { entry, walk } from './layer/changes.js';

export interface DigestTask {
  /** Hash these bytes… */
  data?: Uint8Array;
  /** …or this file. */
  path?: string;
}

/** digest returns "sha256:<hex>" of the bytes or the file. */
export async function digest(task: DigestTask): Promise<string> {
  const h = createHash('sha256');
  if (task.data) {
    h.update(task.data);
  } else if (task.path) {
    for await (const chunk of createReadStream(task.path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  } else {
    throw new TypeError('digest needs data or path');
  }
  return `sha256:${h.digest('hex')}`;
}

export type Source = { path: string } | { port: MessagePort };

/** Progress as {read: compressed bytes, written: uncompressed bytes}, at most every 100 ms. */
function progressReporter(port: MessagePort | undefined) {
  let last = 0;
  let read = 0;
  let written = 0;
  const send = (force: boolean) => {
    const now = Date.now();
    if (!port || (!force && now - last < 100)) return;
    last = now;
    port.postMessage({ read, written });
  };
  return {
    read: (n: number) => {
      read += n;
      send(false);
    },
    written: (total: number) => {
      written = total;
      send(false);
    },
    done: () => {
      send(true);
      port?.close();
    },
    get total() {
      return read;
    },
  };
}

async function* source(src: Source, onBytes: (n: number) => void, hash?: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  const reader = 'port' in src ? new PortReader(src.port) : null;
  const it: AsyncIterable<Uint8Array> = reader ?? createReadStream((src as { path: string }).path, { highWaterMark: 1 << 20 });
  try {
    for await (const c of it) {
      const b = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      onBytes(b.length);
      hash?.update(b);
      yield b;
    }
  } finally {
    // A task that stops early (a refused tarball) tells the sender to stop sending.
    reader?.close();
  }
}

export interface ApplyTask {
  source: Source;
  root: string;
  format: LayerFormat;
  maxBytes?: number;
  progress?: MessagePort;
}

export interface ApplyTaskResult extends ApplyResult {
  compression: Compression;
  /** Bytes read from the source (compressed size). */
  readBytes: number;
  /** sha256 of the source as read (an OCI layer blob's digest). */
  sourceDigest: string;
}

export async function apply(task: ApplyTask): Promise<ApplyTaskResult> {
  const p = progressReporter(task.progress);
  let compression: Compression = 'none';
  const hash = createHash('sha256');
  try {
    const tar = decompress(source(task.source, p.read, hash), (c) => (compression = c));
    const r = await applyLayer(tar, { root: task.root, format: task.format, maxBytes: task.maxBytes, onProgress: p.written });
    return { ...r, compression, readBytes: p.total, sourceDigest: `sha256:${hash.digest('hex')}` };
  } finally {
    p.done();
  }
}

export interface UnpackTask {
  source: Source;
  dest: string;
  maxBytes?: number;
  progress?: MessagePort;
}

/**
 * unpack extracts an archive to load into a fresh staging directory. Only directories, regular
 * files and symlinks (docker save links layer.tar files to blobs) are kept; every name is
 * resolved inside `dest`, so a hostile archive cannot write elsewhere.
 */
export async function unpack(task: UnpackTask): Promise<{ files: number; bytes: number; compression: Compression }> {
  const p = progressReporter(task.progress);
  let compression: Compression = 'none';
  let files = 0;
  let bytes = 0;
  const max = task.maxBytes ?? Number.MAX_SAFE_INTEGER;
  try {
    await mkdir(task.dest, { recursive: true, mode: 0o700 });
    for await (const e of readTar(decompress(source(task.source, p.read), (c) => (compression = c)))) {
      const parts = cleanName(e.header.name);
      if (parts.length === 0) {
        await e.skip();
        continue;
      }
      const target = resolveInRootSync(task.dest, parts, { createParents: true });
      const existing = await lstat(target).catch(() => null);
      if (e.header.type === 'dir') {
        if (!existing) await mkdir(target, { mode: 0o700 });
      } else if (e.header.type === 'file') {
        if (existing) throw new Error(`invalid archive: ${e.header.name} appears twice`);
        bytes += e.header.size;
        if (bytes > max) throw new Error(`the archive does not fit: it is larger than the ${max} bytes the data root has free`);
        await pipeline(Readable.from(e.body), createWriteStream(target, { flags: 'wx', mode: 0o600 }));
        files++;
        p.written(bytes);
      } else if (e.header.type === 'symlink') {
        if (existing) throw new Error(`invalid archive: ${e.header.name} appears twice`);
        await symlink(e.header.linkname, target);
      } else {
        await e.skip();
      }
    }
    return { files, bytes, compression };
  } finally {
    p.done();
  }
}

export type SaveEntry = { name: string; mtime?: number } & (
  | { dir: true }
  | { data: Uint8Array }
  | { symlink: string }
  | { layer: { tarSplit: Uint8Array; root: string; diffID: string } }
);

/** layerSize is the size of a layer tarball, known from its tar-split without reading a file. */
export function layerSize(tarSplit: Uint8Array): number {
  let size = 0;
  for (const line of gunzipSync(tarSplit).toString('utf8').split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as { type: number; payload?: string; size?: number };
    size += r.type === 2 ? Buffer.from(r.payload ?? '', 'base64').length : (r.size ?? 0);
  }
  return size;
}

export interface SaveTask {
  out: MessagePort;
  entries: SaveEntry[];
  /** Modification time for the archive's own entries (seconds). */
  mtime: number;
}

/** framed writes to a port in frames of about 256 KiB, with the port's flow control. */
function framed(out: PortWriter) {
  // Coalesce: a header or a small file per message would cost a port message each.
  const FRAME = 256 << 10;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let bytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const frame = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await out.write(frame);
  };
  const write = async (b: Buffer) => {
    if (out.closed.aborted) throw new Error('the client went away');
    bytes += b.length;
    pending.push(b);
    pendingBytes += b.length;
    if (pendingBytes >= FRAME) await flush();
  };
  return { write, flush, get bytes() { return bytes; } };
}

/** save writes the archive to `out`, with the port's flow control; it stops if the reader leaves. */
export async function save(task: SaveTask): Promise<{ bytes: number }> {
  const out = new PortWriter(task.out);
  const w = new TarWriter();
  const f = framed(out);
  const { write, flush } = f;
  try {
    out.begin();
    for (const e of task.entries) {
      const base = { name: e.name, mode: 0o644, mtime: e.mtime ?? task.mtime };
      if ('dir' in e) await write(w.header({ ...base, name: e.name.endsWith('/') ? e.name : `${e.name}/`, type: 'dir', mode: 0o755 }));
      else if ('data' in e) await write(w.entry({ ...base, type: 'file' }, Buffer.from(e.data)));
      else if ('symlink' in e) await write(w.header({ ...base, type: 'symlink', mode: 0o777, linkname: e.symlink }));
      else {
        const size = layerSize(e.layer.tarSplit);
        await write(w.header({ ...base, type: 'file', size }));
        for await (const chunk of reassemble(Buffer.from(e.layer.tarSplit), e.layer.root, e.layer.diffID)) await write(chunk);
        await write(w.pad(size));
      }
    }
    await write(w.end());
    await flush();
    out.end();
    return { bytes: f.bytes };
  } catch (err) {
    out.fail(err);
    throw err;
  }
}

export interface ExportTask {
  out: MessagePort;
  /** A container's mounted root filesystem. */
  root: string;
}

/** hostNames maps uids and gids to the host's user and group names (root when unknown files). */
async function hostNames(): Promise<(uid: number, gid: number) => { uname: string; gname: string }> {
  const read = async (file: string) => {
    const m = new Map<number, string>();
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id && /^\d+$/.test(id) && !m.has(Number(id))) m.set(Number(id), name);
    }
    return m;
  };
  const users = await read('/etc/passwd');
  const groups = await read('/etc/group');
  users.set(0, users.get(0) ?? 'root');
  groups.set(0, groups.get(0) ?? 'root');
  return (uid, gid) => ({ uname: users.get(uid) ?? '', gname: groups.get(gid) ?? '' });
}

/**
 * exportRoot writes a container's whole filesystem as a tar to `out` (docker export): names
 * without "./", no entry for the root itself, sorted, parents first, as dockerd's.
 */
export async function exportRoot(task: ExportTask): Promise<{ bytes: number }> {
  const out = new PortWriter(task.out);
  const w = new TarWriter();
  const f = framed(out);
  const links = new Map<string, string>();
  try {
    out.begin();
    const names = await hostNames();
    for await (const e of walk(task.root)) {
      if (e.st.isSocket()) continue; // as dockerd's archive: sockets are not carried
      for await (const b of entry(w, e.rel, e.host, e.st, links, names)) await f.write(b);
    }
    await f.write(w.end());
    await f.flush();
    out.end();
    return { bytes: f.bytes };
  } catch (err) {
    out.fail(err);
    throw err;
  }
}

export interface CompressTask {
  out: MessagePort;
  tarSplit: Uint8Array;
  root: string;
  diffID: string;
  /** Uncompressed bytes read so far, as {read}, at most every 100 ms. */
  progress?: MessagePort;
}

/**
 * compressLayer writes a layer's blob as a push uploads it: the tarball rebuilt byte for byte
 * from its tar-split (checked against its diffID), gzip'ed, to `out` with the port's flow
 * control; it returns the blob's digest and size, known only once the last byte is out.
 */
export async function compressLayer(task: CompressTask): Promise<{ digest: string; size: number }> {
  const out = new PortWriter(task.out);
  const f = framed(out);
  const p = progressReporter(task.progress);
  const hash = createHash('sha256');
  try {
    out.begin();
    const gz = createGzip();
    const tar = Readable.from(reassemble(Buffer.from(task.tarSplit), task.root, task.diffID));
    tar.on('data', (c: Buffer) => p.read(c.length));
    tar.on('error', (e) => gz.destroy(e));
    tar.pipe(gz);
    for await (const c of gz) {
      hash.update(c as Buffer);
      await f.write(c as Buffer);
    }
    await f.flush();
    out.end();
    return { digest: `sha256:${hash.digest('hex')}`, size: f.bytes };
  } catch (err) {
    out.fail(err);
    throw err;
  } finally {
    p.done();
  }
}
