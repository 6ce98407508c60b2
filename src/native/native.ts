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

  // The *at(2) calls of docker cp (workers/graph/archive): every name is relative to a
  // directory fd, so a container swapping symlinks cannot steer them outside its root.
  /** openat2(2) → fd (O_CLOEXEC added); `resolve` is RESOLVE_* bits (see O / RESOLVE below). */
  openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number;
  mkdirat(dirfd: number, name: string, mode: number): void;
  symlinkat(target: string, dirfd: number, name: string): void;
  linkat(olddirfd: number, oldname: string, newdirfd: number, newname: string, flags: number): void;
  unlinkat(dirfd: number, name: string, flags: number): void;
  mknodat(dirfd: number, name: string, mode: number, major: number, minor: number): void;
  fchownat(dirfd: number, name: string, uid: number, gid: number, flags: number): void;
  /** fchmodat2(2): AT_SYMLINK_NOFOLLOW is honoured (a symlink is refused, never followed). */
  fchmodat(dirfd: number, name: string, mode: number, flags: number): void;
  utimensat(dirfd: number, name: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number, flags: number): void;
  readlinkat(dirfd: number, name: string): string;
  /** null when the name does not exist. */
  fstatat(dirfd: number, name: string, flags: number): NativeStat | null;

  /** mount(2) on a libuv pool thread: fstype '' and data '' are NULL; flags are MS_* bits (see MS below). */
  mount(source: string, target: string, fstype: string, flags: number, data: string): Promise<void>;
  /** umount2(2) on a libuv pool thread (an unmount may wait for writeback); flags are MNT_* bits. */
  umount2(target: string, flags: number): Promise<void>;
  /** fallocate(PUNCH_HOLE|KEEP_SIZE): the range's blocks freed, the file's size unchanged. */
  punchHole(fd: number, offset: number, length: number): void;
  /** close(2) of an fd the addon opened (openat2): Node's fs.close warns about fds it did not open. */
  closeFd(fd: number): void;
  /** A new network namespace bound to the (existing, empty) file at path, its loopback up. */
  netnsCreate(path: string): void;
}

/** The mount(2) flags berth uses. */
export const MS = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, REMOUNT: 0x20, BIND: 0x1000, REC: 0x4000 } as const;
/** umount2(2)'s MNT_DETACH: a lazy unmount. */
export const MNT_DETACH = 0x2;

export interface NativeStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  dev: number;
  /** A decimal string: inode numbers can exceed 2^53. */
  ino: string;
  rdevMajor: number;
  rdevMinor: number;
  mtimeSec: number;
  mtimeNsec: number;
}

/** Linux x86_64/arm64 values of the flags the *at calls take. */
export const AT = { SYMLINK_NOFOLLOW: 0x100, REMOVEDIR: 0x200, SYMLINK_FOLLOW: 0x400, EMPTY_PATH: 0x1000 } as const;
export const RESOLVE = { NO_XDEV: 0x01, NO_MAGICLINKS: 0x02, NO_SYMLINKS: 0x04, BENEATH: 0x08, IN_ROOT: 0x10 } as const;

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
