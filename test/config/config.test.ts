/**
 * Config parsing and validation (seed §5.0–5.1): dockerd's flag names and syntax, daemon.json,
 * conflicts, and every validation error, checked in-process and through the real binary
 * (exit codes: 2 for command-line mistakes, 1 for configuration problems).
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseHost, isLoopback, type DaemonConfig } from '../../src/config/config.js';
import { UsageError } from '../../src/config/parse.js';
import { runBerthd } from '../helpers/berthd.js';

const noFile = ['--config-file', '/dev/null'];

function cfg(argv: string[]): DaemonConfig {
  const inv = loadConfig([...noFile, ...argv], {});
  if (inv.kind !== 'run') throw new Error('not a run');
  return inv.config;
}

function withFile(json: string, f: (path: string) => void): void {
  const dir = mkdtempSync('/tmp/btc-');
  try {
    const p = join(dir, 'daemon.json');
    writeFileSync(p, json);
    f(p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('defaults are berth\'s names and dockerd\'s values', (t) => {
  const c = cfg([]);
  t.is(c.pidfile, '/run/berth/berthd.pid');
  t.is(c.dataRoot, '/var/lib/berth');
  t.is(c.execRoot, '/run/berth');
  t.deepEqual(c.hosts, [{ proto: 'unix', addr: '/run/berth/berth.sock', spec: 'unix:///run/berth/berth.sock' }]);
  t.true(c.iptables && c.ipForward && c.ipMasq && c.icc);
  t.is(c.ip, '0.0.0.0');
  t.is(c.defaultRuntime, 'runc');
  t.is(c.logLevel, 'info');
  t.false(c.debugFailpoints);
});

test('every seed Config field has its dockerd flag', (t) => {
  const c = cfg([
    '-p', '/tmp/x.pid', '--data-root', '/tmp/root', '--dns', '1.1.1.1', '--dns', '8.8.8.8', '--dns-search', 'example.com',
    '--registry-mirror', 'https://mirror.example.com', '--iptables=false', '--ip-forward=false', '--ip-masq=false', '--ip', '127.0.0.1',
    '--bip', '10.42.0.1/16', '--fixed-cidr', '10.42.1.0/24', '--icc=false', '-s', 'vfs', '--storage-opt', 'a=b',
    '--default-runtime', 'runc', '--mtu', '1400', '--selinux-enabled', '--exec-root', '/tmp/exec', '-H', 'unix:///tmp/a.sock',
    '-H', 'tcp://127.0.0.1:2375', '-G', 'root', '-D', '--api-cors-header', '*', '--label', 'a=b',
  ]);
  t.is(c.pidfile, '/tmp/x.pid');
  t.deepEqual(c.dns, ['1.1.1.1', '8.8.8.8']);
  t.deepEqual(c.dnsSearch, ['example.com']);
  t.deepEqual(c.registryMirrors, ['https://mirror.example.com']);
  t.false(c.iptables || c.ipForward || c.ipMasq || c.icc);
  t.is(c.bip, '10.42.0.1/16');
  t.is(c.fixedCidr, '10.42.1.0/24');
  t.is(c.storageDriver, 'vfs');
  t.deepEqual(c.storageOpts, ['a=b']);
  t.is(c.mtu, 1400);
  t.true(c.selinuxEnabled);
  t.is(c.hosts.length, 2);
  t.is(c.hosts[1]!.addr, '127.0.0.1:2375');
  t.is(c.group, 'root');
  t.true(c.groupExplicit);
  t.is(c.logLevel, 'debug');
  t.is(c.apiCorsHeader, '*');
});

test('deprecated aliases: -g/--graph for --data-root, -e/--exec-driver for --default-runtime', (t) => {
  t.is(cfg(['-g', '/tmp/g']).dataRoot, '/tmp/g');
  t.is(cfg(['--graph=/tmp/g2']).dataRoot, '/tmp/g2');
  t.is(cfg(['-e', 'runc']).defaultRuntime, 'runc');
});

test('pflag syntax: --a=b, -xvalue, -x=value, combined short booleans', (t) => {
  t.is(cfg(['-p/tmp/p1']).pidfile, '/tmp/p1');
  t.is(cfg(['-p=/tmp/p2']).pidfile, '/tmp/p2');
  t.is(cfg(['--pidfile=/tmp/p3']).pidfile, '/tmp/p3');
  const inv = loadConfig([...noFile, '-Dv'], {});
  t.is(inv.kind, 'version');
});

test('leftover arguments are a usage error', (t) => {
  const err = t.throws(() => loadConfig([...noFile, 'extra'], {}));
  t.true(err instanceof UsageError);
  t.is(err?.message, '"berthd" accepts no argument(s).');
});

const usageErrors: Array<[string[], string]> = [
  [['--foo'], 'unknown flag: --foo'],
  [['-x'], "unknown shorthand flag: 'x' in -x"],
  [['--pidfile'], 'flag needs an argument: --pidfile'],
  [['--mtu', 'abc'], 'invalid argument "abc" for "--mtu" flag: strconv.ParseInt: parsing "abc": invalid syntax'],
  [['--iptables=maybe'], 'invalid argument "maybe" for "--iptables" flag: strconv.ParseBool: parsing "maybe": invalid syntax'],
];
for (const [argv, message] of usageErrors) {
  test(`usage error: ${argv.join(' ')}`, (t) => {
    const err = t.throws(() => loadConfig([...noFile, ...argv], {}));
    t.true(err instanceof UsageError);
    t.is(err?.message, message);
  });
}

const configErrors: Array<[string[], string | RegExp]> = [
  [['--bip', 'notacidr'], 'invalid argument "notacidr" for "--bip" flag: invalid CIDR address: notacidr'],
  [['--bip', '10.0.0.1/33'], 'invalid argument "10.0.0.1/33" for "--bip" flag: invalid CIDR address: 10.0.0.1/33'],
  [['--fixed-cidr', 'nope'], 'invalid argument "nope" for "--fixed-cidr" flag: invalid CIDR address: nope'],
  [['--bip', '10.1.0.1/16', '--fixed-cidr', '10.2.0.0/24'], "--fixed-cidr 10.2.0.0/24 is not inside --bip 10.1.0.1/16: the containers' address pool must be part of the bridge's subnet"],
  [['--bip', '10.1.0.1/16', '-b', 'br0'], 'You specified -b & --bip, mutually exclusive options. Please specify only one'],
  [['--mtu', '70000'], 'invalid argument "70000" for "--mtu" flag: MTU must be between 68 and 65535 (0 means 1500)'],
  [['--mtu', '-1'], 'invalid argument "-1" for "--mtu" flag: MTU must be between 68 and 65535 (0 means 1500)'],
  [['--mtu', '67'], /MTU must be between 68 and 65535/],
  [['-s', 'bogus'], 'failed to start daemon: error initializing graphdriver: driver not supported: bogus (berth has overlay2, overlay, vfs)'],
  [['--default-runtime', 'bogus'], "specified default runtime 'bogus' does not exist"],
  [['--ip', 'notanip'], 'invalid argument "notanip" for "--ip" flag: notanip is not an ip address'],
  [['--dns', '1.2.3'], 'invalid argument "1.2.3" for "--dns" flag: 1.2.3 is not an ip address'],
  [['--dns-search', 'a..b'], 'invalid argument "a..b" for "--dns-search" flag: a..b is not a valid domain'],
  [['--log-level', 'bogus'], 'unable to parse logging level: bogus'],
  [['-H', 'foo://bar'], 'invalid argument "foo://bar" for "-H, --host" flag: Invalid bind address format: foo://bar'],
  [['-H', 'tcp://127.0.0.1:notaport'], 'invalid argument "tcp://127.0.0.1:notaport" for "-H, --host" flag: invalid port "notaport"'],
  [['-H', 'fd://'], /socket activation/],
  [['-H', 'tcp://0.0.0.0:2375'], /^refusing to listen on tcp:\/\/0\.0\.0\.0:2375 without --tlsverify: anyone who can reach that address would get root on this host/],
  [['-H', 'tcp://0.0.0.0:2375', '--tls'], /^failed to create API server: --tls needs --tlscert, --tlskey/],
  [['--tlsverify', '--tlscacert', '/nonexistent/ca.pem', '--tlscert', '/nonexistent/c.pem', '--tlskey', '/nonexistent/k.pem'], 'failed to create API server: --tlscacert /nonexistent/ca.pem: no such file or directory'],
  [['-G', 'no-such-group-berth'], 'failed to load listeners: group no-such-group-berth not found'],
  [['--registry-mirror', 'ftp://x'], /invalid mirror/],
  [['--storage-opt', 'novalue'], 'invalid argument "novalue" for "--storage-opt" flag: expected key=value'],
];
for (const [argv, message] of configErrors) {
  test(`config error: ${argv.join(' ')}`, (t) => {
    const err = t.throws(() => loadConfig([...noFile, ...argv], { DOCKER_CERT_PATH: '/nonexistent' }));
    t.true(err instanceof ConfigError, String(err));
    if (typeof message === 'string') t.is(err?.message, message);
    else t.regex(err?.message ?? '', message);
  });
}

test('-H forms: unix:// defaults the path, tcp:// defaults the port (2376 with TLS), loopback detection', (t) => {
  t.is(parseHost('unix://', false).addr, '/run/berth/berth.sock');
  t.is(parseHost('tcp://127.0.0.1', false).addr, '127.0.0.1:2375');
  t.is(parseHost('tcp://127.0.0.1', true).addr, '127.0.0.1:2376');
  t.is(parseHost('tcp://:4243', false).addr, '127.0.0.1:4243');
  t.is(parseHost('tcp://[::1]:4243', false).addr, '[::1]:4243');
  t.true(isLoopback('127.0.0.1:2375'));
  t.true(isLoopback('[::1]:2375'));
  t.true(isLoopback('localhost:2375'));
  t.false(isLoopback('0.0.0.0:2375'));
  t.false(isLoopback('10.0.0.1:2375'));
});

test('daemon.json: dockerd keys are read; flags and file together are merged', (t) => {
  withFile('{"debug": true, "dns": ["9.9.9.9"], "storage-driver": "vfs", "hosts": ["unix:///tmp/j.sock"]}', (p) => {
    const inv = loadConfig(['--config-file', p, '--mtu', '1400'], {});
    if (inv.kind !== 'run') return t.fail();
    t.true(inv.config.debug);
    t.deepEqual(inv.config.dns, ['9.9.9.9']);
    t.is(inv.config.storageDriver, 'vfs');
    t.is(inv.config.hosts[0]!.addr, '/tmp/j.sock');
    t.is(inv.config.mtu, 1400);
  });
});

test('daemon.json: a key given as flag and in the file is an error naming it (as dockerd)', (t) => {
  withFile('{"debug": true, "hosts": ["unix:///tmp/b.sock"]}', (p) => {
    const err = t.throws(() => loadConfig(['--config-file', p, '--debug', '-H', 'unix:///tmp/a.sock'], {}));
    t.is(
      err?.message,
      `unable to configure the daemon with file ${p}: the following directives are specified both as a flag and in the configuration file: debug: (from flag: true, from file: true), hosts: (from flag: [unix:///tmp/a.sock], from file: [unix:///tmp/b.sock])`,
    );
  });
});

test('daemon.json: a syntax error says the line and column', (t) => {
  withFile('{\n  "debug": true,\n  "dns" ["1.1.1.1"]\n}\n', (p) => {
    const err = t.throws(() => loadConfig(['--config-file', p], {}));
    t.true(err instanceof ConfigError);
    t.is(err?.message, `unable to configure the daemon with file ${p}: invalid JSON: invalid character after object key (expecting ':'): "[" at line 3, column 9`);
  });
});

test('daemon.json: unknown keys and wrong types are refused', (t) => {
  withFile('{"foo": 1, "bar": 2}', (p) => {
    t.is(t.throws(() => loadConfig(['--config-file', p], {}))?.message, `unable to configure the daemon with file ${p}: the following directives don't match any configuration option: bar, foo`);
  });
  withFile('{"debug": "yes"}', (p) => {
    t.is(t.throws(() => loadConfig(['--config-file', p], {}))?.message, `unable to configure the daemon with file ${p}: invalid value for "debug": expected a boolean, got a string`);
  });
  withFile('[1]', (p) => {
    t.regex(t.throws(() => loadConfig(['--config-file', p], {}))?.message ?? '', /must hold a JSON object/);
  });
});

test('daemon.json: a named file that is missing is an error; the default one is optional', (t) => {
  t.is(
    t.throws(() => loadConfig(['--config-file', '/nonexistent/daemon.json'], {}))?.message,
    'unable to configure the daemon with file /nonexistent/daemon.json: open /nonexistent/daemon.json: no such file or directory',
  );
  t.is(loadConfig([], {}).kind, 'run');
});

test('the binary: leftover arguments print usage on stderr and exit 2', async (t) => {
  const r = await runBerthd(['extra']);
  t.is(r.code, 2);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^"berthd" accepts no argument\(s\)\.\nSee 'berthd --help'\.\n\nUsage:  berthd \[OPTIONS\]/);
});

test('the binary: an unknown flag exits 2 and points at --help', async (t) => {
  const r = await runBerthd(['--foo']);
  t.is(r.code, 2);
  t.is(r.stderr, "unknown flag: --foo\nSee 'berthd --help'.\n");
});

test('the binary: a configuration problem exits 1 with the message, creating nothing', async (t) => {
  const dir = mkdtempSync('/tmp/btc-');
  try {
    const r = await runBerthd(['--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '-p', join(dir, 'pid'), '--mtu', '70000']);
    t.is(r.code, 1);
    t.is(r.stderr, 'invalid argument "70000" for "--mtu" flag: MTU must be between 68 and 65535 (0 means 1500)\n');
    t.false(existsSync(join(dir, 'root')));
    t.false(existsSync(join(dir, 'exec')));
    t.false(existsSync(join(dir, 'pid')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the binary: --help and --version', async (t) => {
  const help = await runBerthd(['--help']);
  t.is(help.code, 0);
  for (const flag of ['--pidfile', '--data-root', '--dns-search', '--registry-mirror', '--ip-masq', '--fixed-cidr', '--storage-opt', '--default-runtime', '--selinux-enabled', '--tlsverify', '--api-cors-header', '--debug-failpoints']) {
    t.true(help.stdout.includes(flag), flag);
  }
  const v = await runBerthd(['-v']);
  t.is(v.code, 0);
  t.regex(v.stdout, /^berth version \d+\.\d+\.\d+, build \S+\n$/);
});
