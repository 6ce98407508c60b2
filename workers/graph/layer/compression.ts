/**
 * Compressed layers and archives, recognised by their magic bytes and decompressed here, on
 * the host side, before any byte reaches a root filesystem. gzip is Node's zlib; zstd, xz and
 * bzip2 are Debian's zstd, xz-utils and bzip2 (Node 20 has no zstd), fed through pipes.
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

export type Compression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

export function detectCompression(head: Buffer): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  return 'none';
}

const TOOLS: Record<Exclude<Compression, 'none' | 'gzip'>, [string, string[]]> = {
  zstd: ['zstd', ['-d', '-c', '-q', '--no-progress']],
  xz: ['xz', ['-d', '-c', '-q']],
  bzip2: ['bzip2', ['-d', '-c', '-q']],
};

/** peek reads until at least n bytes are known, and gives back a stream that still has them. */
async function peek(source: AsyncIterable<Buffer>, n: number): Promise<{ head: Buffer; stream: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const first: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    first.push(b);
    have += b.length;
  }
  const head = Buffer.concat(first);
  async function* stream(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    }
  }
  return { head, stream: stream() };
}

/** decompress yields the uncompressed bytes of `source`, whatever its compression; `onKind` says which. */
export async function* decompress(source: AsyncIterable<Buffer>, onKind?: (c: Compression) => void): AsyncGenerator<Buffer> {
  const { head, stream } = await peek(source, 6);
  const kind = detectCompression(head);
  onKind?.(kind);
  if (kind === 'none') {
    yield* stream;
    return;
  }
  if (kind === 'gzip') {
    const gunzip = createGunzip();
    Readable.from(stream).on('error', (e) => gunzip.destroy(e)).pipe(gunzip);
    for await (const c of gunzip) yield c as Buffer;
    return;
  }
  const [cmd, args] = TOOLS[kind];
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? new Error(`cannot decompress ${kind}: ${cmd} is not installed`) : e));
    child.on('close', (code) => resolve(code ?? 1));
  });
  exited.catch(() => {});
  const feeding = (async () => {
    try {
      for await (const c of stream) {
        if (!child.stdin.write(c)) await new Promise((r) => child.stdin.once('drain', r));
      }
    } catch {
      // the consumer stopped, or decompression failed: the child's exit says which
    } finally {
      child.stdin.end();
    }
  })();
  child.stdin.on('error', () => {});
  try {
    for await (const c of child.stdout) yield c as Buffer;
    const code = await exited;
    if (code !== 0) throw new Error(`${kind} decompression failed: ${stderr.trim() || `${cmd} exited with ${code}`}`);
  } finally {
    if (child.exitCode === null) child.kill();
    await feeding;
  }
}
