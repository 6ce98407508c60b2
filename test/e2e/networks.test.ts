/**
 * Networking with the docker CLI against a berthd that has its default bridge (berth0): an
 * address on the bridge, published ports reached from the host's loopback, port conflicts in
 * dockerd's words, user-defined networks with names resolved by the embedded DNS server,
 * isolation between networks, connect/disconnect, and a berthd killed with -9 and restarted
 * keeping addresses, ports and names working. The host is checked before and after: no
 * bridge, veth, namespace or iptables rule of berth's is left.
 *
 * Traffic goes only to 127.0.0.1 and to the containers these tests create.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { get } from 'node:http';
import { startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';

let b: Berthd | null = null;
let work: string;
let dir: string;
/** A free-looking port range of this run, so a port in use on the host does not spoil it. */
const PORT = 20000 + Math.floor(Math.random() * 20000);

interface HostNet {
  links: string[];
  rules: string[];
}

/** What of berth's the host has: its links (berth0, br-*, veth*) and its iptables rules. */
function hostNet(): HostNet {
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString().split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => n === 'berth0' || n.startsWith('br-') || n.startsWith('veth'));
  const rules = execFileSync('iptables-save').toString().split('\n').filter((l) => l.includes('BERTH'));
  return { links, rules };
}

let before: HostNet;

function fetchText(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: '/', timeout: 3_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

const ok = async (args: string[]) => {
  const r = await b!.docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const inspect = async (name: string) => JSON.parse(await ok(['inspect', name]))[0];
const web = (text: string) => ['sh', '-c', `mkdir /www && echo ${text} > /www/index.html && exec httpd -f -p 8080 -h /www`];

test.before(async () => {
  before = hostNet();
  if (before.links.includes('berth0')) throw new Error('berth0 exists already: another berthd runs on this host; these tests need the default bridge to themselves');
  work = tempDir('btn-');
  dir = tempDir('bt-');
  b = await startBerthd({ dir, network: true, args: ['--shutdown-timeout', '2'] });
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) {
    const ids = (await b.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await b.docker(['rm', '-f', ...ids]);
    await b.docker(['network', 'prune', '-f']);
    await b.stop();
  }
  if (dir) removeDir(dir);
  if (work) removeDir(work);
});

test.serial('the default bridge: berth0 with a private /16, and a container on it with eth0, its route and its name', async (t) => {
  const net = JSON.parse(await ok(['network', 'inspect', 'bridge']))[0];
  t.is(net.Driver, 'bridge');
  t.is(net.Options['com.docker.network.bridge.name'], 'berth0');
  const subnet: string = net.IPAM.Config[0].Subnet;
  t.regex(subnet, /^(172\.(1[7-9]|2\d|3[01])\.0\.0\/16|192\.168\.\d+\.0\/20)$/);
  const out = await ok(['run', '--rm', '--hostname', 'h1', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0; ip route; tail -1 /etc/hosts; cat /sys/class/net/eth0/address']);
  const [addr, route, , hosts, mac] = out.trim().split('\n');
  const m = /inet (\d+\.\d+\.\d+\.\d+)\/16/.exec(addr!);
  t.truthy(m, addr);
  const ip = m![1]!;
  t.is(ip.split('.').slice(0, 2).join('.'), subnet.split('.').slice(0, 2).join('.'));
  t.regex(route!, new RegExp(`^default via ${subnet.split('.').slice(0, 3).join('.')}.1 dev eth0`));
  t.is(hosts, `${ip}\th1`);
  t.is(mac, `02:42:${ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join(':')}`, 'dockerd\'s MAC: 02:42 and the address');
  t.is(await ok(['run', '--rm', '--network', 'none', 'busybox', 'ls', '/sys/class/net']), 'lo\n');
});

test.serial('docker stats of a container on the bridge has its eth0 counters (networks), as dockerd', async (t) => {
  await ok(['run', '-d', '--name', 'netstats', 'busybox', 'sleep', '300']);
  // Some traffic of its own: pings to its gateway.
  const gw = (await inspect('netstats')).NetworkSettings.Networks.bridge.Gateway;
  await ok(['exec', 'netstats', 'ping', '-c', '3', '-W', '1', gw]);
  const r = await b!.request('GET', '/containers/netstats/stats?stream=false&one-shot=true');
  const doc = r.json<{ networks: Record<string, Record<string, number>> }>();
  t.deepEqual(Object.keys(doc.networks), ['eth0']);
  t.deepEqual(Object.keys(doc.networks.eth0!), ['rx_bytes', 'rx_packets', 'rx_errors', 'rx_dropped', 'tx_bytes', 'tx_packets', 'tx_errors', 'tx_dropped']);
  t.true(doc.networks.eth0!.tx_packets! >= 3);
  t.true(doc.networks.eth0!.rx_bytes! > 0);
  t.regex(await ok(['stats', '--no-stream', '--format', '{{.NetIO}}', 'netstats']), /^[\d.]+k?B \/ [\d.]+k?B\n$/);
  await ok(['rm', '-f', 'netstats']);
});

test.serial('-p publishes on the host: 127.0.0.1 and all addresses, docker port, inspect, and dockerd\'s conflict message', async (t) => {
  await ok(['run', '-d', '--name', 'web1', '-p', `127.0.0.1:${PORT}:8080`, 'busybox', ...web('hello-one')]);
  await ok(['run', '-d', '--name', 'web2', '-p', `${PORT + 1}:8080`, 'busybox', ...web('hello-two')]);
  t.true(await waitFor(async () => (await fetchText(PORT).catch(() => '')) === 'hello-one\n', 10_000));
  t.is(await fetchText(PORT + 1), 'hello-two\n', 'a port on every address answers on loopback too');
  t.is(await ok(['port', 'web1']), `8080/tcp -> 127.0.0.1:${PORT}\n`);
  const ns = (await inspect('web1')).NetworkSettings;
  t.deepEqual(ns.Ports, { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(PORT) }] });
  t.regex(ns.IPAddress, /^\d+\.\d+\.\d+\.\d+$/);
  t.is(ns.Networks.bridge.IPAddress, ns.IPAddress);
  t.regex(await ok(['ps', '--format', '{{.Names}} {{.Ports}}']), new RegExp(`^web1 127\\.0\\.0\\.1:${PORT}->8080/tcp$`, 'm'));
  // From a container, through the host's address on the bridge (no proxy process: the kernel's DNAT).
  const gw = JSON.parse(await ok(['network', 'inspect', 'bridge']))[0].IPAM.Config[0].Subnet.replace(/\.0\/16$/, '.1');
  t.regex(await ok(['run', '--rm', 'busybox', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${gw} ${PORT + 1}`]), /hello-two/);

  const clash = await b!.docker(['run', '-d', '--name', 'clash', '-p', `127.0.0.1:${PORT}:80`, 'busybox', 'true']);
  t.is(clash.code, 125);
  t.regex(clash.stderr, new RegExp(`docker: Error response from daemon: driver failed programming external connectivity on endpoint clash \\([0-9a-f]{64}\\): Bind for 127\\.0\\.0\\.1:${PORT} failed: port is already allocated\\.?\\n`));
  const st = (await inspect('clash')).State;
  t.is(st.Status, 'created');
  t.is(st.ExitCode, 128);
  await ok(['rm', '-f', 'web1', 'web2', 'clash']);
  await t.throwsAsync(fetchText(PORT), undefined, 'the port is closed with the container');
});

test.serial('-P publishes every exposed port on an ephemeral host port', async (t) => {
  const tar = `${work}/busybox.tar`;
  await ok(['import', '--change', 'CMD ["sh"]', '--change', 'EXPOSE 8080', tar, 'exposing:1']);
  await ok(['run', '-d', '--name', 'pub', '-P', 'exposing:1', ...web('ephemeral')]);
  const ports = (await inspect('pub')).NetworkSettings.Ports['8080/tcp'];
  t.is(ports.length, 1);
  t.is(ports[0].HostIp, '0.0.0.0');
  const hostPort = Number(ports[0].HostPort);
  t.true(hostPort >= 32768 && hostPort <= 60999, String(hostPort));
  t.true(await waitFor(async () => (await fetchText(hostPort).catch(() => '')) === 'ephemeral\n', 10_000));
  await ok(['rm', '-f', 'pub']);
});

test.serial('a user-defined network: containers reach each other by address, name and alias; other networks cannot reach them', async (t) => {
  const id = (await ok(['network', 'create', 'net1'])).trim();
  t.regex(id, /^[0-9a-f]{64}$/);
  await ok(['network', 'create', '--subnet', '10.213.77.0/24', '--gateway', '10.213.77.1', 'net2']);
  const taken = await b!.docker(['network', 'create', '-o', 'com.docker.network.bridge.name=lo', 'netlo']);
  t.is(taken.stderr, 'Error response from daemon: existing interface lo is not a bridge\n', 'a network never takes over a host interface');
  const dup = await b!.docker(['network', 'create', 'net1']);
  t.is(dup.stderr, 'Error response from daemon: network with name net1 already exists\n');
  await ok(['run', '-d', '--name', 'srv', '--network', 'net1', '--network-alias', 'db', 'busybox', 'sleep', '300']);
  const srv = await inspect('srv');
  const ip = srv.NetworkSettings.Networks.net1.IPAddress;
  t.deepEqual(srv.NetworkSettings.Networks.net1.Aliases, ['db', srv.Id.slice(0, 12)]);
  t.is(srv.NetworkSettings.IPAddress, '', 'the top-level address is the default bridge\'s only');
  const out = await ok(['run', '--rm', '--network', 'net1', 'busybox', 'sh', '-c', `ping -c1 -W2 ${ip} >/dev/null && echo ip-ok; ping -c1 -W2 srv | head -1; ping -c1 -W2 db | head -1; ping -c1 -W2 SRV.net1 | head -1; cat /etc/resolv.conf`]);
  t.regex(out, /^ip-ok$/m);
  t.regex(out, new RegExp(`^PING srv \\(${ip.replace(/\./g, '\\.')}\\)`, 'm'));
  t.regex(out, new RegExp(`^PING db \\(${ip.replace(/\./g, '\\.')}\\)`, 'm'));
  t.regex(out, new RegExp(`^PING SRV\\.net1 \\(${ip.replace(/\./g, '\\.')}\\)`, 'm'));
  t.regex(out, /nameserver 127\.0\.0\.11\noptions ndots:0\n$/);
  const isolated = await b!.docker(['run', '--rm', '--network', 'net2', 'busybox', 'ping', '-c1', '-W1', ip]);
  t.not(isolated.code, 0, 'net2 cannot reach net1');
  const plain = await b!.docker(['run', '--rm', 'busybox', 'ping', '-c1', '-W1', 'srv']);
  t.regex(plain.stderr + plain.stdout, /bad address 'srv'/, 'no names on the default bridge');

  const rm = await b!.docker(['network', 'rm', 'net1']);
  t.regex(rm.stderr, new RegExp(`Error response from daemon: error while removing network: network net1 id ${id} has active endpoints`));
  const netDoc = JSON.parse(await ok(['network', 'inspect', 'net1']))[0];
  t.deepEqual(Object.keys(netDoc.Containers), [srv.Id]);
  t.is(netDoc.Containers[srv.Id].IPv4Address, `${ip}/16`);

  // A default-bridge container connected to net1 gets its line in hosts and the embedded DNS.
  await ok(['run', '-d', '--name', 'late', '--add-host', 'gw:host-gateway', 'busybox', 'sleep', '300']);
  await ok(['network', 'connect', 'net1', 'late']);
  const lateIp = (await inspect('late')).NetworkSettings.Networks.net1.IPAddress;
  const files = readFileSync(`/proc/${(await inspect('late')).State.Pid}/root/etc/hosts`, 'utf8') + readFileSync(`/proc/${(await inspect('late')).State.Pid}/root/etc/resolv.conf`, 'utf8');
  t.regex(files, new RegExp(`^${lateIp.replace(/\./g, '\\.')}\t[0-9a-f]{12}$`, 'm'));
  t.regex(files, /^\d+\.\d+\.\d+\.1\tgw$/m, 'host-gateway is the default bridge\'s address');
  t.regex(files, /^nameserver 127\.0\.0\.11$/m);
  await ok(['rm', '-f', 'late']);

  // connect and disconnect a running container
  await ok(['network', 'connect', 'net2', 'srv']);
  const two = (await inspect('srv')).NetworkSettings.Networks;
  t.regex(two.net2.IPAddress, /^10\.213\.77\.\d+$/);
  await ok(['network', 'disconnect', 'net2', 'srv']);
  t.deepEqual(Object.keys((await inspect('srv')).NetworkSettings.Networks), ['net1']);
  await ok(['rm', '-f', 'srv']);
  t.is(await ok(['network', 'rm', 'net1', 'net2']), 'net1\nnet2\n');
});

test.serial('--network container:<name> shares another container\'s namespace: same address, same interfaces', async (t) => {
  await ok(['run', '-d', '--name', 'owner', 'busybox', 'sleep', '300']);
  const ip = (await inspect('owner')).NetworkSettings.IPAddress;
  const out = await ok(['run', '--rm', '--network', 'container:owner', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0; hostname']);
  t.regex(out, new RegExp(`\\n${(await inspect('owner')).Config.Hostname}\\n$`), 'the other container\'s hostname');
  t.regex(out, new RegExp(`inet ${ip.replace(/\./g, '\\.')}/16`));
  const clash = await b!.docker(['run', '--rm', '--network', 'container:owner', '-p', '80:80', 'busybox', 'true']);
  t.regex(clash.stderr, /conflicting options: port publishing and the container type network mode/);
  await ok(['rm', '-f', 'owner']);
});

test.serial('legacy --link on the default bridge: a hosts line and the <ALIAS>_PORT variables, as dockerd', async (t) => {
  const tar = `${work}/busybox.tar`;
  await ok(['import', '--change', 'CMD ["sh"]', '--change', 'EXPOSE 8080', '--change', 'ENV GREETING=hi', tar, 'linkable:1']);
  const target = (await ok(['run', '-d', '--name', 'ltarget', 'linkable:1', 'sleep', '300'])).trim();
  const ip = (await inspect('ltarget')).NetworkSettings.IPAddress;
  const out = await ok(['run', '--rm', '--name', 'linker', '--link', 'ltarget:la', 'busybox', 'sh', '-c', 'grep la /etc/hosts; env | grep ^LA_ | sort']);
  t.is(out, [
    `${ip}\tla ${target.slice(0, 12)} ltarget`,
    'LA_ENV_GREETING=hi',
    '/linker/la'.replace(/^/, 'LA_NAME='),
    `LA_PORT=tcp://${ip}:8080`,
    `LA_PORT_8080_TCP=tcp://${ip}:8080`,
    `LA_PORT_8080_TCP_ADDR=${ip}`,
    'LA_PORT_8080_TCP_PORT=8080',
    'LA_PORT_8080_TCP_PROTO=tcp',
    '',
  ].join('\n'));
  const missing = await b!.docker(['run', '--rm', '--link', 'nosuch:x', 'busybox', 'true']);
  t.regex(missing.stderr, /could not get container for nosuch: No such container: nosuch/);
  await ok(['rm', '-f', 'ltarget']);
});

test.serial('berthd killed with -9 and restarted: addresses, published ports and names keep working', async (t) => {
  await ok(['network', 'create', 'keep']);
  await ok(['run', '-d', '--name', 'kweb', '--network', 'keep', '-p', `127.0.0.1:${PORT + 2}:8080`, 'busybox', ...web('still-here')]);
  await ok(['run', '-d', '--name', 'kcli', '--network', 'keep', 'busybox', 'sleep', '300']);
  t.true(await waitFor(async () => (await fetchText(PORT + 2).catch(() => '')) === 'still-here\n', 10_000));
  const ip = (await inspect('kweb')).NetworkSettings.Networks.keep.IPAddress;
  process.kill(b!.pid, 'SIGKILL');
  await b!.exited;
  t.is(await fetchText(PORT + 2), 'still-here\n', 'the port works while no berthd runs (the kernel has the rules)');
  b = await startBerthd({ dir, network: true, args: ['--shutdown-timeout', '2'] });
  t.is((await inspect('kweb')).NetworkSettings.Networks.keep.IPAddress, ip);
  t.is(await fetchText(PORT + 2), 'still-here\n');
  // The embedded DNS server of kcli was berthd's: the new one serves it again.
  t.regex(await ok(['run', '--rm', '--network', 'keep', 'busybox', 'ping', '-c1', '-W2', 'kweb']), new RegExp(`\\(${ip.replace(/\./g, '\\.')}\\)`));
  await ok(['rm', '-f', 'kweb', 'kcli']);
  await ok(['network', 'rm', 'keep']);
});

test.serial('a clean stop leaves nothing of berth\'s on the host: no bridge, veth, namespace or rule', async (t) => {
  await ok(['network', 'create', 'last']);
  await ok(['run', '-d', '--network', 'last', '-p', `${PORT + 3}:8080`, 'busybox', 'sleep', '300']);
  const l = leftovers(b!);
  t.is(l.mounts.length > 0, true, 'a container runs (its mounts are there) before the stop');
  await b!.stop();
  b = null;
  const after = hostNet();
  t.deepEqual(after.links.filter((x) => !before.links.includes(x)), []);
  t.deepEqual(after.rules.filter((x) => !before.rules.includes(x)), []);
  t.false(existsSync(`${dir}/exec/netns`) && readdirSync(`${dir}/exec/netns`).length > 0, 'no network namespace left');
});
