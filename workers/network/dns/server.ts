/**
 * DnsServer serves a Resolver on sockets the caller made and bound: a datagram socket for
 * UDP and a listening net.Server for TCP (dockerd listens on both at 127.0.0.11 inside the
 * container's network namespace).
 *
 * Why the caller makes the sockets: they must live in the container's namespace, which the
 * network actor enters with native code. A TCP socket bound there can be handed to Node as a
 * file descriptor (net.Server#listen({ fd })); a UDP one cannot (dgram adopts no descriptor),
 * so UDP goes through the small DatagramSocket interface, which a native socket can implement
 * and a dgram.Socket is adapted to (datagramSocket below).
 *
 * The server owns what it is given: close() closes the sockets and ends open connections.
 */
import { Socket as DgramSocket } from 'node:dgram';
import type { Server as TcpServer, Socket } from 'node:net';
import { TcpFrames, tcpFrame } from './message.js';
import type { Resolver } from './resolver.js';

/** miekg's server, which dockerd uses, closes a TCP connection idle for 8 s (tcpIdleTimeout)... */
const TCP_IDLE_MS = 8000;
/** ...or after 128 queries (maxTCPQueries). */
const TCP_MAX_QUERIES = 128;

export interface Peer {
  address: string;
  port: number;
}

/** What the server needs of a UDP socket that is already bound. */
export interface DatagramSocket {
  /** onMessage registers the one listener for incoming datagrams. */
  onMessage(listener: (packet: Buffer, from: Peer) => void): void;
  /** send sends one datagram; a failure is the socket's to swallow (the client just sees no reply). */
  send(packet: Buffer, port: number, address: string): void;
  close(): void;
}

/** datagramSocket adapts a bound dgram.Socket. */
export function datagramSocket(socket: DgramSocket): DatagramSocket {
  // An error about one client (it went away) must not take the server down.
  socket.on('error', () => {});
  return {
    onMessage: (listener) => socket.on('message', (msg, rinfo) => listener(msg, { address: rinfo.address, port: rinfo.port })),
    send: (packet, port, address) => socket.send(packet, port, address, () => {}),
    close: () => socket.close(),
  };
}

export interface DnsServerOptions {
  udp?: DgramSocket | DatagramSocket;
  tcp?: TcpServer;
  /** How long a TCP connection may sit without a query; 8 s unless given. */
  tcpIdleMs?: number;
}

export class DnsServer {
  private readonly udp: DatagramSocket | null;
  private readonly tcp: TcpServer | null;
  private readonly tcpIdleMs: number;
  private readonly connections = new Set<Socket>();
  private closed = false;

  constructor(
    private readonly resolver: Resolver,
    opts: DnsServerOptions,
  ) {
    if (opts.udp instanceof DgramSocket) this.udp = datagramSocket(opts.udp);
    else this.udp = opts.udp ?? null;
    this.tcp = opts.tcp ?? null;
    this.tcpIdleMs = opts.tcpIdleMs ?? TCP_IDLE_MS;
    this.udp?.onMessage((packet, from) => void this.serveDatagram(packet, from));
    this.tcp?.on('connection', (socket) => this.serveConnection(socket));
  }

  /** Datagrams are answered concurrently; a forwarded query can take seconds. */
  private async serveDatagram(packet: Buffer, from: Peer): Promise<void> {
    const reply = await this.resolver.answer(packet, 'udp');
    if (!reply || this.closed) return;
    try {
      this.udp!.send(reply, from.port, from.address);
    } catch {
      // A socket of the caller's that fails to send: that client sees no reply, the rest are served.
    }
  }

  /**
   * serveConnection reads length-prefixed queries (RFC 1035 4.2.2) and answers them one at a
   * time, in order, as miekg's server does. Reading pauses while a query is answered, so a
   * client cannot pile up work, and the idle timer is off meanwhile, so a slow upstream does
   * not cut the connection.
   */
  private serveConnection(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    // A reset by the client; 'close' follows.
    socket.on('error', () => {});
    socket.setTimeout(this.tcpIdleMs);
    socket.on('timeout', () => socket.destroy());

    const frames = new TcpFrames();
    let busy = false;
    let served = 0;
    let finished = false;
    const answerPending = async () => {
      busy = true;
      socket.pause();
      socket.setTimeout(0);
      for (let query = frames.next(); query && !socket.destroyed; query = frames.next()) {
        const reply = await this.resolver.answer(query, 'tcp');
        if (reply && !socket.destroyed) socket.write(tcpFrame(reply));
        if (++served >= TCP_MAX_QUERIES) {
          finished = true;
          socket.end();
          return;
        }
      }
      busy = false;
      if (socket.destroyed) return;
      socket.setTimeout(this.tcpIdleMs);
      socket.resume();
    };
    socket.on('data', (chunk: Buffer) => {
      if (finished) return;
      frames.push(chunk);
      if (!busy) void answerPending();
    });
  }

  /** close stops serving: closes both sockets and ends the open TCP connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.udp?.close();
    for (const socket of this.connections) socket.destroy();
    const tcp = this.tcp;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}
