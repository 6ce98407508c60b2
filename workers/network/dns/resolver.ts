/**
 * The embedded DNS resolver of one container on user-defined networks (dockerd's at
 * 127.0.0.11, libnetwork/resolver.go): it answers the names of the containers on the
 * container's networks itself, and forwards every other query to upstream servers.
 *
 * What dockerd does, and so does this:
 *  - A and AAAA: the name is looked up on each of the container's networks, lowercased and
 *    without the trailing dot; "web.mynet" is also "web" on network "mynet" (Sandbox.ResolveName).
 *    A name that exists with no address of the asked family gets NOERROR with no answers.
 *  - PTR for x.in-addr.arpa and x.ip6.arpa: "<name>.<network>." (Network.ResolveIP).
 *  - MX for a container's name: NOERROR with no answers ("implicit MX", RFC 5321 5.1).
 *  - Anything else, including names without dots, is forwarded to at most three upstream
 *    servers in turn, 4 s each (maxExtDNS, extIOTimeout), over the query's own transport.
 *    SERVFAIL and REFUSED from one upstream mean: try the next. None answers: SERVFAIL.
 *  - With an explicit ndots option, a one-label A/AAAA query that is not a container gets
 *    NOERROR with no answers instead of being forwarded, so the client tries its search
 *    domains (serveDNS, NdotsSet).
 *  - Upstream replies go back as they came, with the client's id, even over 512 bytes.
 * Where berth differs:
 *  - An upstream's truncated UDP answer is asked again over TCP, and the whole answer is used
 *    when it fits the client's UDP size; otherwise the truncated one goes back and the client
 *    retries over TCP, as with dockerd.
 *  - Only class IN is answered locally (dockerd does not look at the class).
 *  - Past 1024 forwards in flight, REFUSED at once (dockerd waits up to 4 s for a slot).
 *  - Queries go upstream under a fresh random id (dockerd reuses the client's).
 *  - No SRV records for services, no legacy --link aliases: swarm and links are not here.
 *
 * The resolver does no I/O to clients: answer() takes a packet and returns the reply, and
 * server.ts moves the bytes. Upstream sockets are opened in the namespace this code runs in.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, isIP, isIPv6 } from 'node:net';
import {
  buildReply,
  Flag,
  ipText,
  MAX_MESSAGE_SIZE,
  parseQuery,
  Rcode,
  readHeader,
  rejectPacket,
  RRClass,
  RRType,
  TcpFrames,
  tcpFrame,
  UDP_MIN_SIZE,
  withId,
  type Answer,
  type Query,
  type Question,
} from './message.js';

/** dockerd tries at most three upstream servers (maxExtDNS). */
const MAX_UPSTREAMS = 3;
/** dockerd gives each upstream 4 s to answer (extIOTimeout). */
const UPSTREAM_TIMEOUT_MS = 4000;
/** dockerd forwards at most 1024 queries at once (maxConcurrent). */
const MAX_FORWARDS = 1024;

export type Transport = 'udp' | 'tcp';

export interface Addresses {
  ipv4: string[];
  ipv6: string[];
}

/**
 * DnsRecords is what the resolver asks of the network actor: the names on each network.
 * DnsTable (table.ts) is one; the actor can plug in its own.
 */
export interface DnsRecords {
  /**
   * lookup gives the addresses of a container name or alias on a network, or null when the
   * network has no such name. `name` comes lowercased and without a trailing dot.
   */
  lookup(network: string, name: string): Addresses | null;
  /** reverse gives the container name that owns an address on a network, or null. `address` is canonical (canonicalAddress). */
  reverse(network: string, address: string): string | null;
}

/** An upstream server; port 53 unless given (the tests give another). */
export interface Upstream {
  address: string;
  port?: number;
}

export interface ResolverOptions {
  records: DnsRecords;
  /** The networks the container is attached to, in the order to search them. */
  networks: string[];
  /** The container's --dns servers, else the host's resolv.conf nameservers. */
  upstreams: Upstream[];
  /** The container's resolv.conf sets ndots explicitly (dockerd's NdotsSet). */
  ndotsSet?: boolean;
  /** false: never forward (a network without external access); unanswered queries get SERVFAIL. */
  forward?: boolean;
  /** How long each upstream has to answer; dockerd's 4 s unless given. */
  upstreamTimeoutMs?: number;
  /** Told why an upstream gave no answer; dockerd logs these. */
  log?: (message: string) => void;
}

export class Resolver {
  private readonly records: DnsRecords;
  private networks: string[];
  private upstreams: Upstream[];
  private readonly ndotsSet: boolean;
  private readonly forwarding: boolean;
  private readonly timeoutMs: number;
  private readonly log: (message: string) => void;
  private forwardsInFlight = 0;

  constructor(opts: ResolverOptions) {
    this.records = opts.records;
    this.networks = [...opts.networks];
    this.upstreams = [...opts.upstreams];
    this.ndotsSet = opts.ndotsSet ?? false;
    this.forwarding = opts.forward ?? true;
    this.timeoutMs = opts.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS;
    this.log = opts.log ?? (() => {});
  }

  /** setNetworks follows the container connecting to and disconnecting from networks. */
  setNetworks(networks: string[]): void {
    this.networks = [...networks];
  }

  setUpstreams(upstreams: Upstream[]): void {
    this.upstreams = [...upstreams];
  }

  /**
   * answer returns the reply to one query packet that came over `transport`, or null when
   * the packet gets none (too short for a header, or itself a response). It never rejects.
   */
  async answer(packet: Buffer, transport: Transport): Promise<Buffer | null> {
    const query = parseQuery(packet);
    if (!query) return rejectPacket(packet);
    // The size the client can take: 512 or its EDNS0 size over UDP (at least 512, RFC 6891 6.2.5).
    const maxSize = transport === 'tcp' ? MAX_MESSAGE_SIZE : Math.max(UDP_MIN_SIZE, query.ednsSize ?? 0);
    try {
      const local = this.answerLocally(query.question);
      if (local) return buildReply(query, { rcode: Rcode.NOERROR, answers: local, maxSize, recursionAvailable: true });
      if (this.keepForSearchDomains(query.question)) {
        return buildReply(query, { rcode: Rcode.NOERROR, maxSize, recursionAvailable: true });
      }
      const forwarded = await this.forward(packet, query, transport, maxSize);
      if (forwarded) return forwarded;
    } catch (err) {
      // A records callback that throws is the caller's bug; the client still gets a reply.
      this.log(`embedded DNS: cannot answer ${query.question.name}: ${(err as Error).message}`);
    }
    return buildReply(query, { rcode: Rcode.SERVFAIL, maxSize, recursionAvailable: false });
  }

  /** answerLocally gives the answers for a container's name or address ([] for NODATA), or null to forward. */
  private answerLocally(q: Question): Answer[] | null {
    // dockerd does not look at the class; berth answers IN only and forwards the rest.
    if (q.class !== RRClass.IN) return null;
    switch (q.type) {
      case RRType.A: {
        const found = this.resolveName(q);
        return found ? shuffled(found.ipv4).map((data) => ({ type: RRType.A, data })) : null;
      }
      case RRType.AAAA: {
        const found = this.resolveName(q);
        return found ? shuffled(found.ipv6).map((data) => ({ type: RRType.AAAA, data })) : null;
      }
      case RRType.MX:
        return this.resolveName(q) ? [] : null;
      case RRType.PTR: {
        const name = this.resolveAddress(q);
        return name ? [{ type: RRType.PTR, data: name }] : null;
      }
      default:
        return null;
    }
  }

  /**
   * resolveName looks a name up as dockerd's Sandbox.ResolveName does: for "a.b.c", first
   * "a.b.c" on every network of the container, then "a.b" on network "c", then "a" on
   * network "b.c". Network names compare exactly; container names without case.
   */
  private resolveName(q: Question): Addresses | null {
    // A dot inside a label cannot come from a dotted container name.
    if (q.labels.some((l) => l.includes(0x2e))) return null;
    const labels = q.labels.map((l) => l.toString('latin1'));
    for (let i = labels.length; i >= 1; i--) {
      const name = labels.slice(0, i).join('.').toLowerCase();
      const network = i === labels.length ? null : labels.slice(i).join('.');
      for (const n of this.networks) {
        if (network !== null && network !== n) continue;
        const found = this.records.lookup(n, name);
        if (found) return found;
      }
    }
    return null;
  }

  /** resolveAddress answers a PTR question with "<name>.<network>", as Network.ResolveIP does. */
  private resolveAddress(q: Question): string | null {
    const address = ptrAddress(q.name);
    if (!address) return null;
    for (const n of this.networks) {
      const name = this.records.reverse(n, address);
      if (name) return `${name}.${n}`;
    }
    return null;
  }

  private keepForSearchDomains(q: Question): boolean {
    return this.ndotsSet && (q.type === RRType.A || q.type === RRType.AAAA) && q.labels.length === 1;
  }

  /** forward asks the upstreams in turn and returns the first usable reply, with the client's id; null when none answers. */
  private async forward(packet: Buffer, query: Query, transport: Transport, maxSize: number): Promise<Buffer | null> {
    if (!this.forwarding) return null;
    if (this.forwardsInFlight >= MAX_FORWARDS) {
      return buildReply(query, { rcode: Rcode.REFUSED, maxSize, recursionAvailable: false });
    }
    this.forwardsInFlight++;
    try {
      for (const upstream of this.upstreams.slice(0, MAX_UPSTREAMS)) {
        if (!isIP(upstream.address)) continue;
        let reply = await exchange(upstream, packet, transport, this.timeoutMs);
        if (reply && transport === 'udp' && (readHeader(reply)!.flags & Flag.TC) !== 0) {
          const whole = await exchange(upstream, packet, 'tcp', this.timeoutMs);
          if (whole && whole.length <= maxSize) reply = whole;
        }
        if (!reply) {
          this.log(`embedded DNS: no answer from ${transport}:${upstream.address} for ${query.question.name}`);
          continue;
        }
        const rcode = readHeader(reply)!.rcode;
        // SERVFAIL, or REFUSED (which can be passing): the next upstream may do better.
        if (rcode === Rcode.SERVFAIL || rcode === Rcode.REFUSED) continue;
        return withId(reply, query.id);
      }
      return null;
    } finally {
      this.forwardsInFlight--;
    }
  }
}

/**
 * ptrAddress reads the address in a PTR question's name: four decimal labels before
 * in-addr.arpa, or 32 hex nibbles before ip6.arpa, both least significant first. Any other
 * name gives null, and the query is forwarded (dockerd's ResolveIP finds nothing for it either).
 */
export function ptrAddress(name: string): string | null {
  const lower = name.toLowerCase();
  if (lower.endsWith('.in-addr.arpa')) {
    const parts = lower.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return null;
    return parts.reverse().join('.');
  }
  if (lower.endsWith('.ip6.arpa')) {
    const nibbles = lower.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return null;
    return ipText(Buffer.from(nibbles.reverse().join(''), 'hex'));
  }
  return null;
}

/** shuffled returns the addresses in random order, as dockerd gives them (rand.Shuffle in handleIPQuery). */
function shuffled(list: string[]): string[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * exchange sends a query to one upstream over a socket of its own and waits for the reply,
 * or null on a timeout or an error. The query goes out under a fresh random id, so a stray
 * or forged packet with the client's id is not taken for the answer.
 */
function exchange(upstream: Upstream, packet: Buffer, transport: Transport, timeoutMs: number): Promise<Buffer | null> {
  const id = randomInt(0x10000);
  const query = withId(packet, id);
  const isReply = (msg: Buffer) => {
    const h = readHeader(msg);
    return h !== null && h.id === id && (h.flags & Flag.QR) !== 0;
  };
  const port = upstream.port ?? 53;
  return transport === 'udp'
    ? exchangeUdp(upstream.address, port, query, isReply, timeoutMs)
    : exchangeTcp(upstream.address, port, query, isReply, timeoutMs);
}

function exchangeUdp(address: string, port: number, query: Buffer, isReply: (msg: Buffer) => boolean, timeoutMs: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    let settled = false;
    const done = (reply: Buffer | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    // A connected socket only receives from the upstream; an ICMP "port unreachable" ends the wait early.
    socket.on('error', () => done(null));
    socket.on('message', (msg) => {
      // Anything else (a late reply to an earlier query) is ignored: keep waiting.
      if (isReply(msg)) done(msg);
    });
    socket.on('connect', () => socket.send(query));
    socket.connect(port, address);
  });
}

function exchangeTcp(address: string, port: number, query: Buffer, isReply: (msg: Buffer) => boolean, timeoutMs: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const frames = new TcpFrames();
    let settled = false;
    const done = (reply: Buffer | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('error', () => done(null));
    socket.on('close', () => done(null));
    socket.on('connect', () => socket.write(tcpFrame(query)));
    socket.on('data', (chunk) => {
      frames.push(chunk);
      const reply = frames.next();
      if (reply) done(isReply(reply) ? reply : null);
    });
  });
}
