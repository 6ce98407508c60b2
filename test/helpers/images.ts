/**
 * Image material for tests: a busybox root filesystem built from Debian's busybox-static (as
 * the issue asks: the tests make it themselves), tarballs crafted entry by entry (for the
 * extraction attacks), and a look at what a data root holds on disk.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TarWriter } from '../../src/tar/writer.js';
import type { EntryInit } from '../../src/tar/header.js';

/** busyboxRootfs makes <dir>/rootfs (busybox and its applet links, /etc/passwd) and returns it. */
export function busyboxRootfs(dir: string): string {
  const root = join(dir, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  execFileSync('cp', ['/bin/busybox', join(root, 'bin/busybox')]);
  const applets = execFileSync(join(root, 'bin/busybox'), ['--list']).toString().trim().split('\n');
  for (const a of applets) if (a && a !== 'busybox') symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  return root;
}

/** busyboxTar makes <dir>/busybox.tar (GNU tar, numeric owners) and returns its path. */
export function busyboxTar(dir: string): string {
  const root = existsSync(join(dir, 'rootfs')) ? join(dir, 'rootfs') : busyboxRootfs(dir);
  const out = join(dir, 'busybox.tar');
  execFileSync('tar', ['-C', root, '--numeric-owner', '-cf', out, '.']);
  return out;
}

export type CraftEntry = EntryInit & { data?: string | Buffer };

/** craftTar writes entries exactly as given (absolute names, "..", links anywhere). */
export function craftTar(entries: CraftEntry[]): Buffer {
  const w = new TarWriter();
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? undefined : Buffer.from(e.data);
    parts.push(e.type === 'file' ? w.entry({ mode: 0o644, ...e }, data) : w.header({ mode: 0o755, ...e }));
  }
  parts.push(w.end());
  return Buffer.concat(parts);
}

/** diskState lists what a data root holds: snapshots, layers, images, temp files. */
export function diskState(dataRoot: string, driver = 'overlay2'): { snapshots: string[]; layers: string[]; images: string[]; layerTmp: string[]; tmp: string[]; repositories: string } {
  const ls = (p: string) => (existsSync(p) ? readdirSync(p).sort() : []);
  const snapDir = driver === 'vfs' ? join(dataRoot, 'vfs', 'dir') : join(dataRoot, driver);
  return {
    snapshots: ls(snapDir).filter((n) => n !== 'l'),
    layers: ls(join(dataRoot, 'image', driver, 'layerdb', 'sha256')),
    images: ls(join(dataRoot, 'image', driver, 'imagedb', 'content', 'sha256')),
    layerTmp: ls(join(dataRoot, 'image', driver, 'layerdb', 'tmp')),
    tmp: ls(join(dataRoot, 'tmp')),
    repositories: existsSync(join(dataRoot, 'image', driver, 'repositories.json')) ? execFileSync('cat', [join(dataRoot, 'image', driver, 'repositories.json')]).toString() : '',
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
