/**
 * Tar headers (POSIX ustar, with the PAX and GNU extensions image layers use): parsing a
 * 512-byte block, and formatting one. Numbers are octal, or GNU base-256 when they do not fit.
 */

export const BLOCK = 512;

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo' | 'pax' | 'paxGlobal' | 'gnuLongName' | 'gnuLongLink' | 'other';

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file',
  '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
  x: 'pax', g: 'paxGlobal', L: 'gnuLongName', K: 'gnuLongLink',
};

export interface Header {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (fractional from PAX). */
  mtime: number;
  type: EntryType;
  /** The raw type flag. */
  flag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX SCHILY.xattr.* records. */
  xattrs: Record<string, Buffer>;
}

function str(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end >= 0 && end < off + len ? end : off + len);
}

function num(buf: Buffer, off: number, len: number): number {
  if (buf[off]! & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte marks it.
    let v = buf[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + buf[off + i]!;
    return v;
  }
  const s = str(buf, off, len).trim();
  return s ? Number.parseInt(s, 8) : 0;
}

export function isZeroBlock(buf: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

export class TarFormatError extends Error {}

/** parseHeader reads one header block; a bad checksum is an error (the archive is not tar). */
export function parseHeader(block: Buffer): Header {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  const want = num(block, 148, 8);
  if (sum !== want) throw new TarFormatError('invalid tar header: checksum mismatch (is this a tar archive?)');
  const flag = String.fromCharCode(block[156]!);
  const magic = block.toString('latin1', 257, 263);
  let name = str(block, 0, 100);
  if (magic.startsWith('ustar')) {
    const prefix = str(block, 345, 155);
    if (prefix && magic === 'ustar\0') name = `${prefix}/${name}`;
  }
  return {
    name,
    mode: num(block, 100, 8) & 0o7777,
    uid: num(block, 108, 8),
    gid: num(block, 116, 8),
    size: num(block, 124, 12),
    mtime: num(block, 136, 12),
    flag,
    type: TYPES[flag] ?? 'other',
    linkname: str(block, 157, 100),
    uname: str(block, 265, 32),
    gname: str(block, 297, 32),
    devmajor: num(block, 329, 8),
    devminor: num(block, 337, 8),
    xattrs: {},
  };
}

/** parsePax reads PAX extended header records ("%d %s=%s\n"). */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number.parseInt(data.toString('latin1', i, sp), 10);
    if (!(len > 0) || i + len > data.length) throw new TarFormatError('invalid PAX header record');
    const rec = data.subarray(sp + 1, i + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out.set(rec.toString('utf8', 0, eq), rec.subarray(eq + 1));
    i += len;
  }
  return out;
}

/** applyPax overrides header fields with PAX records. */
export function applyPax(h: Header, pax: Map<string, Buffer>): void {
  for (const [k, v] of pax) {
    switch (k) {
      case 'path': h.name = v.toString('utf8'); break;
      case 'linkpath': h.linkname = v.toString('utf8'); break;
      case 'size': h.size = Number(v.toString()); break;
      case 'uid': h.uid = Number(v.toString()); break;
      case 'gid': h.gid = Number(v.toString()); break;
      case 'mtime': h.mtime = Number(v.toString()); break;
      case 'uname': h.uname = v.toString('utf8'); break;
      case 'gname': h.gname = v.toString('utf8'); break;
      default:
        if (k.startsWith('SCHILY.xattr.')) h.xattrs[k.slice('SCHILY.xattr.'.length)] = Buffer.from(v);
        else if (k.startsWith('LIBARCHIVE.xattr.')) h.xattrs[decodeURIComponent(k.slice('LIBARCHIVE.xattr.'.length))] = Buffer.from(v.toString(), 'base64');
    }
  }
}

function writeStr(buf: Buffer, off: number, len: number, s: string): boolean {
  const b = Buffer.from(s, 'utf8');
  if (b.length > len) return false;
  b.copy(buf, off);
  return true;
}

function writeNum(buf: Buffer, off: number, len: number, n: number): boolean {
  const oct = Math.floor(n).toString(8);
  if (oct.length <= len - 1) {
    buf.write(oct.padStart(len - 1, '0') + '\0', off, 'latin1');
    return true;
  }
  return false;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

const FLAGS: Partial<Record<EntryType, string>> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

export interface EntryInit {
  name: string;
  type: EntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: number;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer>;
}

function ustar(e: EntryInit, name: string, flag: string, size: number, pax: Map<string, Buffer>): Buffer {
  const b = Buffer.alloc(BLOCK);
  if (!writeStr(b, 0, 100, name)) {
    // Split into prefix/name at a slash if that fits, else PAX path.
    const i = name.lastIndexOf('/', name.length - 1 > 155 ? 155 : name.length - 1);
    if (i > 0 && Buffer.byteLength(name.slice(0, i)) <= 155 && Buffer.byteLength(name.slice(i + 1)) <= 100 && name.slice(i + 1)) {
      writeStr(b, 0, 100, name.slice(i + 1));
      writeStr(b, 345, 155, name.slice(0, i));
    } else {
      pax.set('path', Buffer.from(name));
      writeStr(b, 0, 100, name.slice(0, 99));
    }
  }
  writeNum(b, 100, 8, e.mode ?? (e.type === 'dir' ? 0o755 : 0o644));
  if (!writeNum(b, 108, 8, e.uid ?? 0)) pax.set('uid', Buffer.from(String(e.uid)));
  if (!writeNum(b, 116, 8, e.gid ?? 0)) pax.set('gid', Buffer.from(String(e.gid)));
  if (!writeNum(b, 124, 12, size)) pax.set('size', Buffer.from(String(size)));
  const mt = e.mtime ?? 0;
  writeNum(b, 136, 12, Math.max(0, Math.floor(mt)));
  b[156] = flag.charCodeAt(0);
  if (!writeStr(b, 157, 100, e.linkname ?? '')) pax.set('linkpath', Buffer.from(e.linkname ?? ''));
  b.write('ustar\x0000', 257, 'latin1');
  writeStr(b, 265, 32, e.uname ?? '');
  writeStr(b, 297, 32, e.gname ?? '');
  writeNum(b, 329, 8, e.devmajor ?? 0);
  writeNum(b, 337, 8, e.devminor ?? 0);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

/**
 * formatHeader returns the header block(s) for an entry: a PAX extended header first when a
 * field does not fit ustar or there are xattrs, then the ustar block.
 */
export function formatHeader(e: EntryInit): Buffer {
  const flag = FLAGS[e.type];
  if (!flag) throw new TypeError(`cannot write a tar entry of type ${e.type}`);
  const size = e.type === 'file' ? (e.size ?? 0) : 0;
  const pax = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.set(`SCHILY.xattr.${k}`, v);
  const main = ustar(e, e.name, flag, size, pax);
  if (pax.size === 0) return main;
  const data = Buffer.concat([...pax].map(([k, v]) => paxRecord(k, v)));
  const head = ustar({ name: `PaxHeaders/${e.name.slice(0, 80)}`, type: 'file', mode: 0o644, mtime: e.mtime }, `PaxHeaders/${e.name}`.slice(0, 99), 'x', data.length, new Map());
  return Buffer.concat([head, data, Buffer.alloc(padding(data.length)), main]);
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
