/**
 * Layers through a real berthd, where it matters that nothing is left half-made: a refused
 * tarball, a full disk (ENOSPC on a small tmpfs), and a daemon killed with -9 in the middle of
 * an import or a load. After each, the data root holds no temp file, no orphan snapshot, no
 * layer without an image, and no tag for what did not finish.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { startBerthd, tempDir, waitFor } from '../helpers/berthd.js';
import { busyboxTar, craftTar, diskState } from '../helpers/images.js';

const clean = (s: ReturnType<typeof diskState>) => ({ snapshots: s.snapshots, layers: s.layers, images: s.images, layerTmp: s.layerTmp, tmp: s.tmp });
const empty = { snapshots: [], layers: [], images: [], layerTmp: [], tmp: [] };

function sentinel() {
  const dir = mkdtempSync('/tmp/bt-sentinel-');
  writeFileSync(join(dir, 'sentinel'), 'host data\n');
  return { dir, file: join(dir, 'sentinel'), intact: () => readFileSync(join(dir, 'sentinel'), 'utf8') === 'host data\n' };
}

/** randomTar makes a tarball of `files` random files of `size` bytes each. */
function randomTar(dir: string, name: string, files: number, size: number): string {
  const src = join(dir, `${name}-src`);
  mkdirSync(src, { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(src, `f${i}`), randomBytes(size));
  const out = join(dir, `${name}.tar`);
  execFileSync('tar', ['-C', src, '-cf', out, '.']);
  rmSync(src, { recursive: true, force: true });
  return out;
}

for (const driver of ['overlay2', 'vfs']) {
  test(`${driver}: a tarball that would write outside is refused, and leaves nothing`, async (t) => {
    const s = sentinel();
    const b = await startBerthd({ args: ['-s', driver] });
    try {
      const evil = join(b.dir, 'evil.tar');
      writeFileSync(evil, craftTar([{ name: 'ok', type: 'file', data: 'fine' }, { name: `../../../../..${s.file}`, type: 'file', data: 'pwned' }]));
      const r = await b.docker(['import', evil, 'evil:1']);
      t.is(r.code, 1);
      t.regex(r.stderr, /Error response from daemon: Error processing tar file: invalid tar entry ".*": it would land outside the layer/);
      t.true(s.intact());
      t.deepEqual(clean(diskState(b.dataRoot, driver)), empty);
      const links = join(b.dir, 'links.tar');
      writeFileSync(links, craftTar([{ name: 'evil', type: 'symlink', linkname: s.dir }, { name: 'evil/sentinel', type: 'file', data: 'pwned' }]));
      t.is((await b.docker(['import', links, 'links:1'])).code, 0, 'symlink-then-write is contained, not refused');
      t.true(s.intact());
    } finally {
      await b.stop();
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
}

test('a layer bigger than the free space, or a disk that fills up (ENOSPC), is a clear error and leaves nothing', async (t) => {
  const dir = tempDir();
  const root = join(dir, 'root');
  mkdirSync(root);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', root]);
  try {
    const b = await startBerthd({ dir });
    try {
      const big = randomTar(dir, 'big', 4, 5 << 20);
      const r = await b.docker(['import', big, 'big:1']);
      t.is(r.code, 1);
      t.regex(r.stderr, /the layer does not fit: it is larger than the \d+ bytes the data root has free/);
      t.deepEqual(clean(diskState(b.dataRoot)), empty);
      // Fewer bytes than the free space, but a page per small file: the disk fills up first.
      const many = join(dir, 'many');
      mkdirSync(many);
      for (let i = 0; i < 4000; i++) writeFileSync(join(many, `f${i}`), randomBytes(1500));
      const manyTar = join(dir, 'many.tar');
      execFileSync('tar', ['-C', many, '-cf', manyTar, '.']);
      const full = await b.docker(['import', manyTar, 'many:1']);
      t.is(full.code, 1);
      t.regex(full.stderr, /no space left on device/i);
      t.deepEqual(clean(diskState(b.dataRoot)), empty);
      const small = join(dir, 'small');
      mkdirSync(small);
      const ok = await b.docker(['import', busyboxTar(small), 'small:1']);
      t.is(ok.code, 0, ok.stderr);
    } finally {
      await b.stop();
    }
  } finally {
    execFileSync('umount', [root]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** slowPost starts a request and sends `body` in pieces; it resolves when `stop()` is called. */
function slowPost(socket: string, path: string, body: Buffer) {
  const req = request({ socketPath: socket, method: 'POST', path, headers: { 'Content-Type': 'application/x-tar' } });
  req.on('error', () => {});
  let sent = 0;
  const timer = setInterval(() => {
    if (sent >= body.length) {
      clearInterval(timer);
      req.end();
      return;
    }
    req.write(body.subarray(sent, sent + (256 << 10)));
    sent += 256 << 10;
  }, 10);
  return { stop: () => (clearInterval(timer), req.destroy()), sent: () => sent };
}

test('berthd killed with -9 in the middle of an import restarts clean', async (t) => {
  const dir = tempDir();
  try {
    const a = await startBerthd({ dir });
    const big = readFileSync(randomTar(dir, 'imp', 6, 8 << 20));
    const upload = slowPost(a.socket, '/images/create?fromSrc=-&repo=crash%3A1', big);
    try {
      t.true(await waitFor(() => diskState(a.dataRoot).snapshots.length > 0 && upload.sent() > 8 << 20, 20_000), 'the import got going');
    } finally {
      await a.stop('SIGKILL');
      upload.stop();
    }
    const b = await startBerthd({ dir });
    try {
      t.deepEqual(clean(diskState(b.dataRoot)), empty);
      t.false(diskState(b.dataRoot).repositories.includes('crash'));
      t.regex(b.output(), /removing the orphaned snapshot/);
      t.deepEqual((await b.request('GET', '/images/json')).json(), []);
    } finally {
      await b.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('berthd killed with -9 while loading a multi-layer image restarts with all of it or none of it', async (t) => {
  const dir = tempDir();
  try {
    // A docker-archive with three 16 MB layers.
    const arch = join(dir, 'arch');
    mkdirSync(arch);
    const diffIDs: string[] = [];
    const layers: string[] = [];
    for (let i = 0; i < 3; i++) {
      const tarPath = randomTar(dir, `l${i}`, 2, 8 << 20);
      const bytes = readFileSync(tarPath);
      const hex = createHash('sha256').update(bytes).digest('hex');
      writeFileSync(join(arch, `${hex}.tar`), bytes);
      diffIDs.push(`sha256:${hex}`);
      layers.push(`${hex}.tar`);
    }
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIDs }, history: diffIDs.map(() => ({ created_by: 'test' })) }));
    const cfgHex = createHash('sha256').update(config).digest('hex');
    writeFileSync(join(arch, `${cfgHex}.json`), config);
    writeFileSync(join(arch, 'manifest.json'), JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: ['multi:1'], Layers: layers }]));
    const archive = execFileSync('tar', ['-C', arch, '-cf', '-', '.'], { maxBuffer: 256 << 20 });

    const a = await startBerthd({ dir });
    const upload = slowPost(a.socket, '/images/load', archive);
    try {
      t.true(await waitFor(() => diskState(a.dataRoot).layers.length >= 1 || diskState(a.dataRoot).snapshots.length >= 1, 30_000), 'the load got to its layers');
    } finally {
      await a.stop('SIGKILL');
      upload.stop();
    }
    const b = await startBerthd({ dir });
    try {
      const st = diskState(b.dataRoot);
      t.deepEqual({ layerTmp: st.layerTmp, tmp: st.tmp }, { layerTmp: [], tmp: [] });
      const tagged = st.repositories.includes('multi');
      if (tagged) {
        t.is(st.images.length, 1, 'all of it');
        t.is(st.layers.length, 3);
        t.is(st.snapshots.length, 3);
      } else {
        t.deepEqual(clean(st), empty, 'or none of it');
      }
    } finally {
      await b.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
