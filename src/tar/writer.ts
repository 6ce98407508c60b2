/**
 * TarWriter produces a tar stream: entries with their headers, contents and padding, then the
 * end-of-archive blocks. It yields Buffers; the caller writes them where they go.
 */
import { BLOCK, formatHeader, padding, type EntryInit } from './header.js';

export class TarWriter {
  /** header returns the header block(s) of an entry; its contents follow, then pad(size). */
  header(e: EntryInit): Buffer {
    return formatHeader(e);
  }

  pad(size: number): Buffer {
    return Buffer.alloc(padding(size));
  }

  /** entry returns a whole small entry (header, contents, padding) at once. */
  entry(e: EntryInit, data?: Buffer): Buffer {
    const body = data ?? Buffer.alloc(0);
    return Buffer.concat([formatHeader({ ...e, size: body.length }), body, Buffer.alloc(padding(body.length))]);
  }

  /** end is the end-of-archive marker: two zero blocks. */
  end(): Buffer {
    return Buffer.alloc(BLOCK * 2);
  }
}
