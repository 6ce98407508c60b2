/**
 * docker cp (HEAD/GET/PUT /containers/{id}/archive) against a real berthd, with the docker CLI
 * and dockerode, compared with dockerd 20.10's answers (test/fixtures/dockerd-20.10/extras,
 * SUMMARY.md §2): stat headers, tar layouts, both directions on running and stopped
 * containers, -a, errors; then the CVE-2018-15664 race: a container swapping a directory for
 * symlinks (to / and to a host path) while thousands of GET and PUT requests target it, with a
 * host sentinel that must stay untouched and unseen. Ends with the usual leak check.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readTar } from '../../src/tar/reader.js';
import { run, startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, stopWithContainers } from '../helpers/containers.js';
import { craftTar, removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;

test.before(async () => {
  work = tempDir('btcp-');
  b = await startBerthd();
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) await stopWithContainers(b);
  if (work) removeDir(work);
});

const ok = async (args: string[], opts: { timeoutMs?: number } = {}) => {
  const r = await b.docker(args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A request with a binary body and a binary answer. */
function req(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const r = httpRequest({ socketPath: b.socket, method, path, headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`${method} ${path}: timed out`)));
    r.on('error', reject);
    if (body) r.write(body);
    r.end();
  });
}

const q = (path: string) => encodeURIComponent(path);
const statOf = (r: Reply) => JSON.parse(Buffer.from(String(r.headers['x-docker-container-path-stat']), 'base64').toString());

interface Entry {
  name: string;
  type: string;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  data: string;
}

async function entries(tar: Buffer): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const e of readTar((async function* () { yield tar; })())) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c);
    const h = e.header;
    out.push({ name: h.name, type: h.type, linkname: h.linkname, mode: h.mode, uid: h.uid, gid: h.gid, uname: h.uname, data: Buffer.concat(chunks).toString() });
  }
  return out;
}

/** A container with dockerd's fixture tree (/d …), ready once /ready exists. */
async function treeContainer(name: string, extra: string[] = []): Promise<void> {
  const setup = [
    'mkdir -p /d/sub /tmp /root',
    'printf "hello\\n" > /d/f.txt',
    'chmod 640 /d/f.txt',
    'touch -d "2020-01-02 03:04:05" /d/f.txt',
    'ln -s /d/f.txt /d/link',
    'ln -s f.txt /d/rel',
    'mkfifo /d/fifo',
    'printf "sub\\n" > /d/sub/s.txt',
    'chown 65534 /d/sub/s.txt',
    'chmod 4755 /d/sub',
    'touch /ready',
  ].join(' && ');
  await ok(['run', '-d', '--name', name, ...extra, 'busybox', 'sh', '-c', `${setup}; exec sleep 600`]);
  const ready = await waitFor(async () => (await req('HEAD', `/containers/${name}/archive?path=/ready`)).status === 200, 15_000, 50);
  if (!ready) throw new Error(`${name} did not get ready`);
}

test.serial('HEAD: the stat header as dockerd sends it; 404, 400 and 500 answers', async (t) => {
  await treeContainer('ac');
  const f = await req('HEAD', `/containers/ac/archive?path=${q('/d/f.txt')}`);
  t.is(f.status, 200);
  t.is(f.headers['content-type'], undefined);
  t.deepEqual(statOf(f), { name: 'f.txt', size: 6, mode: 416, mtime: '2020-01-02T03:04:05Z', linkTarget: '' });
  const d = statOf(await req('HEAD', `/containers/ac/archive?path=${q('/d/')}`));
  t.is(d.name, 'd');
  t.is(d.mode, 2147484141);
  t.regex(d.mtime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  t.is(statOf(await req('HEAD', `/containers/ac/archive?path=${q('/d/.')}`)).name, '.');
  t.is(statOf(await req('HEAD', '/containers/ac/archive?path=/')).name, '/');
  const link = statOf(await req('HEAD', `/containers/ac/archive?path=${q('/d/link')}`));
  t.deepEqual([link.name, link.size, link.mode, link.linkTarget], ['link', 8, 134218239, '/d/f.txt'], 'the symlink itself, not followed');
  t.is(statOf(await req('HEAD', `/containers/ac/archive?path=${q('/d/rel')}`)).linkTarget, '/d/f.txt', 'a relative link resolved to an absolute container path');
  t.is(statOf(await req('HEAD', `/containers/ac/archive?path=${q('/bin/sh')}`)).linkTarget, '/bin/busybox');
  t.is(statOf(await req('HEAD', `/containers/ac/archive?path=${q('/d/fifo')}`)).mode, 33554852);
  t.is(statOf(await req('HEAD', `/containers/ac/archive?path=${q('/d/sub')}`)).mode, 2155872749);
  t.deepEqual(statOf(await req('HEAD', `/containers/ac/archive?path=${q('d/f.txt')}`)).name, 'f.txt');

  const missing = await req('GET', `/containers/ac/archive?path=${q('/nosuch')}`);
  t.is(missing.status, 404);
  t.is(missing.body.toString(), '{"message":"Could not find the file /nosuch in container ac"}\n');
  t.is((await req('HEAD', `/containers/ac/archive?path=${q('/nosuch')}`)).status, 404);
  const nopath = await req('GET', '/containers/ac/archive');
  t.is(nopath.status, 400);
  t.is(nopath.body.toString(), '{"message":"bad parameter: pathcannot be empty"}\n');
  const slash = await req('GET', `/containers/ac/archive?path=${q('/d/f.txt/')}`);
  t.is(slash.status, 500);
  t.is(slash.body.toString(), '{"message":"lstat /d/f.txt/: not a directory"}\n');
  const noctr = await req('GET', `/containers/nosuch/archive?path=/`);
  t.is(noctr.status, 404);
  t.is(noctr.body.toString(), '{"message":"No such container: nosuch"}\n');
});

test.serial('GET: a file, a directory (with and without "/."), a symlink as dockerd archives them', async (t) => {
  const file = await req('GET', `/containers/ac/archive?path=${q('/d/f.txt')}`);
  t.is(file.status, 200);
  t.is(file.headers['content-type'], 'application/x-tar');
  t.is(statOf(file).name, 'f.txt');
  t.is(file.body.length, 2048, 'header, one data block, two zero blocks');
  const fe = await entries(file.body);
  t.deepEqual(fe.map((e) => [e.name, e.data, e.mode, e.uname]), [['f.txt', 'hello\n', 0o640, 'root']]);
  t.is(file.body.toString('latin1', 100, 107), '0100640', 'the mode field carries the type bits');

  const names = ['d/', 'd/f.txt', 'd/fifo', 'd/link', 'd/rel', 'd/sub/', 'd/sub/s.txt'];
  t.deepEqual((await entries((await req('GET', `/containers/ac/archive?path=${q('/d')}`)).body)).map((e) => e.name), names);
  const dslash = await entries((await req('GET', `/containers/ac/archive?path=${q('/d/')}`)).body);
  t.deepEqual(dslash.map((e) => e.name), names);
  t.deepEqual(dslash.map((e) => e.type), ['dir', 'file', 'fifo', 'symlink', 'symlink', 'dir', 'file']);
  t.is(dslash.find((e) => e.name === 'd/rel')!.linkname, 'f.txt', 'link targets as stored');
  t.is(dslash.find((e) => e.name === 'd/sub/s.txt')!.uname, 'nobody');
  t.is(dslash.find((e) => e.name === 'd/sub/')!.mode, 0o4755);
  const dot = await entries((await req('GET', `/containers/ac/archive?path=${q('/d/.')}`)).body);
  t.deepEqual(dot.map((e) => e.name), ['./', './f.txt', './fifo', './link', './rel', './sub/', './sub/s.txt']);
  const link = await entries((await req('GET', `/containers/ac/archive?path=${q('/d/link')}`)).body);
  t.deepEqual(link.map((e) => [e.name, e.type, e.linkname]), [['link', 'symlink', '/d/f.txt']]);
});

test.serial('docker cp out of a running container: a file, a directory, "/.", a symlink with and without -L, and to stdout', async (t) => {
  const out = join(work, 'out');
  mkdirSync(out, { recursive: true });
  await ok(['cp', 'ac:/d/f.txt', out + '/']);
  t.is(readFileSync(join(out, 'f.txt'), 'utf8'), 'hello\n');
  t.is(statSync(join(out, 'f.txt')).mode & 0o777, 0o640);
  await ok(['cp', 'ac:/d', join(out, 'dcopy')]);
  t.deepEqual(readdirSync(join(out, 'dcopy')).sort(), ['f.txt', 'fifo', 'link', 'rel', 'sub']);
  t.is(readFileSync(join(out, 'dcopy', 'sub', 's.txt'), 'utf8'), 'sub\n');
  mkdirSync(join(out, 'dotdst'));
  await ok(['cp', 'ac:/d/sub/.', join(out, 'dotdst')]);
  t.deepEqual(readdirSync(join(out, 'dotdst')), ['s.txt']);
  await ok(['cp', 'ac:/d/link', join(out, 'plainlink')]);
  t.is(execFileSync('readlink', [join(out, 'plainlink')]).toString().trim(), '/d/f.txt', 'without -L the link itself');
  await ok(['cp', '-L', 'ac:/d/link', join(out, 'followed')]);
  t.is(readFileSync(join(out, 'followed'), 'utf8'), 'hello\n', 'with -L its target');
  const stdout = await run('docker', ['cp', 'ac:/d/f.txt', '-'], { env: { DOCKER_HOST: `unix://${b.socket}` } });
  t.is(stdout.code, 0);
  t.true(stdout.stdout.startsWith('f.txt\0'));
  t.true(stdout.stdout.includes('hello\n'));
  const missing = await b.docker(['cp', 'ac:/nosuch', out]);
  t.is(missing.code, 1);
  t.is(missing.stderr.trim(), 'Error response from daemon: Could not find the file /nosuch in container ac');
});

test.serial('docker cp into a running container: a file, a renamed file, a directory, stdin, -a', async (t) => {
  const src = join(work, 'src');
  mkdirSync(join(src, 'ldir', 'deep'), { recursive: true });
  writeFileSync(join(src, 'lfile'), 'lf\n');
  writeFileSync(join(src, 'ldir', 'in'), 'ld\n');
  writeFileSync(join(src, 'ldir', 'deep', 'x'), 'deep\n');
  chownSync(join(src, 'lfile'), 1234, 5678);
  await ok(['cp', join(src, 'lfile'), 'ac:/tmp/']);
  t.is(await ok(['exec', 'ac', 'cat', '/tmp/lfile']), 'lf\n');
  t.is((await ok(['exec', 'ac', 'stat', '-c', '%u:%g', '/tmp/lfile'])).trim(), '1234:5678', "without -a the tar's owner is kept");
  await ok(['cp', join(src, 'lfile'), 'ac:/tmp/renamed']);
  t.is(await ok(['exec', 'ac', 'cat', '/tmp/renamed']), 'lf\n');
  await ok(['cp', join(src, 'ldir'), 'ac:/tmp/ldir1']);
  t.is(await ok(['exec', 'ac', 'cat', '/tmp/ldir1/in', '/tmp/ldir1/deep/x']), 'ld\ndeep\n');
  // Into a symlink to a directory: the link is followed.
  await ok(['exec', 'ac', 'ln', '-s', '/tmp/ldir1', '/tmp/dirlink']);
  await ok(['cp', join(src, 'lfile'), 'ac:/tmp/dirlink/']);
  t.is(await ok(['exec', 'ac', 'cat', '/tmp/ldir1/lfile']), 'lf\n');

  const tar = craftTar([{ name: 'fromstdin', type: 'file', data: 'stdin\n', uid: 7, gid: 8 }]);
  const r = await run('docker', ['cp', '-', 'ac:/root/'], { env: { DOCKER_HOST: `unix://${b.socket}` }, input: tar.toString('latin1') });
  t.is(r.code, 0, r.stderr);
  t.is(await ok(['exec', 'ac', 'cat', '/root/fromstdin']), 'stdin\n');

  await ok(['run', '-d', '--name', 'uc', '-u', 'nobody', 'busybox', 'sleep', '600']);
  await ok(['cp', '-a', join(src, 'lfile'), 'uc:/afile']);
  t.is((await ok(['exec', 'uc', 'stat', '-c', '%u:%g', '/afile'])).trim(), '65534:65534', '-a: the container user owns what is copied');
  await ok(['cp', join(src, 'lfile'), 'uc:/bfile']);
  t.is((await ok(['exec', 'uc', 'stat', '-c', '%u:%g', '/bfile'])).trim(), '1234:5678');
  await ok(['rm', '-f', 'uc']);
});

test.serial('PUT: dockerd answers for a missing path, a file, overwrite rules, a non-tar, gzip; events', async (t) => {
  const one = craftTar([{ name: 'put.txt', type: 'file', data: 'put\n' }]);
  const ok200 = await req('PUT', `/containers/ac/archive?path=${q('/d')}`, one, { 'Content-Type': 'application/x-tar' });
  t.is(ok200.status, 200);
  t.is(ok200.headers['content-length'], '0');
  t.is(await ok(['exec', 'ac', 'cat', '/d/put.txt']), 'put\n');
  const gz = await req('PUT', `/containers/ac/archive?path=${q('/d')}`, gzipSync(craftTar([{ name: 'gz.txt', type: 'file', data: 'gz\n' }])));
  t.is(gz.status, 200);
  t.is(await ok(['exec', 'ac', 'cat', '/d/gz.txt']), 'gz\n');

  const missing = await req('PUT', `/containers/ac/archive?path=${q('/no/such/dir')}`, one);
  t.is(missing.status, 404);
  t.is(missing.body.toString(), '{"message":"Could not find the file /no/such/dir in container ac"}\n');
  const onFile = await req('PUT', `/containers/ac/archive?path=${q('/d/f.txt')}`, one);
  t.is(onFile.status, 500);
  t.is(onFile.body.toString(), '{"message":"extraction point is not a directory"}\n');
  const dirOntoFile = craftTar([{ name: 'f.txt/', type: 'dir' }]);
  const r1 = await req('PUT', `/containers/ac/archive?path=${q('/d')}&noOverwriteDirNonDir=true`, dirOntoFile);
  t.is(r1.status, 500);
  t.is(r1.body.toString(), '{"message":"Error processing tar file(exit status 1): cannot overwrite non-directory \\"/d/f.txt\\" with directory \\"/d\\""}\n');
  const fileOntoDir = craftTar([{ name: 'sub', type: 'file', data: 'x' }]);
  const r2 = await req('PUT', `/containers/ac/archive?path=${q('/d')}&noOverwriteDirNonDir=true`, fileOntoDir);
  t.is(r2.status, 500);
  t.is(r2.body.toString(), '{"message":"Error processing tar file(exit status 1): cannot overwrite directory \\"/d/sub\\" with non-directory \\"/d\\""}\n');
  const notar = await req('PUT', `/containers/ac/archive?path=${q('/d')}`, Buffer.from('hello'));
  t.is(notar.status, 500);
  t.is(notar.body.toString(), '{"message":"Error processing tar file(exit status 1): unexpected EOF"}\n');
  const nopath = await req('PUT', '/containers/ac/archive', one);
  t.is(nopath.status, 400);
  // Without the flag a file replaces the directory (dockerd's 200).
  t.is((await req('PUT', `/containers/ac/archive?path=${q('/d')}`, fileOntoDir)).status, 200);
  t.is(await ok(['exec', 'ac', 'cat', '/d/sub']), 'x');

  // Names that climb out, and relative symlinks out of the destination, are refused.
  const climb = await req('PUT', `/containers/ac/archive?path=${q('/d')}`, craftTar([{ name: '../../escape', type: 'file', data: 'x' }]));
  t.is(climb.status, 500);
  t.regex(climb.body.toString(), /is outside of/);
  const badlink = await req('PUT', `/containers/ac/archive?path=${q('/d')}`, craftTar([{ name: 'l', type: 'symlink', linkname: '../../etc' }]));
  t.is(badlink.status, 500);
  t.regex(badlink.body.toString(), /invalid symlink/);

  const since = Math.floor(Date.now() / 1000) - 60;
  const ev = await ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=ac', '--format', '{{.Action}}']);
  t.true(ev.split('\n').includes('archive-path'));
  t.true(ev.split('\n').includes('extract-to-dir'));
});

test.serial('stopped containers: cp both ways; --read-only refuses with dockerd\'s message', async (t) => {
  await ok(['stop', '-t', '1', 'ac']);
  const src = join(work, 'src2');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'stopped.txt'), 'while stopped\n');
  await ok(['cp', join(src, 'stopped.txt'), 'ac:/tmp/']);
  await ok(['cp', 'ac:/tmp/stopped.txt', join(src, 'back.txt')]);
  t.is(readFileSync(join(src, 'back.txt'), 'utf8'), 'while stopped\n');
  t.is((await req('HEAD', `/containers/ac/archive?path=${q('/d/f.txt')}`)).status, 200);
  await ok(['start', 'ac']);
  t.is(await ok(['exec', 'ac', 'cat', '/tmp/stopped.txt']), 'while stopped\n');

  await ok(['run', '-d', '--name', 'roc', '--read-only', 'busybox', 'sleep', '600']);
  const r = await b.docker(['cp', join(src, 'stopped.txt'), 'roc:/etc/']);
  t.is(r.code, 1);
  t.is(r.stderr.trim(), 'Error response from daemon: container rootfs is marked read-only');
  // Reading still works.
  t.is((await req('HEAD', '/containers/roc/archive?path=/etc/passwd')).status, 200);
  await ok(['rm', '-f', 'roc']);
});

test.serial('volumes: cp crosses into a volume (running or stopped); a read-only one refuses', async (t) => {
  const probe = await b.docker(['volume', 'create', 'cpvol']);
  if (probe.code !== 0) {
    t.log(`volumes are not available yet: ${probe.stderr.trim()}`);
    t.pass();
    return;
  }
  await ok(['run', '-d', '--name', 'vc', '-v', 'cpvol:/data', '-v', 'cpvol:/ro:ro', 'busybox', 'sleep', '600']);
  const src = join(work, 'src3');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'v.txt'), 'in the volume\n');
  await ok(['cp', join(src, 'v.txt'), 'vc:/data/']);
  t.is(await ok(['exec', 'vc', 'cat', '/data/v.txt']), 'in the volume\n');
  const r = await b.docker(['cp', join(src, 'v.txt'), 'vc:/ro/']);
  t.is(r.code, 1);
  t.is(r.stderr.trim(), 'Error response from daemon: mounted volume is marked read-only');
  await ok(['stop', '-t', '1', 'vc']);
  await ok(['cp', 'vc:/ro/v.txt', join(src, 'fromvol.txt')]);
  t.is(readFileSync(join(src, 'fromvol.txt'), 'utf8'), 'in the volume\n');
  await ok(['rm', '-f', 'vc']);
  await ok(['volume', 'rm', 'cpvol']);
});

test.serial('PUT cannot replace a volume\'s destination (busy, as dockerd); a hardlink after many directories lands where it should', async (t) => {
  await ok(['run', '-d', '--name', 'mv', '-v', 'mvol:/data', 'busybox', 'sleep', '600']);
  const over = await req('PUT', `/containers/mv/archive?path=${q('/')}`, craftTar([{ name: 'data', type: 'file', data: 'not a dir\n' }]));
  t.is(over.status, 500);
  t.regex(over.body.toString(), /device or resource busy/);
  t.is((await ok(['exec', 'mv', 'sh', '-c', 'grep -c " /data " /proc/mounts'])).trim(), '1', 'the volume is still mounted');
  await ok(['stop', '-t', '0', 'mv']);
  await ok(['start', 'mv']);

  // 60 directories, then a hardlink whose target lies in another one: the parents' cache is
  // full by then, and the link's two parents must both stay open.
  const entries: Parameters<typeof craftTar>[0] = [];
  for (let i = 0; i < 60; i++) entries.push({ name: `h/d${i}/`, type: 'dir' }, { name: `h/d${i}/f`, type: 'file', data: `f${i}\n` });
  entries.push({ name: 'h/d31/lnk', type: 'link', linkname: 'h/d2/f' });
  await ok(['exec', 'mv', 'mkdir', '/hl']);
  const put = await req('PUT', `/containers/mv/archive?path=${q('/hl')}`, craftTar(entries));
  t.is(put.status, 200, put.body.toString());
  t.is(await ok(['exec', 'mv', 'cat', '/hl/h/d31/lnk']), 'f2\n');
  t.is((await ok(['exec', 'mv', 'stat', '-c', '%h', '/hl/h/d2/f'])).trim(), '2');
  await ok(['rm', '-f', 'mv']);
  await ok(['volume', 'rm', 'mvol']);
});

test.serial('CVE-2018-15664: a container racing symlink swaps never makes cp read or write outside it', async (t) => {
  // The host side: a sentinel the container's symlink names by its absolute host path.
  const host = tempDir('btcp-host-');
  const secret = `HOST-SECRET-${randomBytes(8).toString('hex')}`;
  writeFileSync(join(host, 'sentinel'), secret);
  const marker = `pwned-${randomBytes(6).toString('hex')}`;
  t.false(existsSync(join('/', marker)));
  const rootSentinelBefore = existsSync('/sentinel');
  try {
    // /w/d is, in turn: a real directory, a symlink to the host path (which exists inside the
    // container too, with a decoy), and a symlink to /.
    const loop = [
      `mkdir -p /w "$T" && echo decoy > "$T/sentinel"`,
      'while true; do rm -rf /w/d; mkdir /w/d; echo inside > /w/d/sentinel; rm -rf /w/d; ln -s "$T" /w/d; rm -f /w/d; ln -s / /w/d; rm -f /w/d; done',
    ].join('; ');
    await ok(['run', '-d', '--name', 'racer', '-e', `T=${host}`, 'busybox', 'sh', '-c', loop]);
    const docker = b.dockerode();
    const racer = docker.getContainer('racer');
    const put = craftTar([
      { name: 'sentinel', type: 'file', data: 'overwritten' },
      { name: marker, type: 'file', data: 'x' },
    ]);
    const readAll = async (s: NodeJS.ReadableStream) => {
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    // Entries whose parent is the racing name: each one's parent is resolved as it comes.
    const nested = craftTar([
      { name: 'd/sentinel', type: 'file', data: 'overwritten' },
      { name: `d/${marker}`, type: 'file', data: 'x' },
    ]);
    const counts: Record<string, number> = {};
    const seen = { inside: 0, decoy: 0, overwritten: 0 };
    let leaked = 0;
    const N = 2000;
    const deadline = Date.now() + 60_000;
    let next = 0;
    const worker = async () => {
      while (next < N && Date.now() < deadline) {
        const i = next++;
        const kind = ['get-file', 'put', 'get-dir', 'head', 'put-nested'][i % 5]!;
        try {
          if (kind === 'get-file' || kind === 'get-dir') {
            const body = await readAll(await racer.getArchive({ path: kind === 'get-file' ? '/w/d/sentinel' : '/w/d/' }));
            if (body.includes(secret)) leaked++;
            if (body.includes('inside')) seen.inside++;
            if (body.includes('decoy')) seen.decoy++;
            if (body.includes('overwritten')) seen.overwritten++;
          } else if (kind === 'put') {
            await racer.putArchive(put, { path: '/w/d' });
          } else if (kind === 'put-nested') {
            await racer.putArchive(nested, { path: '/w' });
          } else {
            await racer.infoArchive({ path: '/w/d/sentinel' });
          }
          counts[`${kind} ok`] = (counts[`${kind} ok`] ?? 0) + 1;
        } catch (err) {
          const code = (err as { statusCode?: number }).statusCode ?? 'error';
          counts[`${kind} ${code}`] = (counts[`${kind} ${code}`] ?? 0) + 1;
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    t.log(`${next} requests: ${JSON.stringify(counts)}; archives with the container's own files: ${JSON.stringify(seen)}`);
    t.true(next >= 500, 'enough requests ran within the time bound');
    t.is(leaked, 0, 'no archive ever held the host sentinel');
    t.is(readFileSync(join(host, 'sentinel'), 'utf8'), secret, 'the host sentinel is byte-identical');
    t.deepEqual(readdirSync(host), ['sentinel'], 'nothing was created in the host directory');
    t.false(existsSync(join('/', marker)), 'nothing was created at the host root');
    t.is(existsSync('/sentinel'), rootSentinelBefore);
    t.true((counts['get-file ok'] ?? 0) + (counts['get-dir ok'] ?? 0) > 0, 'some reads succeeded (the race was really run)');
    t.true((counts['put ok'] ?? 0) > 0, 'some writes succeeded');
    // The daemon stayed healthy.
    t.is((await b.request('GET', '/_ping')).status, 200);
  } finally {
    await b.docker(['rm', '-f', 'racer']);
    removeDir(host);
  }
});

test.serial('nothing is left behind: no mount, monitor, bundle or runc state', async (t) => {
  await ok(['rm', '-f', 'ac']);
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 10_000), JSON.stringify(leftovers(b)));
});
