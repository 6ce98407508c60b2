/**
 * The DNS wire format of the embedded server, without sockets: queries and replies round
 * trip, replies are truncated at the client's size, and malformed packets never throw.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import {
  buildQuery,
  buildReply,
  canonicalAddress,
  Flag,
  parseMessage,
  parseQuery,
  Rcode,
  readHeader,
  rejectPacket,
  RRType,
  TcpFrames,
  tcpFrame,
  TTL,
  type Answer,
} from '../../../workers/network/dns/message.js';
import { ptrAddress } from '../../../workers/network/dns/resolver.js';
import { DnsTable } from '../../../workers/network/dns/table.js';

/** header(id, flags, qd, an, ns, ar) writes a bare 12-byte header. */
function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const b = Buffer.alloc(12);
  [id, flags, qd, an, ns, ar].forEach((v, i) => b.writeUInt16BE(v, i * 2));
  return b;
}

/** withCount sets one of the four section counts (0 question … 3 additional) of a message. */
function withCount(msg: Buffer, section: number, count: number): Buffer {
  const out = Buffer.from(msg);
  out.writeUInt16BE(count, 4 + section * 2);
  return out;
}

test('a query round-trips: id, RD, name, type, EDNS0 size', (t) => {
  const q = parseQuery(buildQuery(0x1234, 'Web.MyNet.', RRType.AAAA, { ednsSize: 1232 }));
  t.truthy(q);
  t.is(q!.id, 0x1234);
  t.true(q!.rd);
  t.false(q!.cd);
  t.is(q!.question.name, 'Web.MyNet', 'case kept, no trailing dot');
  t.is(q!.question.type, RRType.AAAA);
  t.is(q!.question.class, 1);
  t.is(q!.ednsSize, 1232);

  const plain = parseQuery(buildQuery(7, 'web', RRType.A, { rd: false }));
  t.is(plain!.ednsSize, null);
  t.false(plain!.rd);
  t.deepEqual(buildQuery(7, 'web.', RRType.A), buildQuery(7, 'web', RRType.A), 'a trailing dot is the same name on the wire');
});

test('a reply round-trips: flags as dockerd sets them, TTL 600, answers named by a pointer to the question', (t) => {
  const query = parseQuery(buildQuery(42, 'web', RRType.A))!;
  const answers: Answer[] = [
    { type: RRType.A, data: '172.18.0.2' },
    { type: RRType.AAAA, data: 'fd00::2' },
    { type: RRType.PTR, data: 'web.mynet' },
  ];
  const reply = buildReply(query, { rcode: Rcode.NOERROR, answers, maxSize: 512, recursionAvailable: true });
  const msg = parseMessage(reply)!;
  t.is(msg.header.id, 42);
  t.truthy(msg.header.flags & Flag.QR);
  t.truthy(msg.header.flags & Flag.RD, 'RD copied');
  t.truthy(msg.header.flags & Flag.RA);
  t.falsy(msg.header.flags & Flag.AA, 'dockerd leaves AA clear');
  t.falsy(msg.header.flags & Flag.TC);
  t.is(msg.header.rcode, Rcode.NOERROR);
  t.is(msg.questions[0]!.name, 'web');
  t.deepEqual(
    msg.answers.map((a) => [a.name, a.type, a.ttl, a.value]),
    [
      ['web', RRType.A, TTL, '172.18.0.2'],
      ['web', RRType.AAAA, TTL, 'fd00::2'],
      ['web', RRType.PTR, TTL, 'web.mynet'],
    ],
  );
  // The first answer's name is the pointer 0xC00C right after the question (12 + "\x03web\x00" + 4).
  t.is(reply.readUInt16BE(12 + 5 + 4), 0xc00c);

  const fail = parseMessage(buildReply(query, { rcode: Rcode.SERVFAIL, maxSize: 512, recursionAvailable: false }))!;
  t.is(fail.header.rcode, Rcode.SERVFAIL);
  t.falsy(fail.header.flags & Flag.RA);
  t.is(fail.answers.length, 0);
  t.is(fail.questions[0]!.name, 'web', 'the question is echoed');

  const nx = parseMessage(buildReply(query, { rcode: Rcode.NXDOMAIN, maxSize: 512, recursionAvailable: true }))!;
  t.is(nx.header.rcode, Rcode.NXDOMAIN);
});

test('answers that do not fit the size are left out and TC is set', (t) => {
  const query = parseQuery(buildQuery(1, 'many', RRType.A))!;
  const answers: Answer[] = Array.from({ length: 40 }, (_, i) => ({ type: RRType.A, data: `10.0.0.${i + 1}` }));
  const small = buildReply(query, { rcode: Rcode.NOERROR, answers, maxSize: 512, recursionAvailable: true });
  t.true(small.length <= 512);
  const msg = parseMessage(small)!;
  t.truthy(msg.header.flags & Flag.TC);
  t.true(msg.answers.length > 0 && msg.answers.length < 40);

  const big = parseMessage(buildReply(query, { rcode: Rcode.NOERROR, answers, maxSize: 4096, recursionAvailable: true }))!;
  t.falsy(big.header.flags & Flag.TC);
  t.is(big.answers.length, 40);
});

test('answers whose data cannot be encoded are left out', (t) => {
  const query = parseQuery(buildQuery(1, 'x', RRType.A))!;
  const reply = buildReply(query, {
    rcode: Rcode.NOERROR,
    answers: [
      { type: RRType.A, data: 'not-an-address' },
      { type: RRType.PTR, data: `${'a'.repeat(64)}.mynet` },
      { type: RRType.A, data: '10.0.0.1' },
    ],
    maxSize: 512,
    recursionAvailable: true,
  });
  t.deepEqual(parseMessage(reply)!.answers.map((a) => a.value), ['10.0.0.1']);
});

test('a name compressed against an earlier one is followed', (t) => {
  // The question is "\x03web\x05mynet\x00" at offset 12, so "mynet" starts at 16; the answer
  // is named "\x03www" then a pointer to 16.
  const query = buildQuery(9, 'web.mynet', RRType.A);
  const rr = Buffer.from([0x03, 0x77, 0x77, 0x77, 0xc0, 16, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 10, 0, 0, 1]);
  const msg = withCount(Buffer.concat([query, rr]), 1, 1);
  const parsed = parseMessage(msg)!;
  t.is(parsed.answers[0]!.name, 'www.mynet');
  t.is(parsed.answers[0]!.value, '10.0.0.1');
});

test('short packets and responses get no reply at all', (t) => {
  for (const p of [Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(11)]) {
    t.is(parseQuery(p), null);
    t.is(rejectPacket(p), null);
  }
  const response = Buffer.concat([header(5, Flag.QR, 1), Buffer.from([0, 0, 1, 0, 1])]);
  t.is(parseQuery(response), null);
  t.is(rejectPacket(response), null, 'answering a response could loop or amplify');
});

test('malformed queries are refused with FORMERR, other opcodes with NOTIMP', (t) => {
  const formerr = (p: Buffer, why: string) => {
    t.is(parseQuery(p), null, why);
    const reply = rejectPacket(p);
    t.truthy(reply, why);
    const h = readHeader(reply!)!;
    t.is(h.id, p.readUInt16BE(0), why);
    t.is(h.rcode, Rcode.FORMERR, why);
    t.truthy(h.flags & Flag.QR, why);
    t.is(reply!.length, 12, why);
  };
  const q = buildQuery(0xbeef, 'web', RRType.A);
  formerr(q.subarray(0, q.length - 2), 'question cut short');
  formerr(Buffer.concat([header(1, Flag.RD, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), 'a pointer to itself');
  formerr(Buffer.concat([header(2, 0, 1), Buffer.from([0x01, 0x61, 0xc0, 12, 0, 1, 0, 1])]), 'a pointer back to the start of its own name');
  formerr(Buffer.concat([header(3, 0, 1), Buffer.from([0xc0, 14, 0x00, 0, 1, 0, 1])]), 'a pointer forwards');
  formerr(Buffer.concat([header(4, 0, 1), Buffer.from([0x40]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])]), 'a 64-octet label');
  formerr(Buffer.concat([header(5, 0, 1), Buffer.from([0x80, 0x61, 0, 0, 1, 0, 1])]), 'a reserved label type');
  const longName = Buffer.concat([...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from([0, 0, 1, 0, 1])]);
  formerr(Buffer.concat([header(6, 0, 1), longName]), 'a 321-octet name');
  formerr(Buffer.concat([header(7, 0, 2), Buffer.from([0, 0, 1, 0, 1, 0, 0, 1, 0, 1])]), 'two questions');
  formerr(header(8, 0, 0), 'no question');
  // Root name, type OPT, size 1024, no TTL, no data.
  const opt = Buffer.from([0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
  formerr(withCount(Buffer.concat([q, opt, opt]), 3, 2), 'two OPT records');
  // Root name, type A, class IN, TTL 0, 9 bytes of data announced, 1 there.
  formerr(withCount(Buffer.concat([q, Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1])]), 1, 1), 'an answer whose data runs past the end');

  const update = Buffer.concat([header(9, 5 << 11, 1), Buffer.from([0, 0, 6, 0, 1])]);
  const reply = readHeader(rejectPacket(update)!)!;
  t.is(reply.rcode, Rcode.NOTIMP);
  t.is(reply.opcode, 5);
});

test('random and mutated packets never throw out of the parser', (t) => {
  const valid = buildQuery(1, 'some.name.example', RRType.A, { ednsSize: 4096 });
  for (let i = 0; i < 3000; i++) {
    let p: Buffer;
    if (i % 2 === 0) {
      p = randomBytes(i % 300);
    } else {
      p = Buffer.from(valid);
      const flips = 1 + (i % 5);
      for (let f = 0; f < flips; f++) p[(i * 7 + f * 13) % p.length] = (i * 31 + f) & 0xff;
      p = p.subarray(0, p.length - (i % 7));
    }
    t.notThrows(() => {
      parseMessage(p);
      parseQuery(p);
      rejectPacket(p);
    });
  }
});

test('TCP frames are cut out of a stream however it arrives', (t) => {
  const a = buildQuery(1, 'a', RRType.A);
  const b = buildQuery(2, 'b', RRType.AAAA);
  const stream = Buffer.concat([tcpFrame(a), tcpFrame(b)]);
  const frames = new TcpFrames();
  const got: Buffer[] = [];
  for (const byte of stream) {
    frames.push(Buffer.from([byte]));
    for (let f = frames.next(); f; f = frames.next()) got.push(f);
  }
  t.deepEqual(got, [a, b]);
});

test('PTR names are read as addresses; anything else is not', (t) => {
  t.is(ptrAddress('2.0.18.172.in-addr.arpa'), '172.18.0.2');
  t.is(ptrAddress('2.0.18.172.IN-ADDR.ARPA'), '172.18.0.2');
  const nibbles = '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f';
  t.is(ptrAddress(`${nibbles}.ip6.arpa`), 'fd00::2');
  t.is(ptrAddress('0.18.172.in-addr.arpa'), null, 'a partial address');
  t.is(ptrAddress('256.0.18.172.in-addr.arpa'), null);
  t.is(ptrAddress('02.0.18.172.in-addr.arpa'), null, 'leading zeros');
  t.is(ptrAddress('2.0.0.ip6.arpa'), null);
  t.is(ptrAddress('example.com'), null);
});

test('addresses are kept in one canonical form', (t) => {
  t.is(canonicalAddress('fd00:0:0::02'), 'fd00::2');
  t.is(canonicalAddress('FD00::2'), 'fd00::2');
  t.is(canonicalAddress('::ffff:a00:1'), '::ffff:10.0.0.1', 'IPv4-mapped written with a dotted quad, RFC 5952 5');
  t.is(canonicalAddress('0:0:0:0:0:0:0:1'), '::1');
  t.is(canonicalAddress('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  t.is(canonicalAddress('10.0.0.1'), '10.0.0.1');
  t.is(canonicalAddress('fe80::1%eth0'), null);
  t.is(canonicalAddress('web'), null);
});

test('the table looks names up without case, merges shared names, and reverses to the first name', (t) => {
  const table = new DnsTable();
  table.set('mynet', 'ep1', { names: ['Web', 'frontend'], ipv4: ['172.18.0.2'], ipv6: ['fd00:0::2'] });
  table.set('mynet', 'ep2', { names: ['api', 'frontend'], ipv4: ['172.18.0.3', '172.18.0.2'], ipv6: [] });
  t.deepEqual(table.lookup('mynet', 'web'), { ipv4: ['172.18.0.2'], ipv6: ['fd00::2'] });
  t.deepEqual(table.lookup('mynet', 'frontend'), { ipv4: ['172.18.0.2', '172.18.0.3'], ipv6: ['fd00::2'] });
  t.is(table.lookup('othernet', 'web'), null);
  t.is(table.lookup('mynet', 'nope'), null);
  t.is(table.reverse('mynet', '172.18.0.2'), 'Web', 'the name as given');
  t.is(table.reverse('mynet', 'fd00::2'), 'Web');
  table.delete('mynet', 'ep1');
  t.is(table.lookup('mynet', 'web'), null);
  t.is(table.reverse('mynet', '172.18.0.2'), 'api');
  table.deleteNetwork('mynet');
  t.is(table.lookup('mynet', 'api'), null);
});
