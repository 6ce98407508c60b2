/**
 * The berth_native addon (native/berth_native.c), built by node-gyp at `npm ci`.
 * It holds the few system calls Node.js lacks; N-API addons load in worker threads too.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';

export interface BerthNative {
  /** One AF_UNIX datagram (a leading '@' names an abstract socket). */
  sendDatagram(path: string, data: Buffer): void;
  /** mknod(2): `mode` includes the file type (S_IFIFO, S_IFCHR…). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** null when the attribute is absent. */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  /**
   * A connected SOCK_SEQPACKET unix socket (conmon's attach socket), watched on this thread's
   * loop: onPacket gets each packet whole, then null at the end.
   */
  seqpacketOpen(path: string, onPacket: (packet: Buffer | null) => void, onWritable: () => void): SeqpacketHandle;
  /**
   * A socket bound to ip:port (port 0: any) inside the network namespace at nsPath — listening
   * if tcp — returned as an fd for dgram's bind({fd}) or net's listen({fd}).
   */
  socketInNetns(nsPath: string, tcp: boolean, ip: string, port: number): number;
}

export interface SeqpacketHandle {
  /** Bytes sent, or -1 when the socket is full (onWritable says when to try again). */
  write(data: Buffer): number;
  /** Half-close: the peer reads end-of-stream. */
  shutdown(): void;
  close(): void;
}

let cached: BerthNative | null = null;

/** The package root: dist/src/native → three levels up. */
export function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

export function native(): BerthNative {
  if (cached) return cached;
  const file = join(packageRoot(), 'build', 'Release', 'berth_native.node');
  if (!existsSync(file)) throw new Error(`berth's native addon is missing (${file}); run npm ci (it builds it with node-gyp)`);
  cached = createRequire(import.meta.url)(file) as BerthNative;
  return cached;
}
