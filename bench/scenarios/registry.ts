/**
 * Registry: docker pull of a 5-layer ~100 MB image from a local registry through a real berthd,
 * in MB/s, beside `skopeo copy` of the same image from the same registry in the same run.
 *
 *   berthd  POST /images/create?fromImage=127.0.0.1:PORT/bench/img&tag=1 over its unix socket,
 *           the JSON progress read to the end (it must end "Status: Downloaded newer image");
 *           the image is removed between runs, so every run downloads, verifies (blob digest and
 *           diffID), decompresses and extracts all 5 layers — what a user's `docker pull` does
 *   skopeo  `skopeo copy docker://127.0.0.1:PORT/bench/img:1 dir:<fresh dir>`: downloads and
 *           verifies the blobs, writes them as files (no decompression, no extraction)
 *
 * While berthd pulls, /_ping is asked every 20 ms: the slowest answer is reported (the daemon
 * must stay responsive). The image: 5 layers, each one tar of ~20 MB of incompressible bytes,
 * gzip'ed, pushed to the registry with skopeo (Docker v2 schema 2). The registry is Debian's
 * docker-registry on 127.0.0.1 with its storage in the scenario's temp dir; everything it starts
 * (registry, berthd) is stopped by pid and the temp dir removed.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TarWriter } from '../../src/tar/writer.js';
import { cleanups, get, percentile, removeTmp, spawnBerthd, stopChild, table, waitForPing, which, type Row, type Scenario } from '../lib.js';

const RUNS = 3;
const LAYERS = 5;
const LAYER_BYTES = 20 * 1024 * 1024;
const MB = 1e6;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[], timeoutMs = 300_000): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr: String(stderr) }));
  });
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An OCI layout of 5 layers of incompressible bytes; returns the compressed bytes in total. */
async function makeImage(dir: string): Promise<number> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (b: Buffer) => {
    const d = sha(b);
    await writeFile(join(blobs, d.slice(7)), b);
    return d;
  };
  const layers: Array<{ mediaType: string; digest: string; size: number }> = [];
  const diffIds: string[] = [];
  let total = 0;
  const w = new TarWriter();
  for (let i = 0; i < LAYERS; i++) {
    const data = randomBytes(LAYER_BYTES);
    const tar = Buffer.concat([w.entry({ name: `layer${i}.bin`, type: 'file', mode: 0o644, mtime: 0 }, data), w.end()]);
    diffIds.push(sha(tar));
    const gz = gzipSync(tar, { level: 1 });
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(gz), size: gz.length });
    total += gz.length;
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const cfg = await put(config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg, size: config.length }, layers }));
  const md = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': '1' } }] }));
  return total;
}

/** pull runs one berthd pull; the slowest /_ping meanwhile comes back too. */
function pull(sock: string, ref: string, tag: string): Promise<{ seconds: number; last: string; worstPingMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let done = false;
    let worst = 0;
    const pinger = (async () => {
      while (!done) {
        const p0 = performance.now();
        await get(sock, '/_ping').catch(() => null);
        worst = Math.max(worst, performance.now() - p0);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const req = request({ socketPath: sock, method: 'POST', path: `/v1.41/images/create?fromImage=${encodeURIComponent(ref)}&tag=${tag}`, agent: false }, (res) => {
      let tail = '';
      res.on('data', (c: Buffer) => (tail = (tail + c.toString()).slice(-2_000)));
      res.on('end', () => {
        done = true;
        const seconds = (performance.now() - t0) / 1000;
        void pinger.then(() => resolve({ seconds, last: tail.trim().split('\n').at(-1) ?? '', worstPingMs: worst }));
      });
      res.on('error', reject);
    });
    req.on('error', (e) => {
      done = true;
      reject(e);
    });
    req.end();
  });
}

function del(sock: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, method: 'DELETE', path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

export const registry: Scenario = {
  name: 'registry',
  description: 'docker pull of a 5-layer ~100 MB image from a local docker-registry through berthd (MB/s) vs skopeo copy of it',
  async run({ repo }) {
    if (process.getuid?.() !== 0) {
      process.stdout.write('REGISTRY: skipped — berthd needs root: run the bench as root\n');
      return { skipped: 'not root' };
    }
    const missing = [];
    if (!(await which('docker-registry'))) missing.push('docker-registry (apt-get install docker-registry)');
    if (!(await which('skopeo'))) missing.push('skopeo (apt-get install skopeo)');
    if (missing.length) {
      process.stdout.write(`REGISTRY: skipped — needs ${missing.join(', ')}\n`);
      return { skipped: missing.join(', ') };
    }
    const tmp = await mkdtemp(join(tmpdir(), 'berth-bench-registry-'));
    let reg: ChildProcess | null = null;
    let daemon: ChildProcess | null = null;
    const cleanup = async () => {
      if (daemon) await stopChild(daemon, 20_000);
      daemon = null;
      if (reg) await stopChild(reg, 5_000);
      reg = null;
      await removeTmp(tmp);
    };
    cleanups.add(cleanup);
    try {
      const bytes = await makeImage(join(tmp, 'oci'));
      const port = await freePort();
      await mkdir(join(tmp, 'storage'));
      await writeFile(
        join(tmp, 'registry.yml'),
        `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(tmp, 'storage')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
      );
      reg = spawn('docker-registry', ['serve', join(tmp, 'registry.yml')], { stdio: ['ignore', 'ignore', 'ignore'] });
      const host = `127.0.0.1:${port}`;
      for (let i = 0; i < 300; i++) {
        const ok = await new Promise<boolean>((r) => request({ host: '127.0.0.1', port, path: '/v2/', agent: false }, (res) => (res.resume(), r(res.statusCode === 200))).on('error', () => r(false)).end());
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const push = await run('skopeo', ['copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${join(tmp, 'oci')}:1`, `docker://${host}/bench/img:1`]);
      if (push.code !== 0) throw new Error(`skopeo could not push the image: ${push.stderr}`);

      const sock = join(tmp, 'berth.sock');
      const b = spawnBerthd(repo, join(tmp, 'berthd'), ['-H', `unix://${sock}`]);
      daemon = b.child;
      await waitForPing(b, sock);

      const berth: number[] = [];
      const sk: number[] = [];
      const pings: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const r = await pull(sock, `${host}/bench/img`, '1');
        if (!r.last.includes('Status: Downloaded newer image')) throw new Error(`berthd's pull did not finish: ${r.last}`);
        berth.push(r.seconds);
        pings.push(r.worstPingMs);
        await del(sock, `/v1.41/images/${host}/bench/img:1?force=1`);
        const dest = join(tmp, `skopeo-${i}`);
        const t0 = performance.now();
        const c = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${host}/bench/img:1`, `dir:${dest}`]);
        if (c.code !== 0) throw new Error(`skopeo copy failed: ${c.stderr}`);
        sk.push((performance.now() - t0) / 1000);
        await rm(dest, { recursive: true, force: true });
      }
      const row = (tool: string, secs: number[], base: number[] | null): Row => {
        const s = [...secs].sort((a, b) => a - b);
        const med = percentile(s, 50);
        const baseMed = base ? percentile([...base].sort((a, b) => a - b), 50) : med;
        return {
          tool,
          MB: (bytes / MB).toFixed(1),
          'MB/s median': (bytes / MB / med).toFixed(1),
          'MB/s best': (bytes / MB / s[0]!).toFixed(1),
          's median': med.toFixed(2),
          'runs (s)': secs.map((x) => x.toFixed(2)).join(' '),
          '÷ skopeo': base ? (baseMed / med).toFixed(2) : '1.00',
        };
      };
      const rows = [row('berthd pull', berth, sk), row('skopeo copy → dir:', sk, null)];
      process.stdout.write(
        table(
          `REGISTRY (pull of ${LAYERS} layers × ${LAYER_BYTES / 1048576} MiB incompressible, ${(bytes / MB).toFixed(1)} MB compressed, from docker-registry on 127.0.0.1; ${RUNS} runs each, alternating; MB = 10^6 B of blobs; ÷ skopeo = skopeo's median time over berthd's)`,
          ['tool', 'MB', 'MB/s median', 'MB/s best', 's median', 'runs (s)', '÷ skopeo'],
          rows,
        ),
      );
      process.stdout.write(`slowest /_ping during berthd's pulls: ${pings.map((p) => p.toFixed(1)).join(' / ')} ms\n`);
      return { bytes, layers: LAYERS, runs: RUNS, berthdSeconds: berth, skopeoSeconds: sk, worstPingMs: pings, rows };
    } finally {
      cleanups.delete(cleanup);
      await cleanup();
    }
  },
};
