/**
 * Facts about the filesystem under the data root that drivers need: its type (statfs magic,
 * named as dockerd names them) and whether the kernel has overlayfs.
 */
import { readFile, statfs } from 'node:fs/promises';

const MAGIC: Record<number, string> = {
  0xef53: 'extfs',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0x6969: 'nfs',
  0xf15f: 'ecryptfs',
  0x65735546: 'fuse',
};

export async function backingFs(path: string): Promise<string> {
  const s = await statfs(path);
  const type = Number(s.type) >>> 0;
  return MAGIC[type] ?? `<unknown 0x${type.toString(16)}>`;
}

export async function kernelHasOverlay(): Promise<boolean> {
  try {
    return /\toverlay$/m.test(await readFile('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}
