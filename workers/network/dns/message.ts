/**
 * DNS messages on the wire (RFC 1035), as much as the embedded DNS server needs: read any
 * message (queries from containers, answers from upstream servers), and write the few replies
 * the server gives itself — A, AAAA and PTR answers, and empty replies with an rcode.
 *
 * Nothing here throws on a bad packet: parseMessage and parseQuery return null, and
 * rejectPacket says what (if anything) to send back. A packet comes from a container, which
 * is not trusted.
 */
import { isIPv4, isIPv6, SocketAddress } from 'node:net';

export const RRType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const RRClass = { IN: 1 } as const;
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const Opcode = { QUERY: 0 } as const;

/** Header flag bits (RFC 1035 4.1.1). */
export const Flag = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080, CD: 0x0010 } as const;

/** A UDP reply is cut at 512 bytes unless the query's EDNS0 record offers more (RFC 1035 4.2.1, RFC 6891 6.2.5). */
export const UDP_MIN_SIZE = 512;
/** The largest message: a TCP message's length prefix has 16 bits. */
export const MAX_MESSAGE_SIZE = 65535;
/** dockerd's resolver gives its own records a TTL of 600 s (respTTL, libnetwork/resolver.go). */
export const TTL = 600;

const HEADER_SIZE = 12;
const MAX_LABEL_OCTETS = 63;
const MAX_NAME_OCTETS = 255;
/** Where the question's name starts: the target of the compression pointer in our answers. */
const QUESTION_NAME_OFFSET = HEADER_SIZE;

export interface Header {
  id: number;
  /** The 16 bits after the id: QR, opcode, AA, TC, RD, RA, Z, AD, CD and the rcode. */
  flags: number;
  opcode: number;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export interface Question {
  /** The labels as sent (case kept): replies echo them as they came. */
  labels: Buffer[];
  /** The labels joined by dots, without the root's trailing dot ("" for the root). */
  name: string;
  type: number;
  class: number;
}

export interface ResourceRecord {
  name: string;
  type: number;
  /** For an OPT record, the sender's UDP payload size (RFC 6891). */
  class: number;
  ttl: number;
  data: Buffer;
  /** A and AAAA: the address as text; PTR: the name it points to; other types: null. */
  value: string | null;
}

export interface Message {
  header: Header;
  questions: Question[];
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

/** A query the server accepts: one question, and what it needs to know to reply. */
export interface Query {
  id: number;
  rd: boolean;
  cd: boolean;
  question: Question;
  /** The UDP payload size of the query's EDNS0 OPT record, or null when it has none. */
  ednsSize: number | null;
}

/** Thrown inside this module only, when a packet ends early or breaks a rule; never escapes it. */
class Malformed extends Error {}

/** A cursor over a packet that throws Malformed instead of reading past the end. */
class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
  ) {}

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Malformed('message ends early');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  name(): Buffer[] {
    const { labels, end } = readName(this.buf, this.pos);
    this.pos = end;
    return labels;
  }
}

/**
 * readName reads a possibly compressed name at `start`; `end` is where the name ends in the
 * message (after its first pointer, or after its root label).
 *
 * Loops are impossible by construction: every pointer must point before the start of the
 * run of labels that led to it, so the targets strictly decrease. The 255-octet limit
 * (RFC 1035 2.3.4) bounds the labels collected on the way.
 */
function readName(buf: Buffer, start: number): { labels: Buffer[]; end: number } {
  const labels: Buffer[] = [];
  let pos = start;
  let runStart = start;
  let end = -1;
  let octets = 1; // the root label
  for (;;) {
    if (pos >= buf.length) throw new Malformed('name runs past the end');
    const len = buf[pos]!;
    if (len === 0) {
      return { labels, end: end < 0 ? pos + 1 : end };
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new Malformed('pointer runs past the end');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= runStart) throw new Malformed('compression pointer does not point backwards');
      if (end < 0) end = pos + 2;
      pos = target;
      runStart = target;
      continue;
    }
    // 0x40 and 0x80 are reserved label types (RFC 6891 drops the extended labels).
    if (len > MAX_LABEL_OCTETS) throw new Malformed('label longer than 63 octets');
    octets += len + 1;
    if (octets > MAX_NAME_OCTETS) throw new Malformed('name longer than 255 octets');
    if (pos + 1 + len > buf.length) throw new Malformed('label runs past the end');
    labels.push(buf.subarray(pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
}

/** Labels as dotted text. Bytes are read as latin1, so any byte maps to one character. */
function dotted(labels: Buffer[]): string {
  return labels.map((l) => l.toString('latin1')).join('.');
}

function readHeaderAt(r: Reader): Header {
  const id = r.u16();
  const flags = r.u16();
  return {
    id,
    flags,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    qdcount: r.u16(),
    ancount: r.u16(),
    nscount: r.u16(),
    arcount: r.u16(),
  };
}

/** readHeader reads the 12-byte header, or returns null when the packet is shorter. */
export function readHeader(packet: Buffer): Header | null {
  if (packet.length < HEADER_SIZE) return null;
  return readHeaderAt(new Reader(packet));
}

function readRecord(r: Reader): ResourceRecord {
  const labels = r.name();
  const type = r.u16();
  const cls = r.u16();
  const ttl = r.u32();
  const length = r.u16();
  const dataStart = r.pos;
  const data = r.bytes(length);
  let value: string | null = null;
  if (type === RRType.A && length === 4) value = ipText(data);
  else if (type === RRType.AAAA && length === 16) value = ipText(data);
  // A PTR's name may point back into the message, so it is read from the whole packet.
  else if (type === RRType.PTR) value = dotted(readName(r.buf, dataStart).labels);
  return { name: dotted(labels), type, class: cls, ttl, data, value };
}

function readMessage(packet: Buffer): Message {
  const r = new Reader(packet);
  const header = readHeaderAt(r);
  const questions: Question[] = [];
  for (let i = 0; i < header.qdcount; i++) {
    const labels = r.name();
    questions.push({ labels, name: dotted(labels), type: r.u16(), class: r.u16() });
  }
  // Each record takes at least 11 bytes, so these loops end with the packet at the latest.
  const records = (count: number) => {
    const list: ResourceRecord[] = [];
    for (let i = 0; i < count; i++) list.push(readRecord(r));
    return list;
  };
  const answers = records(header.ancount);
  const authority = records(header.nscount);
  const additional = records(header.arcount);
  return { header, questions, answers, authority, additional };
}

/** parseMessage reads a whole message, or returns null when it is malformed. */
export function parseMessage(packet: Buffer): Message | null {
  try {
    return readMessage(packet);
  } catch (err) {
    // A bounds check that was missed is a dropped packet, not a crashed server.
    if (err instanceof Malformed || err instanceof RangeError) return null;
    throw err;
  }
}

/**
 * acceptable applies the checks of miekg/dns's DefaultMsgAcceptFunc, which dockerd's resolver
 * runs behind: a query (not a response), opcode QUERY, exactly one question, at most one
 * answer and one authority record, at most two additional records.
 */
function acceptable(h: Header): boolean {
  return (h.flags & Flag.QR) === 0 && h.opcode === Opcode.QUERY && h.qdcount === 1 && h.ancount <= 1 && h.nscount <= 1 && h.arcount <= 2;
}

/**
 * parseQuery reads a query the server will answer, or returns null: then rejectPacket says
 * what to send back. An EDNS0 OPT record in the additional section is read for its UDP size;
 * a second one makes the query malformed (RFC 6891 6.1.1).
 */
export function parseQuery(packet: Buffer): Query | null {
  const header = readHeader(packet);
  if (!header || !acceptable(header)) return null;
  const msg = parseMessage(packet);
  if (!msg) return null;
  let ednsSize: number | null = null;
  for (const rr of msg.additional) {
    if (rr.type !== RRType.OPT) continue;
    if (ednsSize !== null || rr.name !== '') return null;
    ednsSize = rr.class;
  }
  return {
    id: header.id,
    rd: (header.flags & Flag.RD) !== 0,
    cd: (header.flags & Flag.CD) !== 0,
    question: msg.questions[0]!,
    ednsSize,
  };
}

/**
 * rejectPacket is the reply to a packet parseQuery refused, as miekg/dns's server gives it:
 * nothing for a packet shorter than a header or that is itself a response (a reply could be
 * used to amplify or to loop); NOTIMP for an opcode other than QUERY; FORMERR otherwise.
 * The reply is a bare header with the packet's id.
 */
export function rejectPacket(packet: Buffer): Buffer | null {
  const header = readHeader(packet);
  if (!header || (header.flags & Flag.QR) !== 0) return null;
  const notImplemented = header.opcode !== Opcode.QUERY;
  let flags = Flag.QR | (header.flags & (Flag.RD | Flag.CD));
  if (notImplemented) flags |= (header.opcode << 11) | Rcode.NOTIMP;
  else flags |= Rcode.FORMERR;
  const out = Buffer.alloc(HEADER_SIZE);
  out.writeUInt16BE(header.id, 0);
  out.writeUInt16BE(flags, 2);
  return out;
}

/** An answer the server gives itself. Its owner name is always the question's name. */
export interface Answer {
  type: typeof RRType.A | typeof RRType.AAAA | typeof RRType.PTR;
  /** A and AAAA: an address as text; PTR: a dotted name. */
  data: string;
}

/** encodeName writes a dotted name uncompressed, or returns null when it cannot be a DNS name. */
export function encodeName(name: string): Buffer | null {
  const text = name.endsWith('.') ? name.slice(0, -1) : name;
  const labels = text === '' ? [] : text.split('.');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length === 0 || bytes.length > MAX_LABEL_OCTETS) return null;
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  return out.length > MAX_NAME_OCTETS ? null : out;
}

function encodeLabels(labels: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of labels) parts.push(Buffer.from([l.length]), l);
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function rdata(answer: Answer): Buffer | null {
  if (answer.type === RRType.A) return isIPv4(answer.data) ? ipv4Bytes(answer.data) : null;
  if (answer.type === RRType.AAAA) return isIPv6(answer.data) ? ipv6Bytes(answer.data) : null;
  return encodeName(answer.data);
}

export interface ReplyOptions {
  rcode: number;
  answers?: Answer[];
  /** The most the reply may take: 512 or the EDNS0 size over UDP, 65535 over TCP. */
  maxSize: number;
  /** RA. dockerd sets it on the replies it builds itself, and not on its SERVFAIL. */
  recursionAvailable: boolean;
}

/**
 * buildReply writes a reply to a query: the question echoed, then the answers, each named by
 * a compression pointer to the question's name. AA stays clear, as in dockerd's replies
 * (miekg's SetReply does not set it). Answers that do not fit in maxSize are left out and TC
 * is set, as miekg's Truncate does; answers whose data cannot be encoded are left out.
 */
export function buildReply(query: Query, opts: ReplyOptions): Buffer {
  const question = Buffer.alloc(4);
  question.writeUInt16BE(query.question.type, 0);
  question.writeUInt16BE(query.question.class, 2);
  const parts = [Buffer.alloc(HEADER_SIZE), encodeLabels(query.question.labels), question];
  let size = parts[1]!.length + HEADER_SIZE + 4;
  let count = 0;
  let truncated = false;
  for (const answer of opts.answers ?? []) {
    const data = rdata(answer);
    if (!data) continue;
    const rr = Buffer.alloc(12 + data.length);
    rr.writeUInt16BE(0xc000 | QUESTION_NAME_OFFSET, 0);
    rr.writeUInt16BE(answer.type, 2);
    rr.writeUInt16BE(RRClass.IN, 4);
    rr.writeUInt32BE(TTL, 6);
    rr.writeUInt16BE(data.length, 10);
    data.copy(rr, 12);
    if (size + rr.length > opts.maxSize) {
      truncated = true;
      break;
    }
    parts.push(rr);
    size += rr.length;
    count++;
  }
  let flags = Flag.QR | (opts.rcode & 0xf);
  if (query.rd) flags |= Flag.RD;
  if (query.cd) flags |= Flag.CD;
  if (opts.recursionAvailable) flags |= Flag.RA;
  if (truncated) flags |= Flag.TC;
  const header = parts[0]!;
  header.writeUInt16BE(query.id, 0);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(count, 6);
  return Buffer.concat(parts);
}

export interface QueryOptions {
  rd?: boolean;
  /** Adds an EDNS0 OPT record offering this UDP payload size. */
  ednsSize?: number;
  class?: number;
}

/** buildQuery writes a query with one question; the tests use it as a client would. */
export function buildQuery(id: number, name: string, type: number, opts: QueryOptions = {}): Buffer {
  const encoded = encodeName(name);
  if (!encoded) throw new RangeError(`not a DNS name: ${name}`);
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(opts.rd === false ? 0 : Flag.RD, 2);
  header.writeUInt16BE(1, 4);
  const question = Buffer.alloc(4);
  question.writeUInt16BE(type, 0);
  question.writeUInt16BE(opts.class ?? RRClass.IN, 2);
  const parts = [header, encoded, question];
  if (opts.ednsSize !== undefined) {
    header.writeUInt16BE(1, 10);
    // Root name, type OPT, class = payload size, TTL = extended rcode and flags, no options.
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(RRType.OPT, 1);
    opt.writeUInt16BE(opts.ednsSize, 3);
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

/** withId returns a copy of a message with another id. */
export function withId(packet: Buffer, id: number): Buffer {
  const out = Buffer.from(packet);
  out.writeUInt16BE(id, 0);
  return out;
}

function ipv4Bytes(text: string): Buffer {
  return Buffer.from(text.split('.').map(Number));
}

/** ipv6Bytes expands an IPv6 address (checked with isIPv6 first) into its 16 bytes. */
function ipv6Bytes(text: string): Buffer {
  let groups = text;
  // A trailing dotted quad (::ffff:10.0.0.1) stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4Bytes(tail);
    groups = `${text.slice(0, lastColon + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`;
  }
  const [head, rest] = groups.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  // "::" stands for as many zero groups as the others leave out of eight.
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length;
  const all = [...left, ...Array<string>(zeros).fill('0'), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** ipText writes 4 or 16 address bytes as text; IPv6 in its canonical form (RFC 5952). */
export function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

/** canonicalAddress returns an address in the form ipText gives, or null when it is not one. */
export function canonicalAddress(text: string): string | null {
  if (isIPv4(text)) return ipText(ipv4Bytes(text));
  if (isIPv6(text) && !text.includes('%')) return ipText(ipv6Bytes(text));
  return null;
}

/** tcpFrame prefixes a message with its 2-byte length, as DNS over TCP sends it (RFC 1035 4.2.2). */
export function tcpFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(message.length, 0);
  return Buffer.concat([prefix, message]);
}

/** TcpFrames collects a TCP stream's bytes and hands out the whole messages in it. */
export class TcpFrames {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
  }

  /** next returns the next whole message, or null until more bytes arrive. */
  next(): Buffer | null {
    if (this.pending.length < 2) return null;
    const length = this.pending.readUInt16BE(0);
    if (this.pending.length < 2 + length) return null;
    const message = Buffer.from(this.pending.subarray(2, 2 + length));
    this.pending = this.pending.subarray(2 + length);
    return message;
  }
}
