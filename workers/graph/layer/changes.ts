/**
 * Changes between a snapshot and its parent, and the layer tarball that carries them.
 *
 * overlay: everything in the upper directory changed; a 0/0 character device is a deletion,
 *          an opaque directory hides the lower one. Added vs modified: whether the lower
 *          layers have the path.
 * naive:   (vfs) the snapshot and its parent are both full trees: walk both and compare
 *          stat data, as dockerd's ChangesDirs (size, mode, owner, mtime, link target).
 *
 * A directory whose contents changed is itself reported modified, as `docker diff` shows.
 */
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { native } from '../../../src/native/native.js';
import { TarWriter } from '../../../src/tar/writer.js';
import type { EntryInit } from '../../../src/tar/header.js';
import type { Change, Usage } from '../driver.js';

export interface WalkEntry {
  rel: string;
  host: string;
  st: Stats;
}

/** walk yields every entry under root (not root itself), parents before children, sorted. */
export async function* walk(root: string, rel = ''): AsyncGenerator<WalkEntry> {
  const names = (await readdir(join(root, rel)).catch(() => [] as string[])).sort();
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name;
    const host = join(root, r);
    const st = await lstat(host);
    yield { rel: r, host, st };
    if (st.isDirectory()) yield* walk(root, r);
  }
}

export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export function isOpaque(host: string): boolean {
  return native().lgetxattr(host, 'trusted.overlay.opaque')?.toString() === 'y';
}

async function statOrNull(path: string): Promise<Stats | null> {
  return lstat(path).catch(() => null);
}

/** inLowers says whether the merged view of the lower layers (top first) has `rel`. */
async function inLowers(lowers: string[], rel: string): Promise<boolean> {
  for (const lower of lowers) {
    const st = await statOrNull(join(lower, rel));
    if (st) return !isWhiteout(st);
  }
  return false;
}

/** lowerNames lists what directory `rel` holds in the merged view of the lower layers (top first). */
async function lowerNames(lowers: string[], rel: string): Promise<Set<string>> {
  const names = new Set<string>();
  const hidden = new Set<string>();
  for (const lower of lowers) {
    const dir = join(lower, rel);
    const st = await statOrNull(dir);
    if (!st) continue;
    if (!st.isDirectory()) break; // a file there hides the directories below
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (hidden.has(name) || names.has(name)) continue;
      if (isWhiteout(await lstat(join(dir, name)))) hidden.add(name);
      else names.add(name);
    }
    if (isOpaque(dir)) break;
  }
  return names;
}

export async function overlayChanges(upper: string, lowers: string[]): Promise<Change[]> {
  const out: Change[] = [];
  // Under an opaque directory (removed, then made again) the lower layers do not show: what
  // they had and the upper has not is deleted, as a comparison of the two trees says.
  const opaque: string[] = [];
  const underOpaque = (rel: string) => opaque.some((o) => rel.startsWith(`${o}/`));
  for await (const e of walk(upper)) {
    const path = `/${e.rel}`;
    if (isWhiteout(e.st)) {
      if (!underOpaque(e.rel)) out.push({ Path: path, Kind: 2 });
      continue;
    }
    const lower = !underOpaque(e.rel) && (await inLowers(lowers, e.rel));
    out.push({ Path: path, Kind: lower ? 0 : 1 });
    if (lower && e.st.isDirectory() && isOpaque(e.host)) {
      const have = new Set(await readdir(e.host));
      for (const name of await lowerNames(lowers, e.rel)) {
        if (!have.has(name)) out.push({ Path: `${path}/${name}`, Kind: 2 });
      }
      opaque.push(e.rel);
    }
  }
  return out;
}

/**
 * diffOrder puts changes in an order dockerd's `docker diff` can give (its own is Go map order,
 * different at each call): a directory before what it holds and, within a directory, what is
 * there now (by name, each followed by its contents) before what was deleted (by name).
 */
export function diffOrder(changes: Change[]): Change[] {
  interface Node { change?: Change; children: Map<string, Node> }
  const root: Node = { children: new Map() };
  for (const c of changes) {
    let n = root;
    for (const part of c.Path.split('/').filter(Boolean)) {
      let next = n.children.get(part);
      if (!next) n.children.set(part, (next = { children: new Map() }));
      n = next;
    }
    n.change = c;
  }
  const out: Change[] = [];
  const visit = (n: Node) => {
    const names = [...n.children.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const deleted = names.filter((k) => n.children.get(k)!.change?.Kind === 2);
    for (const k of names) {
      const child = n.children.get(k)!;
      if (child.change?.Kind === 2) continue;
      if (child.change) out.push(child.change);
      visit(child);
    }
    for (const k of deleted) out.push(n.children.get(k)!.change!);
  };
  visit(root);
  return out;
}

function sameMeta(a: Stats, b: Stats): boolean {
  // dockerd's statDifferent: a directory's size and mtime are no measure of change (moby#9874).
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.rdev === b.rdev && (a.isDirectory() || (a.size === b.size && a.mtimeMs === b.mtimeMs));
}

export async function naiveChanges(dir: string, parentDir: string | null): Promise<Change[]> {
  const out = new Map<string, Change>();
  const seen = new Set<string>();
  const markParents = (rel: string) => {
    for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) {
      const p = `/${rel.slice(0, i)}`;
      if (!out.has(p)) out.set(p, { Path: p, Kind: 0 });
    }
  };
  for await (const e of walk(dir)) {
    seen.add(e.rel);
    const before = parentDir ? await statOrNull(join(parentDir, e.rel)) : null;
    let kind: 0 | 1 | null = null;
    if (!before || before.isDirectory() !== e.st.isDirectory()) kind = 1;
    else if (!sameMeta(before, e.st)) kind = 0;
    else if (e.st.isSymbolicLink() && (await readlink(e.host)) !== (await readlink(join(parentDir!, e.rel)))) kind = 0;
    if (kind !== null) {
      out.set(`/${e.rel}`, { Path: `/${e.rel}`, Kind: kind });
      markParents(e.rel);
    }
  }
  if (parentDir) {
    for await (const e of walk(parentDir)) {
      if (seen.has(e.rel)) continue;
      // Report a deleted directory once, not each child.
      const parentGone = [...out.values()].some((c) => c.Kind === 2 && e.rel.startsWith(`${c.Path.slice(1)}/`));
      if (!parentGone) {
        out.set(`/${e.rel}`, { Path: `/${e.rel}`, Kind: 2 });
        markParents(e.rel);
      }
    }
  }
  return [...out.values()].sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
}

const XATTRS_KEPT = (name: string) => name.startsWith('user.') || name === 'security.capability';

function xattrsOf(host: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const name of native().llistxattr(host)) {
    if (!XATTRS_KEPT(name)) continue;
    const v = native().lgetxattr(host, name);
    if (v) out[name] = v;
  }
  return out;
}

/**
 * entry yields a tar entry (header and contents) for one path of a snapshot; `names` gives the
 * owner's user and group names (an export has them, as dockerd 20.10's tar looks them up).
 */
export async function* entry(w: TarWriter, rel: string, host: string, st: Stats, links: Map<string, string>, names?: (uid: number, gid: number) => { uname: string; gname: string }): AsyncGenerator<Buffer> {
  const base: EntryInit = { name: rel, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), xattrs: xattrsOf(host), ...names?.(st.uid, st.gid) };
  if (st.isDirectory()) {
    yield w.header({ ...base, name: `${rel}/`, type: 'dir' });
  } else if (st.isSymbolicLink()) {
    yield w.header({ ...base, type: 'symlink', linkname: await readlink(host), xattrs: {} });
  } else if (st.isFIFO()) {
    yield w.header({ ...base, type: 'fifo' });
  } else if (st.isFile()) {
    const inode = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? links.get(inode) : undefined;
    if (first) {
      yield w.header({ ...base, type: 'link', linkname: first });
      return;
    }
    if (st.nlink > 1) links.set(inode, rel);
    yield w.header({ ...base, size: st.size });
    let sent = 0;
    for await (const c of createReadStream(host)) {
      const chunk = c as Buffer;
      const room = st.size - sent;
      if (room <= 0) break;
      const out = chunk.length > room ? chunk.subarray(0, room) : chunk;
      sent += out.length;
      yield out;
    }
    if (sent < st.size) yield Buffer.alloc(st.size - sent); // the file shrank while read
    yield w.pad(st.size);
  }
  // Device nodes are not carried (berth does not create them either).
}

/** overlayDiff writes the upper directory as a layer: whiteouts and opaque markers included. */
export async function* overlayDiff(upper: string): AsyncGenerator<Buffer> {
  const w = new TarWriter();
  const links = new Map<string, string>();
  for await (const e of walk(upper)) {
    if (isWhiteout(e.st)) {
      const i = e.rel.lastIndexOf('/');
      const name = i < 0 ? `.wh.${e.rel}` : `${e.rel.slice(0, i)}/.wh.${e.rel.slice(i + 1)}`;
      yield w.entry({ name, type: 'file', mode: 0, mtime: Math.floor(e.st.mtimeMs / 1000) });
      continue;
    }
    yield* entry(w, e.rel, e.host, e.st, links);
    if (e.st.isDirectory() && isOpaque(e.host)) yield w.entry({ name: `${e.rel}/.wh..wh..opq`, type: 'file', mode: 0, mtime: Math.floor(e.st.mtimeMs / 1000) });
  }
  yield w.end();
}

/** naiveDiff writes the changes of a full-copy snapshot as a layer. */
export async function* naiveDiff(dir: string, changes: Change[]): AsyncGenerator<Buffer> {
  const w = new TarWriter();
  const links = new Map<string, string>();
  for (const c of changes) {
    const rel = c.Path.slice(1);
    if (c.Kind === 2) {
      const i = rel.lastIndexOf('/');
      yield w.entry({ name: i < 0 ? `.wh.${rel}` : `${rel.slice(0, i)}/.wh.${rel.slice(i + 1)}`, type: 'file', mode: 0 });
      continue;
    }
    const host = join(dir, rel);
    yield* entry(w, rel, host, await lstat(host), links);
  }
  yield w.end();
}

/** usage counts the bytes (hardlinked files once) and inodes under a directory. */
export async function usageOf(dir: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  for await (const e of walk(dir)) {
    const id = `${e.st.dev}:${e.st.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    inodes++;
    if (e.st.isFile()) size += e.st.size;
  }
  return { size, inodes };
}
