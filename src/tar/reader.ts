/**
 * readTar parses a tar stream entry by entry, without buffering file contents.
 *
 * Every byte that is not file content (header blocks, PAX/GNU extension blocks and their data,
 * padding, the end-of-archive blocks and anything after them) is handed to `onSegment`, in
 * order; file contents come through each entry's `body`. Together they are the whole stream,
 * which is what tar-split needs to give back a layer byte for byte (its diffID).
 *
 * An entry's body must be consumed (or `skip()`ed) before asking for the next entry.
 */
import { BLOCK, TarFormatError, applyPax, isZeroBlock, padding, parseHeader, parsePax, type Header } from './header.js';

export interface TarEntry {
  header: Header;
  body: AsyncIterable<Buffer>;
  /** Discard the rest of the body. */
  skip(): Promise<void>;
}

export interface ReadOptions {
  onSegment?: (bytes: Buffer) => void;
  /** Largest PAX / GNU long-name payload accepted (they are held in memory). */
  maxMetaBytes?: number;
}

/** ByteSource reads exact amounts from a stream of chunks. */
class ByteSource {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer | Uint8Array>) {}

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    return true;
  }

  /** read returns exactly n bytes, or fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && (await this.fill()));
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  /** chunk returns up to n bytes (at least 1 unless at the end). */
  async chunk(n: number): Promise<Buffer> {
    if (this.buf.length === 0 && !(await this.fill())) return Buffer.alloc(0);
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  /** rest yields everything left. */
  async *rest(): AsyncGenerator<Buffer> {
    if (this.buf.length) yield this.buf;
    this.buf = Buffer.alloc(0);
    while (await this.fill()) {
      const b = this.buf;
      this.buf = Buffer.alloc(0);
      yield b;
    }
  }
}

export async function* readTar(source: AsyncIterable<Buffer | Uint8Array>, opts: ReadOptions = {}): AsyncGenerator<TarEntry> {
  const src = new ByteSource(source[Symbol.asyncIterator]());
  const seg = opts.onSegment ?? (() => {});
  const maxMeta = opts.maxMetaBytes ?? 1 << 20;
  let globalPax = new Map<string, Buffer>();
  for (;;) {
    let pax = new Map<string, Buffer>();
    let longName: string | null = null;
    let longLink: string | null = null;
    let header: Header;
    // Read headers until a real entry (extension headers modify the next one).
    for (;;) {
      const block = await src.read(BLOCK);
      if (block.length === 0) return; // a stream that ends without end-of-archive blocks
      if (block.length < BLOCK) throw new TarFormatError('unexpected end of tar archive (truncated header)');
      seg(block);
      if (isZeroBlock(block)) {
        // End of archive: keep the rest (the second zero block, record padding) byte for byte.
        for await (const rest of src.rest()) seg(rest);
        return;
      }
      const h = parseHeader(block);
      if (h.type === 'pax' || h.type === 'paxGlobal' || h.type === 'gnuLongName' || h.type === 'gnuLongLink') {
        if (h.size > maxMeta) throw new TarFormatError(`tar extension header too large (${h.size} bytes)`);
        const data = await src.read(h.size);
        if (data.length < h.size) throw new TarFormatError('unexpected end of tar archive (truncated extension header)');
        seg(data);
        const pad = await src.read(padding(h.size));
        seg(pad);
        if (h.type === 'pax') pax = new Map([...pax, ...parsePax(data)]);
        else if (h.type === 'paxGlobal') globalPax = new Map([...globalPax, ...parsePax(data)]);
        else if (h.type === 'gnuLongName') longName = data.toString('utf8').replace(/\0+$/, '');
        else longLink = data.toString('utf8').replace(/\0+$/, '');
        continue;
      }
      header = h;
      break;
    }
    applyPax(header, globalPax);
    applyPax(header, pax);
    if (longName !== null) header.name = longName;
    if (longLink !== null) header.linkname = longLink;
    const size = header.type === 'file' ? header.size : header.type === 'link' || header.type === 'symlink' || header.type === 'dir' ? 0 : header.size;

    let left = size;
    let consumed = false;
    const body: AsyncIterable<Buffer> = {
      async *[Symbol.asyncIterator]() {
        while (left > 0) {
          const c = await src.chunk(Math.min(left, 1 << 20));
          if (c.length === 0) throw new TarFormatError(`unexpected end of tar archive in the contents of ${header.name}`);
          left -= c.length;
          yield c;
        }
        if (!consumed) {
          consumed = true;
          const pad = await src.read(padding(size));
          seg(pad);
        }
      },
    };
    const entry: TarEntry = {
      header,
      body,
      skip: async () => {
        for await (const _ of body) void _;
      },
    };
    yield entry;
    if (!consumed) await entry.skip();
  }
}
