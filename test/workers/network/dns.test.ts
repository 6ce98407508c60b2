/**
 * The embedded DNS server over real sockets on 127.0.0.1 (random ports, no other traffic):
 * containers' names and addresses answered from a table, everything else forwarded to a fake
 * upstream server run by the test, TCP, timeouts, and malformed packets.
 */
import test, { type ExecutionContext } from 'ava';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  buildQuery,
  buildReply,
  Flag,
  parseMessage,
  parseQuery,
  Rcode,
  RRType,
  TcpFrames,
  tcpFrame,
  type Answer,
  type Message,
  type Query,
} from '../../../workers/network/dns/message.js';
import { Resolver, type DnsRecords, type ResolverOptions, type Transport } from '../../../workers/network/dns/resolver.js';
import { DnsServer, type DatagramSocket, type Peer } from '../../../workers/network/dns/server.js';
import { DnsTable } from '../../../workers/network/dns/table.js';

const HOST = '127.0.0.1';
/** How long a test waits for any one reply before it calls it missing. */
const WAIT_MS = 3000;

function bindUdp(port = 0): Promise<DgramSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(port, HOST, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

function listenTcp(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** udpAsk sends one datagram and waits for one reply, or null after `waitMs`. */
async function udpAsk(port: number, packet: Buffer, waitMs = WAIT_MS): Promise<Buffer | null> {
  const socket = await bindUdp();
  try {
    return await new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), waitMs);
      socket.on('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(packet, port, HOST);
    });
  } finally {
    socket.close();
  }
}

/** tcpAsk writes `packets` on one connection at once and collects `expect` replies. */
function tcpAsk(port: number, packets: Buffer[], expect: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    const frames = new TcpFrames();
    const replies: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${replies.length} of ${expect} replies`));
    }, WAIT_MS);
    socket.on('error', reject);
    socket.on('connect', () => socket.write(Buffer.concat(packets.map(tcpFrame))));
    socket.on('data', (chunk) => {
      frames.push(chunk);
      for (let f = frames.next(); f; f = frames.next()) replies.push(f);
      if (replies.length >= expect) {
        clearTimeout(timer);
        socket.destroy();
        resolve(replies);
      }
    });
  });
}

function parsed(reply: Buffer | null): Message {
  if (!reply) throw new Error('no reply');
  const msg = parseMessage(reply);
  if (!msg) throw new Error('reply does not parse');
  return msg;
}

function values(msg: Message): string[] {
  return msg.answers.map((a) => a.value ?? '').sort();
}

/** What the fake upstream does with a query: a reply, or 'drop' to stay silent. */
type UpstreamHandler = (query: Query, transport: Transport) => Buffer | 'drop';

interface FakeUpstream {
  port: number;
  seen: { name: string; id: number; transport: Transport }[];
}

/**
 * startUpstream runs a tiny DNS server on one port for UDP and TCP, as an upstream needs
 * (the resolver asks both on the same port). Port 0 for UDP first, then TCP on that port;
 * taken by someone else, try again, a few times.
 */
async function startUpstream(t: ExecutionContext, handle: UpstreamHandler): Promise<FakeUpstream> {
  const seen: FakeUpstream['seen'] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const udp = await bindUdp();
    const port = udp.address().port;
    const tcp = await listenTcp(port).catch(() => null);
    if (!tcp) {
      udp.close();
      continue;
    }
    const reply = (packet: Buffer, transport: Transport): Buffer | null => {
      const query = parseQuery(packet);
      if (!query) return null;
      seen.push({ name: query.question.name, id: query.id, transport });
      const out = handle(query, transport);
      return out === 'drop' ? null : out;
    };
    udp.on('message', (msg, rinfo) => {
      const out = reply(msg, 'udp');
      if (out) udp.send(out, rinfo.port, rinfo.address);
    });
    const connections = new Set<Socket>();
    tcp.on('connection', (socket) => {
      connections.add(socket);
      socket.on('close', () => connections.delete(socket));
      const frames = new TcpFrames();
      socket.on('error', () => {});
      socket.on('data', (chunk) => {
        frames.push(chunk);
        for (let f = frames.next(); f; f = frames.next()) {
          const out = reply(f, 'tcp');
          if (out) socket.write(tcpFrame(out));
        }
      });
    });
    t.teardown(async () => {
      udp.close();
      for (const socket of connections) socket.destroy();
      await closeServer(tcp);
    });
    return { port, seen };
  }
  throw new Error('no port free for UDP and TCP at once');
}

/** answerWith builds an upstream's reply with the given rcode and A answers. */
function answerWith(query: Query, rcode: number, addresses: string[], maxSize = 65535): Buffer {
  const answers: Answer[] = addresses.map((data) => ({ type: RRType.A, data }));
  return buildReply(query, { rcode, answers, maxSize, recursionAvailable: true });
}

interface Running {
  udpPort: number;
  tcpPort: number;
  resolver: Resolver;
}

function sampleTable(): DnsTable {
  const table = new DnsTable();
  table.set('mynet', 'ep-web', { names: ['web', 'frontend'], ipv4: ['172.18.0.2'], ipv6: [] });
  table.set('mynet', 'ep-db', { names: ['db'], ipv4: ['172.18.0.3'], ipv6: ['fd00::3'] });
  table.set('othernet', 'ep-cache', { names: ['cache'], ipv4: ['172.19.0.2'], ipv6: [] });
  return table;
}

/** startDns runs a DnsServer on fresh sockets; the container is on "mynet" unless told. */
async function startDns(t: ExecutionContext, opts: Partial<ResolverOptions> = {}, tcpIdleMs?: number): Promise<Running> {
  const resolver = new Resolver({ records: sampleTable(), networks: ['mynet'], upstreams: [], ...opts });
  const udp = await bindUdp();
  const tcp = await listenTcp();
  const server = new DnsServer(resolver, tcpIdleMs === undefined ? { udp, tcp } : { udp, tcp, tcpIdleMs });
  t.teardown(() => server.close());
  return { udpPort: udp.address().port, tcpPort: (tcp.address() as { port: number }).port, resolver };
}

test('A for a container on the same network: any case, with or without the trailing dot, and as <name>.<network>', async (t) => {
  const dns = await startDns(t);
  for (const name of ['web', 'web.', 'WEB', 'Web.mynet', 'frontend', 'frontend.mynet.']) {
    const msg = parsed(await udpAsk(dns.udpPort, buildQuery(100, name, RRType.A)));
    t.is(msg.header.id, 100, name);
    t.is(msg.header.rcode, Rcode.NOERROR, name);
    t.truthy(msg.header.flags & Flag.RA, name);
    t.falsy(msg.header.flags & Flag.AA, name);
    t.deepEqual(values(msg), ['172.18.0.2'], name);
    t.is(msg.answers[0]!.ttl, 600, name);
    t.is(msg.answers[0]!.name, name.replace(/\.$/, ''), `${name}: the question's name, its case kept`);
  }
});

test('AAAA: a container with IPv4 only gets NOERROR and no answers (NODATA); one with IPv6 gets it', async (t) => {
  const dns = await startDns(t);
  const web = parsed(await udpAsk(dns.udpPort, buildQuery(1, 'web', RRType.AAAA)));
  t.is(web.header.rcode, Rcode.NOERROR);
  t.is(web.answers.length, 0);
  const db = parsed(await udpAsk(dns.udpPort, buildQuery(2, 'db', RRType.AAAA)));
  t.deepEqual(values(db), ['fd00::3']);
});

test('PTR for a container address answers <name>.<network>, for IPv4 and IPv6', async (t) => {
  const dns = await startDns(t);
  const v4 = parsed(await udpAsk(dns.udpPort, buildQuery(1, '2.0.18.172.in-addr.arpa', RRType.PTR)));
  t.deepEqual(values(v4), ['web.mynet']);
  const nibbles = '3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f';
  const v6 = parsed(await udpAsk(dns.udpPort, buildQuery(2, `${nibbles}.ip6.arpa`, RRType.PTR)));
  t.deepEqual(values(v6), ['db.mynet']);
});

test('MX for a container: NOERROR with no answers, as dockerd (implicit MX)', async (t) => {
  const dns = await startDns(t);
  const msg = parsed(await udpAsk(dns.udpPort, buildQuery(1, 'web', RRType.MX)));
  t.is(msg.header.rcode, Rcode.NOERROR);
  t.is(msg.answers.length, 0);
});

test('a container on another network is not answered locally: the query is forwarded', async (t) => {
  const upstream = await startUpstream(t, (q) => answerWith(q, Rcode.NXDOMAIN, []));
  const dns = await startDns(t, { upstreams: [{ address: HOST, port: upstream.port }] });
  for (const name of ['cache', 'cache.othernet', 'web.othernet']) {
    const msg = parsed(await udpAsk(dns.udpPort, buildQuery(5, name, RRType.A)));
    t.is(msg.header.rcode, Rcode.NXDOMAIN, name);
  }
  t.deepEqual(upstream.seen.map((s) => s.name), ['cache', 'cache.othernet', 'web.othernet']);
});

test('a container on two networks finds names on both', async (t) => {
  const dns = await startDns(t, { networks: ['mynet', 'othernet'] });
  t.deepEqual(values(parsed(await udpAsk(dns.udpPort, buildQuery(1, 'cache', RRType.A)))), ['172.19.0.2']);
  t.deepEqual(values(parsed(await udpAsk(dns.udpPort, buildQuery(2, 'web.mynet', RRType.A)))), ['172.18.0.2']);
});

test('other names are forwarded over UDP: the upstream sees the query, the client its own id', async (t) => {
  const upstream = await startUpstream(t, (q) => (q.question.name === 'example.com' ? answerWith(q, Rcode.NOERROR, ['93.184.216.34']) : answerWith(q, Rcode.NXDOMAIN, [])));
  const dns = await startDns(t, { upstreams: [{ address: HOST, port: upstream.port }] });
  const msg = parsed(await udpAsk(dns.udpPort, buildQuery(0x4242, 'example.com', RRType.A)));
  t.is(msg.header.id, 0x4242);
  t.is(msg.header.rcode, Rcode.NOERROR);
  t.deepEqual(values(msg), ['93.184.216.34']);
  t.is(upstream.seen[0]!.transport, 'udp');

  // No dots and no such container: forwarded too, as dockerd does without an explicit ndots.
  const single = parsed(await udpAsk(dns.udpPort, buildQuery(7, 'nosuchhost', RRType.A)));
  t.is(single.header.rcode, Rcode.NXDOMAIN);
  t.deepEqual(upstream.seen.map((s) => s.name), ['example.com', 'nosuchhost']);
});

test('with an explicit ndots, a one-label name that is no container gets NOERROR and is not forwarded', async (t) => {
  const upstream = await startUpstream(t, (q) => answerWith(q, Rcode.NXDOMAIN, []));
  const dns = await startDns(t, { upstreams: [{ address: HOST, port: upstream.port }], ndotsSet: true });
  const msg = parsed(await udpAsk(dns.udpPort, buildQuery(1, 'nosuchhost', RRType.A)));
  t.is(msg.header.rcode, Rcode.NOERROR);
  t.is(msg.answers.length, 0);
  t.is(upstream.seen.length, 0);
  t.deepEqual(values(parsed(await udpAsk(dns.udpPort, buildQuery(2, 'web', RRType.A)))), ['172.18.0.2']);
});

test('SERVFAIL and REFUSED from one upstream: the next one is asked', async (t) => {
  const failing = await startUpstream(t, (q) => answerWith(q, Rcode.SERVFAIL, []));
  const refusing = await startUpstream(t, (q) => answerWith(q, Rcode.REFUSED, []));
  const good = await startUpstream(t, (q) => answerWith(q, Rcode.NOERROR, ['10.1.2.3']));
  const dns = await startDns(t, {
    upstreams: [
      { address: HOST, port: failing.port },
      { address: HOST, port: refusing.port },
      { address: HOST, port: good.port },
    ],
  });
  t.deepEqual(values(parsed(await udpAsk(dns.udpPort, buildQuery(1, 'example.org', RRType.A)))), ['10.1.2.3']);
  t.deepEqual([failing.seen.length, refusing.seen.length, good.seen.length], [1, 1, 1]);
});

test('no upstream answers in time: SERVFAIL, without RA, after the timeout', async (t) => {
  const silent = await startUpstream(t, () => 'drop');
  const dns = await startDns(t, { upstreams: [{ address: HOST, port: silent.port }], upstreamTimeoutMs: 300 });
  const started = Date.now();
  const msg = parsed(await udpAsk(dns.udpPort, buildQuery(9, 'slow.example', RRType.A)));
  const took = Date.now() - started;
  t.is(msg.header.rcode, Rcode.SERVFAIL);
  t.falsy(msg.header.flags & Flag.RA);
  t.is(msg.header.id, 9);
  t.true(took >= 250 && took < 2500, `took ${took} ms`);
  t.is(silent.seen.length, 1);
});

test('no upstreams, or forwarding off: SERVFAIL at once', async (t) => {
  const dns = await startDns(t);
  t.is(parsed(await udpAsk(dns.udpPort, buildQuery(1, 'example.com', RRType.A))).header.rcode, Rcode.SERVFAIL);
  const upstream = await startUpstream(t, (q) => answerWith(q, Rcode.NOERROR, ['10.0.0.1']));
  const internal = await startDns(t, { upstreams: [{ address: HOST, port: upstream.port }], forward: false });
  t.is(parsed(await udpAsk(internal.udpPort, buildQuery(2, 'example.com', RRType.A))).header.rcode, Rcode.SERVFAIL);
  t.is(upstream.seen.length, 0);
  t.deepEqual(values(parsed(await udpAsk(internal.udpPort, buildQuery(3, 'web', RRType.A)))), ['172.18.0.2'], 'containers still answer');
});

test('an upstream down (port closed): the next one answers', async (t) => {
  const closed = await bindUdp();
  const closedPort = closed.address().port;
  closed.close();
  const good = await startUpstream(t, (q) => answerWith(q, Rcode.NOERROR, ['10.9.9.9']));
  const dns = await startDns(t, {
    upstreams: [
      { address: HOST, port: closedPort },
      { address: HOST, port: good.port },
    ],
    upstreamTimeoutMs: 1000,
  });
  t.deepEqual(values(parsed(await udpAsk(dns.udpPort, buildQuery(1, 'example.net', RRType.A)))), ['10.9.9.9']);
});

const MANY = Array.from({ length: 40 }, (_, i) => `10.2.0.${i + 1}`);

test('a truncated upstream UDP answer is asked again over TCP; the whole one is used when it fits the client', async (t) => {
  // Over UDP the upstream cuts at 512 bytes, as one without EDNS0 does; over TCP it sends all.
  const upstream = await startUpstream(t, (q, transport) => answerWith(q, Rcode.NOERROR, MANY, transport === 'udp' ? 512 : 65535));
  const dns = await startDns(t, { upstreams: [{ address: HOST, port: upstream.port }] });

  const edns = parsed(await udpAsk(dns.udpPort, buildQuery(1, 'big.example', RRType.A, { ednsSize: 4096 })));
  t.falsy(edns.header.flags & Flag.TC);
  t.is(edns.answers.length, 40);
  t.deepEqual(upstream.seen.map((s) => s.transport), ['udp', 'tcp']);

  // A client without EDNS0 takes 512 bytes: the truncated answer goes back, and it retries over TCP.
  const plain = parsed(await udpAsk(dns.udpPort, buildQuery(2, 'big.example', RRType.A)));
  t.truthy(plain.header.flags & Flag.TC);
  t.true(plain.answers.length < 40);
  const [overTcp] = await tcpAsk(dns.tcpPort, [buildQuery(3, 'big.example', RRType.A)], 1);
  const whole = parsed(overTcp!);
  t.is(whole.header.id, 3);
  t.is(whole.answers.length, 40);
  t.deepEqual(upstream.seen.slice(2).map((s) => s.transport), ['udp', 'tcp', 'tcp'], 'a TCP query is forwarded over TCP');
});

test('local answers over UDP are cut at 512 bytes (or the EDNS0 size) with TC; over TCP all come', async (t) => {
  const table = new DnsTable();
  table.set('mynet', 'ep-big', { names: ['big'], ipv4: MANY, ipv6: [] });
  const dns = await startDns(t, { records: table });
  const cut = await udpAsk(dns.udpPort, buildQuery(1, 'big', RRType.A));
  t.true(cut!.length <= 512);
  t.truthy(parsed(cut).header.flags & Flag.TC);
  const edns = parsed(await udpAsk(dns.udpPort, buildQuery(2, 'big', RRType.A, { ednsSize: 1232 })));
  t.falsy(edns.header.flags & Flag.TC);
  t.is(edns.answers.length, 40);
  const [whole] = await tcpAsk(dns.tcpPort, [buildQuery(3, 'big', RRType.A)], 1);
  t.deepEqual(values(parsed(whole!)), [...MANY].sort());
});

test('TCP: several queries on one connection are answered in order', async (t) => {
  const upstream = await startUpstream(t, (q) => answerWith(q, Rcode.NOERROR, ['10.3.3.3']));
  const dns = await startDns(t, { upstreams: [{ address: HOST, port: upstream.port }] });
  const replies = await tcpAsk(
    dns.tcpPort,
    [buildQuery(1, 'web', RRType.A), buildQuery(2, 'far.example', RRType.A), buildQuery(3, 'db', RRType.AAAA)],
    3,
  );
  const msgs = replies.map((r) => parsed(r));
  t.deepEqual(msgs.map((m) => m.header.id), [1, 2, 3]);
  t.deepEqual(msgs.map(values), [['172.18.0.2'], ['10.3.3.3'], ['fd00::3']]);
  t.deepEqual(upstream.seen.map((s) => s.transport), ['tcp']);
});

test('TCP: an idle connection is closed', async (t) => {
  const dns = await startDns(t, {}, 200);
  const closedAfter = await new Promise<number>((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ host: HOST, port: dns.tcpPort });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('still open'));
    }, WAIT_MS);
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
  t.true(closedAfter >= 150 && closedAfter < WAIT_MS, `closed after ${closedAfter} ms`);
});

test('malformed packets: dropped or FORMERR, and the server keeps answering', async (t) => {
  const dns = await startDns(t);
  t.is(await udpAsk(dns.udpPort, Buffer.from([1, 2, 3]), 300), null, 'shorter than a header: dropped');
  const response = Buffer.from(buildQuery(3, 'web', RRType.A));
  response.writeUInt16BE(0x8100, 2);
  t.is(await udpAsk(dns.udpPort, response, 300), null, 'a response: dropped');

  const loop = Buffer.from([0, 77, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  const formerr = parsed(await udpAsk(dns.udpPort, loop));
  t.is(formerr.header.id, 77);
  t.is(formerr.header.rcode, Rcode.FORMERR);

  const longLabel = Buffer.concat([Buffer.from([0, 78, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 70]), Buffer.alloc(70, 0x61), Buffer.from([0, 0, 1, 0, 1])]);
  t.is(parsed(await udpAsk(dns.udpPort, longLabel)).header.rcode, Rcode.FORMERR);

  const [overTcp] = await tcpAsk(dns.tcpPort, [loop, buildQuery(4, 'web', RRType.A)], 2);
  t.is(parsed(overTcp!).header.rcode, Rcode.FORMERR);

  t.deepEqual(values(parsed(await udpAsk(dns.udpPort, buildQuery(5, 'web', RRType.A)))), ['172.18.0.2'], 'still serving');
});

test('the resolver answers or drops any packet, and never rejects', async (t) => {
  const resolver = new Resolver({ records: sampleTable(), networks: ['mynet'], upstreams: [] });
  const valid = buildQuery(1, 'web.mynet', RRType.A, { ednsSize: 1232 });
  for (let i = 0; i < 1000; i++) {
    const p = Buffer.from(valid);
    for (let f = 0; f < 1 + (i % 4); f++) p[(i * 11 + f * 17) % p.length] = (i * 37 + f * 5) & 0xff;
    const reply = await resolver.answer(p.subarray(0, p.length - (i % 5)), i % 2 === 0 ? 'udp' : 'tcp');
    if (reply) t.truthy(parseMessage(reply), `reply ${i} parses`);
  }
  t.pass();
});

test('a plugged-in lookup works like the table; one that throws gives SERVFAIL', async (t) => {
  const records: DnsRecords = {
    lookup: (network, name) => (network === 'n1' && name === 'svc' ? { ipv4: ['10.5.0.5'], ipv6: [] } : null),
    reverse: (network, address) => (network === 'n1' && address === '10.5.0.5' ? 'svc' : null),
  };
  const resolver = new Resolver({ records, networks: ['n1'], upstreams: [] });
  t.deepEqual(values(parsed(await resolver.answer(buildQuery(1, 'SVC.n1', RRType.A), 'udp'))), ['10.5.0.5']);
  t.deepEqual(values(parsed(await resolver.answer(buildQuery(2, '5.0.5.10.in-addr.arpa', RRType.PTR), 'udp'))), ['svc.n1']);
  t.is(parsed(await resolver.answer(buildQuery(3, 'svc.N1', RRType.A), 'udp')).header.rcode, Rcode.SERVFAIL, 'network names compare exactly, as dockerd');

  resolver.setNetworks([]);
  t.is(parsed(await resolver.answer(buildQuery(4, 'svc', RRType.A), 'udp')).header.rcode, Rcode.SERVFAIL, 'disconnected: forwarded, and no upstreams');

  const broken = new Resolver({
    records: {
      lookup: () => {
        throw new Error('boom');
      },
      reverse: () => null,
    },
    networks: ['n1'],
    upstreams: [],
  });
  t.is(parsed(await broken.answer(buildQuery(5, 'svc', RRType.A), 'udp')).header.rcode, Rcode.SERVFAIL);
});

test('a DatagramSocket of the caller\'s own (as a native socket would be) is served', async (t) => {
  let listener: ((packet: Buffer, from: Peer) => void) | null = null;
  const sent: { packet: Buffer; port: number; address: string }[] = [];
  let closed = false;
  const socket: DatagramSocket = {
    onMessage: (l) => {
      listener = l;
    },
    send: (packet, port, address) => {
      sent.push({ packet, port, address });
    },
    close: () => {
      closed = true;
    },
  };
  const server = new DnsServer(new Resolver({ records: sampleTable(), networks: ['mynet'], upstreams: [] }), { udp: socket });
  listener!(buildQuery(11, 'web', RRType.A), { address: '172.18.0.9', port: 40000 });
  for (let i = 0; i < 100 && sent.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(sent.length, 1);
  t.is(sent[0]!.port, 40000);
  t.is(sent[0]!.address, '172.18.0.9');
  t.deepEqual(values(parsed(sent[0]!.packet)), ['172.18.0.2']);
  await server.close();
  t.true(closed);
});
