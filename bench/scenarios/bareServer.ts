/**
 * The baseline for the HTTP scenario: a bare node:http server, nothing else. It runs as its
 * own process (so it never shares an event loop with anything it is compared with) and answers
 *   GET /_ping    → "OK"
 *   GET /version  → a fixed JSON body: the file named by argv[2] (the http scenario passes
 *                   berthd's own /version body, so both send the same bytes), else a constant
 * It listens on 127.0.0.1, on an ephemeral port, and prints that port as one line on stdout.
 */
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

// About the size and shape of dockerd 20.10's /version answer (~800 bytes).
const FALLBACK_VERSION = JSON.stringify({
  Platform: { Name: 'Docker Engine - Community' },
  Components: [
    {
      Name: 'Engine',
      Version: '20.10.24',
      Details: {
        ApiVersion: '1.41',
        Arch: 'amd64',
        BuildTime: '2023-04-04T10:50:56.000000000+00:00',
        Experimental: 'false',
        GitCommit: '5d6db84',
        GoVersion: 'go1.19.7',
        KernelVersion: '6.1.0-18-amd64',
        MinAPIVersion: '1.12',
        Os: 'linux',
      },
    },
    { Name: 'containerd', Version: '1.6.20', Details: { GitCommit: '2806fc1057397dbaeefbea0e4e17bddfbd388f38' } },
    { Name: 'runc', Version: '1.1.5', Details: { GitCommit: 'v1.1.5-0-gf19387a' } },
    { Name: 'docker-init', Version: '0.19.0', Details: { GitCommit: 'de40ad0' } },
  ],
  Version: '20.10.24',
  ApiVersion: '1.41',
  MinAPIVersion: '1.12',
  GitCommit: '5d6db84',
  GoVersion: 'go1.19.7',
  Os: 'linux',
  Arch: 'amd64',
  KernelVersion: '6.1.0-18-amd64',
  BuildTime: '2023-04-04T10:50:56.000000000+00:00',
});

const version = Buffer.from(process.argv[2] ? readFileSync(process.argv[2], 'utf8') : FALLBACK_VERSION);
const ok = Buffer.from('OK');

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/_ping') {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': ok.length });
    res.end(ok);
  } else if (req.method === 'GET' && req.url === '/version') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': version.length });
    res.end(version);
  } else {
    res.writeHead(404);
    res.end();
  }
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // idle keep-alive connections would otherwise hold close() open
});
