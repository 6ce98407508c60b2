/**
 * docker run and the container lifecycle, with the real docker CLI against a real berthd
 * running busybox under runc and conmon, and the answers dockerd 20.10 gives
 * (test/fixtures/dockerd-20.10/containers): output, exit codes, the run options, stdin, a
 * terminal, logs, attach, stop/kill/restart/wait, rm, rename, prune, inspect and events.
 * The suite ends by checking that nothing is left: no mount, conmon, runc state or bundle.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, inPty, leftovers } from '../helpers/containers.js';
import { busyboxRootfs, diskState, removeDir } from '../helpers/images.js';

let b: Berthd;
let work: string;

test.before(async () => {
  work = tempDir('btc-');
  b = await startBerthd();
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) {
    await b.docker(['rm', '-f', ...(await b.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean)]);
    await b.stop();
  }
  if (work) removeDir(work);
});

const ok = async (args: string[], opts: { timeoutMs?: number } = {}) => {
  const r = await b.docker(args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const inspect = async (name: string) => JSON.parse(await ok(['inspect', name]))[0];
const USAGE = "\n\nRun 'docker run --help' for more information\n";

test.serial('docker run --rm echo hi prints hi, exits 0 and leaves no container', async (t) => {
  const r = await b.docker(['run', '--rm', 'busybox', 'echo', 'hi']);
  t.is(r.stdout, 'hi\n');
  t.is(r.stderr, '');
  t.is(r.code, 0);
  t.is((await ok(['ps', '-aq'])).trim(), '');
});

test.serial('exit codes propagate: sh -c "exit 42" is 42', async (t) => {
  const r = await b.docker(['run', '--rm', 'busybox', 'sh', '-c', 'exit 42']);
  t.is(r.code, 42);
});

test.serial('a missing binary is 127 and dockerd\'s message; a non-executable file is 126', async (t) => {
  const missing = await b.docker(['run', '--rm', 'busybox', 'nosuchbinary']);
  t.is(missing.code, 127);
  t.is(missing.stderr, 'docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuchbinary": executable file not found in $PATH: unknown' + USAGE);
  const abs = await b.docker(['run', '--rm', 'busybox', '/nosuch/bin']);
  t.is(abs.code, 127);
  t.regex(abs.stderr, /no such file or directory: unknown/);
  const perm = await b.docker(['run', '--rm', 'busybox', '/etc/passwd']);
  t.is(perm.code, 126);
  t.regex(perm.stderr, /exec: "\/etc\/passwd": permission denied: unknown/);
  t.is((await ok(['ps', '-aq'])).trim(), '', '--rm removes a container whose start failed');

  // Without --rm the container stays, created, with the exit code and the error.
  const kept = await b.docker(['run', '--name', 'startfailed', 'busybox', 'nosuchbinary']);
  t.is(kept.code, 127);
  const st = (await inspect('startfailed')).State;
  t.is(st.Status, 'created');
  t.is(st.ExitCode, 127);
  t.regex(st.Error, /executable file not found in \$PATH/);
  const wait = await b.request('POST', '/containers/startfailed/wait');
  t.is(wait.body, `{"Error":{"Message":${JSON.stringify(st.Error)}},"StatusCode":127}\n`);
  await ok(['rm', 'startfailed']);
});

test.serial('-e, -w, -u, --hostname, --entrypoint and the default environment', async (t) => {
  const env = await ok(['run', '--rm', '-e', 'A=1', '-e', 'UNSET_IN_CLIENT', 'busybox', 'sh', '-c', 'env | sort']);
  t.regex(env, /^A=1$/m);
  t.regex(env, /^HOME=\/root$/m);
  t.regex(env, /^HOSTNAME=[0-9a-f]{12}$/m);
  t.regex(env, /^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
  t.notRegex(env, /UNSET_IN_CLIENT/);
  t.is(await ok(['run', '--rm', '-w', '/new/dir', 'busybox', 'pwd']), '/new/dir\n', 'a missing working directory is created');
  t.is(await ok(['run', '--rm', '-u', 'nobody', 'busybox', 'id']), 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n');
  t.is(await ok(['run', '--rm', '-u', '1000:1000', 'busybox', 'id']), 'uid=1000 gid=1000 groups=1000\n');
  const user = await b.docker(['run', '--rm', '-u', 'nosuchuser', 'busybox', 'id']);
  t.is(user.code, 125);
  t.is(user.stderr, 'docker: Error response from daemon: unable to find user nosuchuser: no matching entries in passwd file' + USAGE);
  const host = await ok(['run', '--rm', '--hostname', 'h1', 'busybox', 'sh', '-c', 'hostname; cat /etc/hostname; head -1 /etc/hosts']);
  t.is(host, 'h1\nh1\n127.0.0.1\tlocalhost\n');
  t.is(await ok(['run', '--rm', '--entrypoint', '/bin/echo', 'busybox', 'a', 'b']), 'a b\n');
  t.is(await ok(['run', '--rm', '--entrypoint', '', 'busybox', 'echo', 'e']), 'e\n');
});

test.serial('resources reach the cgroup (v1 here); --shm-size, --read-only, --network none and host', async (t) => {
  const cg = await ok(['run', '--rm', '-m', '64m', '--pids-limit', '50', '--cpus', '0.5', '--cpu-shares', '512', 'busybox', 'sh', '-c',
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares']);
  t.is(cg, '67108864\n50\n50000\n512\n');
  t.regex(await ok(['run', '--rm', 'busybox', 'df', '-k', '/dev/shm']), /\s65536\s/, '64 MiB of /dev/shm by default');
  t.regex(await ok(['run', '--rm', '--shm-size', '128m', 'busybox', 'df', '-k', '/dev/shm']), /\s131072\s/);
  const ro = await b.docker(['run', '--rm', '--read-only', 'busybox', 'touch', '/x']);
  t.is(ro.code, 1);
  t.regex(ro.stderr, /Read-only file system/);
  t.is(await ok(['run', '--rm', 'busybox', 'sh', '-c', 'ls /sys/class/net']), 'lo\n', 'with networking off (-b none), the default is none: loopback only');
  t.is(await ok(['run', '--rm', '--network', 'host', 'busybox', 'hostname']), `${(await import('node:os')).hostname()}\n`);
  // dockerd's sysctls in a namespace of the container's own: any user may bind port 80.
  t.regex(await ok(['run', '--rm', '-u', 'nobody', 'busybox', 'sh', '-c', 'nc -l -p 80 & sleep 0.3; netstat -ltn; kill %1']), /:80\s/);
});

test.serial('capabilities as dockerd: the default set for root, none effective for other users, --cap-add/--cap-drop, --ulimit', async (t) => {
  const caps = (out: string) => Object.fromEntries(out.trim().split('\n').map((l) => l.split(':\t')));
  const root = caps(await ok(['run', '--rm', 'busybox', 'grep', 'Cap', '/proc/self/status']));
  t.deepEqual(root, { CapInh: '0000000000000000', CapPrm: '00000000a80425fb', CapEff: '00000000a80425fb', CapBnd: '00000000a80425fb', CapAmb: '0000000000000000' });
  const nobody = caps(await ok(['run', '--rm', '-u', 'nobody', 'busybox', 'grep', 'Cap', '/proc/self/status']));
  t.is(nobody.CapEff, '0000000000000000');
  t.is(nobody.CapBnd, '00000000a80425fb');
  // NET_ADMIN is bit 12, MKNOD bit 27.
  const tweaked = caps(await ok(['run', '--rm', '--cap-add', 'net_admin', '--cap-drop', 'MKNOD', 'busybox', 'grep', 'CapEff', '/proc/self/status']));
  t.is(tweaked.CapEff, ((0xa80425fbn | (1n << 12n)) & ~(1n << 27n)).toString(16).padStart(16, '0'));
  t.is(caps(await ok(['run', '--rm', '--cap-drop', 'ALL', 'busybox', 'grep', 'CapEff', '/proc/self/status'])).CapEff, '0000000000000000');
  const bad = await b.docker(['run', '--rm', '--cap-add', 'BOGUS', 'busybox', 'true']);
  t.is(bad.code, 125);
  t.regex(bad.stderr, /unknown capability: "CAP_BOGUS"/);
  t.is(await ok(['run', '--rm', '--ulimit', 'nofile=1024:2048', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn']), '1024\n2048\n');
  t.is(await ok(['run', '--rm', '-m', '64m', 'busybox', 'cat', '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes']), '134217728\n', 'swap: as much again as the memory limit');
  const ro = await b.docker(['run', '--rm', '--read-only', 'busybox', 'sh', '-c', 'echo x >> /etc/hosts']);
  t.not(ro.code, 0, '--read-only covers /etc/hosts too');
});

test.serial('--name: names are unique (409 with dockerd\'s message) and checked', async (t) => {
  const id = (await ok(['create', '--name', 'n1', 'busybox', 'echo', 'n1'])).trim();
  const dup = await b.docker(['create', '--name', 'n1', 'busybox']);
  t.is(dup.code, 1);
  t.is(dup.stderr, `Error response from daemon: Conflict. The container name "/n1" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.\n`);
  const bad = await b.docker(['create', '--name', 'bad name!', 'busybox']);
  t.is(bad.stderr, 'Error response from daemon: Invalid container name (bad name!), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n');
  const missing = await b.request('POST', '/containers/create', { body: '{"Image":"nosuch:1"}', headers: { 'Content-Type': 'application/json' } });
  t.is(missing.status, 404, 'the docker CLI pulls on this 404');
  t.is(missing.body, '{"message":"No such image: nosuch:1"}\n');
  await ok(['rm', 'n1']);
});

test.serial('-i with piped stdin reaches the container, and its end ends cat', async (t) => {
  const r = await run('docker', ['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], { env: { DOCKER_HOST: `unix://${b.socket}` }, input: 'line one\nline two\n' });
  t.is(r.stdout, 'line one\nline two\ndone\n');
  t.is(r.code, 0);
});

test.serial('stdout and stderr stay apart without a terminal, and merge into it with -t', async (t) => {
  const split = await b.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2']);
  t.is(split.stdout, 'out\n');
  t.is(split.stderr, 'err\n');
  const tty = await b.docker(['run', '--rm', '-t', 'busybox', 'sh', '-c', 'echo out; echo err >&2; tty']);
  t.is(tty.stdout, 'out\r\nerr\r\n/dev/pts/0\r\n');
});

test.serial('-it runs a shell on a pseudo-terminal of the client\'s size', async (t) => {
  const r = await inPty(b, "stty cols 100 rows 30; docker run --rm -it busybox sh -c 'sleep 0.3; stty size; exit 3'");
  t.regex(r.stdout, /30 100\r\n/);
  t.is(r.code, 3);
});

test.serial('-d then docker ps, logs (--tail, -t, -f), stop -t 1 is 137', async (t) => {
  const id = (await ok(['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 600 ]; do echo line $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done'])).trim();
  t.regex(id, /^[0-9a-f]{64}$/);
  const ps = await ok(['ps', '--format', '{{.ID}} {{.Names}} {{.Command}} {{.Status}}']);
  t.regex(ps, new RegExp(`^${id.slice(0, 12)} ticker "sh -c 'i=0; while .*…" Up `, 'm'));
  t.true(await waitFor(async () => (await b.docker(['logs', 'ticker'])).stdout.includes('line 3'), 10_000));
  // --tail counts the entries of both streams together.
  const tail = await b.docker(['logs', '--tail', '2', 'ticker']);
  t.regex(tail.stdout, /^line \d+\n$/);
  t.regex(tail.stderr, /^err \d+\n$/);
  t.is(tail.stdout.slice(5), tail.stderr.slice(4), 'the last line of each');
  const ts = await b.docker(['logs', '-t', '--tail', '1', 'ticker']);
  t.regex(ts.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z err \d+\n$/);
  // -f follows until the client stops it: lines written after it started arrive.
  const follow = await run('timeout', ['1.5', 'docker', 'logs', '-f', '--tail', '0', 'ticker'], { env: { DOCKER_HOST: `unix://${b.socket}` } });
  t.true(follow.stdout.split('\n').filter(Boolean).length >= 5, follow.stdout);

  // The json-file log, in dockerd's format, where log shippers look for it.
  const logPath = (await inspect('ticker')).LogPath;
  t.is(logPath, join(b.dataRoot, 'containers', id, `${id}-json.log`));
  const first = JSON.parse(readFileSync(logPath, 'utf8').split('\n')[0]!);
  t.deepEqual(Object.keys(first), ['log', 'stream', 'time']);
  t.is(first.log, 'line 0\n');
  t.is(first.stream, 'stdout');

  const t0 = Date.now();
  const stop = await b.docker(['stop', '-t', '1', 'ticker']);
  t.is(stop.stdout, 'ticker\n');
  t.true(Date.now() - t0 >= 900, 'sh ignores SIGTERM as pid 1: stop waits its timeout, then kills');
  const st = (await inspect('ticker')).State;
  t.is(st.Status, 'exited');
  t.is(st.ExitCode, 137);
  t.false(st.Running);
  t.not(st.FinishedAt, '0001-01-01T00:00:00Z');
  t.is((await b.docker(['stop', 'ticker'])).code, 0, 'stopping a stopped container is a 304, not an error');
  t.regex(await ok(['ps', '-a', '--filter', 'name=ticker', '--format', '{{.Status}}']), /^Exited \(137\) /);
  await ok(['rm', 'ticker']);
});

test.serial('the json-file log is written as dockerd writes it: Go escaping, trimmed times, 0640', async (t) => {
  const script = String.raw`printf 'tab\tquote" back\\ uni é <>&\n'; printf '\001\177\377\n'; printf abc`;
  const id = (await ok(['run', '-d', 'busybox', 'sh', '-c', script])).trim();
  await ok(['wait', id]);
  const path = (await inspect(id)).LogPath;
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  const fields = lines.map((l) => /^\{"log":(".*"),"stream":"stdout","time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d*[1-9])?Z)"\}$/.exec(l));
  t.true(fields.every(Boolean), lines.join('\n'));
  t.is(fields[0]![1], '"tab\\u0009quote\\" back\\\\ uni \u00e9 \\u003c\\u003e\\u0026\\n"');
  t.is(fields[1]![1], '"\\u0001\u007f\ufffd\\n"');
  t.is(fields[2]![1], '"abc"', 'a last line without a newline is logged when the stream closes');
  t.is((await import('node:fs')).statSync(path).mode & 0o777, 0o640);
  t.is(await ok(['logs', id]), 'tab\tquote" back\\ uni \u00e9 <>&\n\u0001\u007f\ufffd\nabc');
  await ok(['rm', id]);
});

test.serial('log entries are whole lines as dockerd cuts them: partial writes joined, 16 KiB at most, the unfinished line at the end', async (t) => {
  const id = (await ok(['run', '-d', 'busybox', 'sh', '-c', 'printf abc; sleep 0.3; echo def; head -c 20000 /dev/zero | tr "\\0" a; echo; printf xyz; echo two >&2'])).trim();
  await ok(['wait', id]);
  const entries = readFileSync((await inspect(id)).LogPath, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
  // Per stream: the two are separate pipes, their relative order is the reader's.
  const of = (stream: string) => entries.filter((e) => e.stream === stream).map((e) => (e.log.length > 20 ? `${e.log[0]}×${e.log.length}` : e.log));
  t.deepEqual(of('stdout'), ['abcdef\n', 'a×16384', 'a×3617', 'xyz']);
  t.deepEqual(of('stderr'), ['two\n']);
  t.is(entries[entries.length - 1]!.log, 'xyz', 'the unfinished line is written last, when the stream ends');
  const pieces = entries.filter((e) => e.log.startsWith('aaa'));
  t.is(pieces[0]!.time, pieces[1]!.time, 'the pieces of one line share its time');
  await ok(['rm', id]);
});

test.serial('docker kill is 137; kill of a stopped container is 409; a bad signal is 400', async (t) => {
  await ok(['run', '-d', '--name', 'victim', 'busybox', 'sleep', '300']);
  const bad = await b.docker(['kill', '-s', 'BOGUS', 'victim']);
  t.is(bad.stderr, 'Error response from daemon: Invalid signal: BOGUS\n');
  t.is(await ok(['kill', 'victim']), 'victim\n');
  t.is((await inspect('victim')).State.ExitCode, 137);
  const again = await b.docker(['kill', 'victim']);
  t.regex(again.stderr, /Cannot kill container: victim: Container [0-9a-f]{64} is not running/);
  const missing = await b.docker(['kill', 'nosuch']);
  t.regex(missing.stderr, /Cannot kill container: nosuch: No such container: nosuch/);
  await ok(['rm', 'victim']);
});

test.serial('docker restart, docker wait, and the restart count of a policy', async (t) => {
  await ok(['run', '-d', '--name', 'rs', 'busybox', 'sh', '-c', 'trap "exit 9" TERM; sleep 300 & wait']);
  const before = (await inspect('rs')).State;
  await ok(['restart', '-t', '5', 'rs']);
  const after = (await inspect('rs')).State;
  t.true(after.Running);
  t.not(after.StartedAt, before.StartedAt);
  t.not(after.Pid, before.Pid);
  const waiter = b.docker(['wait', 'rs']);
  await new Promise((r) => setTimeout(r, 300));
  await ok(['stop', 'rs']);
  const w = await waiter;
  t.is(w.stdout, '9\n', 'docker wait prints the exit code once the container stops');
  t.is((await ok(['wait', 'rs'])), '9\n', 'waiting on a stopped container answers at once');
  await ok(['rm', 'rs']);

  await ok(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 4']);
  t.true(await waitFor(async () => {
    const s = await inspect('flaky');
    return s.RestartCount === 2 && s.State.Status === 'exited';
  }, 15_000), 'on-failure:2 runs it three times, then leaves it exited');
  t.is((await inspect('flaky')).State.ExitCode, 4);
  await ok(['rm', 'flaky']);
});

test.serial('docker attach relays a running container\'s output until it exits', async (t) => {
  await ok(['run', '-d', '--name', 'att', 'busybox', 'sh', '-c', 'sleep 1; echo one; echo two >&2; exit 5']);
  const r = await b.docker(['attach', 'att']);
  t.is(r.stdout, 'one\n');
  t.is(r.stderr, 'two\n');
  t.is(r.code, 5);
  await ok(['rm', 'att']);
});

test.serial('docker rm: 409 while running, -f kills and removes; rename; container prune', async (t) => {
  const id = (await ok(['run', '-d', '--name', 'busy', 'busybox', 'sleep', '300'])).trim();
  const rm = await b.docker(['rm', 'busy']);
  t.is(rm.stderr, `Error response from daemon: You cannot remove a running container ${id}. Stop the container before attempting removal or force remove\n`);
  t.is(await ok(['rename', 'busy', 'busier']), '');
  t.is((await inspect(id)).Name, '/busier');
  const same = await b.docker(['rename', 'busier', 'busier']);
  t.regex(same.stderr, /Renaming a container with the same name as its current name/);
  t.is(await ok(['rm', '-f', 'busier']), 'busier\n');
  const gone = await b.docker(['inspect', id]);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /No such object|No such container/);

  const a = (await ok(['create', '--label', 'keep=no', 'busybox', 'true'])).trim();
  const k = (await ok(['create', '--label', 'keep=yes', 'busybox', 'true'])).trim();
  await ok(['start', k]);
  await ok(['wait', k]);
  const running = (await ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  const pruned = await ok(['container', 'prune', '-f', '--filter', 'label=keep=no']);
  t.regex(pruned, new RegExp(`Deleted Containers:\\n${a}\\n`));
  t.notRegex(pruned, new RegExp(k));
  const all = await ok(['container', 'prune', '-f']);
  t.regex(all, new RegExp(k));
  t.notRegex(all, new RegExp(running), 'prune keeps running containers');
  await ok(['rm', '-f', running]);
});

test.serial('an image in use by a container: rmi refuses, rmi -f of a stopped one\'s image keeps its layers until the container goes', async (t) => {
  // An image of its own layer (busybox plus a file), so that its layers are its alone.
  const dir = join(work, 'own');
  mkdirSync(dir);
  const root = busyboxRootfs(dir);
  writeFileSync(join(root, 'marker'), 'own layer\n');
  execFileSync('tar', ['-C', root, '--numeric-owner', '-cf', join(dir, 'own.tar'), '.']);
  const imageId = (await ok(['import', '--change', 'CMD ["sh"]', join(dir, 'own.tar'), 'own:1'])).trim();
  const before = diskState(b.dataRoot).layers.length;
  const stopped = (await ok(['create', '--name', 'user1', 'own:1', 'cat', '/marker'])).trim();
  const rmi = await b.docker(['rmi', 'own:1']);
  t.is(rmi.stderr, `Error response from daemon: conflict: unable to remove repository reference "own:1" (must force) - container ${stopped.slice(0, 12)} is using its referenced image ${imageId.slice(7, 19)}\n`);
  const running = (await ok(['run', '-d', 'own:1', 'sleep', '300'])).trim();
  const forced = await b.docker(['rmi', '-f', imageId]);
  t.regex(forced.stderr, new RegExp(`image is being used by running container ${running.slice(0, 12)}`));
  await ok(['rm', '-f', running]);
  // -f with only a stopped user: the image goes, its layers stay while the container needs them.
  t.is(await ok(['rmi', '-f', 'own:1']), `Untagged: own:1\nDeleted: ${imageId}\n`);
  t.is(diskState(b.dataRoot).layers.length, before);
  t.is(await ok(['start', '-a', 'user1']), 'own layer\n');
  await ok(['rm', 'user1']);
  t.is(diskState(b.dataRoot).layers.length, before - 1, 'the last user gone, the layer goes');
});

test.serial('docker exec: output, exit codes, -e/-w/-u, -i, -it at the client\'s size, -d, and exec inspect', async (t) => {
  await ok(['run', '-d', '--name', 'ex', 'busybox', 'sleep', '300']);
  t.is(await ok(['exec', 'ex', 'echo', 'hi']), 'hi\n');
  t.is((await b.docker(['exec', 'ex', 'sh', '-c', 'exit 3'])).code, 3);
  t.is(await ok(['exec', '-e', 'A=1', '-w', '/etc', '-u', 'nobody', 'ex', 'sh', '-c', 'echo $A; pwd; id']), '1\n/etc\nuid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n');
  const split = await b.docker(['exec', 'ex', 'sh', '-c', 'echo out; echo err >&2']);
  t.deepEqual([split.stdout, split.stderr], ['out\n', 'err\n']);
  const piped = await run('docker', ['exec', '-i', 'ex', 'sh', '-c', 'cat; echo end'], { env: { DOCKER_HOST: `unix://${b.socket}` }, input: 'in\n' });
  t.is(piped.stdout, 'in\nend\n');
  // A process that cannot start: dockerd's message as the stream's output, exit 126.
  const nobin = await b.docker(['exec', 'ex', 'nosuchbinary']);
  t.is(nobin.code, 126);
  t.is(nobin.stdout, 'OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchbinary": executable file not found in $PATH: unknown\r\n');
  const tty = await inPty(b, "stty cols 90 rows 20; docker exec -it ex sh -c 'tty; stty size'");
  t.regex(tty.stdout, /\/dev\/pts\/\d+\r\n20 90\r\n/);
  await ok(['exec', '-d', 'ex', 'sh', '-c', 'sleep 0.5; echo later > /etc/marker']);
  t.true(await waitFor(async () => (await b.docker(['exec', 'ex', 'cat', '/etc/marker'])).stdout === 'later\n', 10_000));
  // ExecIDs lists the live sessions; GET /exec/{id}/json has every session of the running container.
  await ok(['exec', '-d', 'ex', 'sleep', '2']);
  const ids = (await inspect('ex')).ExecIDs as string[];
  t.is(ids.length, 1);
  const created = (await b.request('POST', '/containers/ex/exec', { body: '{"Cmd":["sh","-c","exit 3"],"AttachStdout":true}', headers: { 'Content-Type': 'application/json' } })).json<{ Id: string }>().Id;
  await b.request('POST', `/exec/${created}/start`, { body: '{"Detach":false}', headers: { 'Content-Type': 'application/json' } });
  const one = JSON.parse((await b.request('GET', `/exec/${created}/json`)).body);
  t.deepEqual(Object.keys(one), ['ID', 'Running', 'ExitCode', 'ProcessConfig', 'OpenStdin', 'OpenStderr', 'OpenStdout', 'CanRemove', 'ContainerID', 'DetachKeys', 'Pid']);
  t.like(one, { ID: created, Running: false, ExitCode: 3, ProcessConfig: { entrypoint: 'sh', arguments: ['-c', 'exit 3'], tty: false, privileged: false }, ContainerID: (await inspect('ex')).Id, DetachKeys: '' });
  t.true(one.Pid > 0);
  const missing = await b.request('GET', '/exec/nosuch/json');
  t.deepEqual([missing.status, missing.json()], [404, { message: 'No such exec instance: nosuch' }]);
  await ok(['rm', '-f', 'ex']);
  const stopped = (await ok(['create', 'busybox', 'true'])).trim();
  const refused = await b.docker(['exec', stopped, 'true']);
  t.regex(refused.stderr, new RegExp(`Container ${stopped} is not running`));
  await ok(['rm', stopped]);
});

test.serial('docker inspect has the fields the CLI and docker-py read', async (t) => {
  await ok(['create', '--name', 'insp', '-e', 'A=1', '-w', '/tmp', '--label', 'l=v', '--stop-signal', 'SIGINT', '--stop-timeout', '5', 'busybox', 'echo', 'x']);
  const c = await inspect('insp');
  t.deepEqual(Object.keys(c), ['Id', 'Created', 'Path', 'Args', 'State', 'Image', 'ResolvConfPath', 'HostnamePath', 'HostsPath', 'LogPath', 'Name', 'RestartCount', 'Driver', 'Platform', 'MountLabel', 'ProcessLabel', 'AppArmorProfile', 'ExecIDs', 'HostConfig', 'GraphDriver', 'Mounts', 'Config', 'NetworkSettings']);
  t.is(c.Path, 'echo');
  t.deepEqual(c.Args, ['x']);
  t.deepEqual(c.State, { Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: '', StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z' });
  t.regex(c.Image, /^sha256:[0-9a-f]{64}$/);
  t.is(c.LogPath, '', 'paths are set when it first starts');
  t.is(c.Config.Image, 'busybox');
  t.deepEqual(c.Config.Env, ['A=1', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  t.is(c.Config.WorkingDir, '/tmp');
  t.deepEqual(c.Config.Labels, { l: 'v' });
  t.is(c.Config.StopSignal, 'SIGINT');
  t.is(c.Config.StopTimeout, 5);
  t.is(c.Config.Hostname, c.Id.slice(0, 12));
  t.is(c.HostConfig.ShmSize, 67108864);
  t.is(c.HostConfig.IpcMode, 'private');
  t.deepEqual(c.HostConfig.LogConfig, { Type: 'json-file', Config: {} });
  t.deepEqual(c.HostConfig.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  t.is(c.GraphDriver.Name, 'overlay2');
  t.regex(c.GraphDriver.Data.MergedDir, /\/merged$/);
  await ok(['start', 'insp']);
  await ok(['wait', 'insp']);
  const s = await inspect('insp');
  t.is(s.State.Status, 'exited');
  t.is(s.HostsPath, join(b.dataRoot, 'containers', s.Id, 'hosts'));
  t.regex(s.State.StartedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
  await ok(['rm', 'insp']);
});

test.serial('unimplemented options are refused, not ignored', async (t) => {
  const before = await ok(['ps', '-aq']);
  for (const args of [['--storage-opt', 'size=1G'], ['--gpus', 'all'], ['--log-driver', 'syslog']]) {
    const r = await b.docker(['run', '--rm', ...args, 'busybox', 'true']);
    t.is(r.code, 125, args.join(' '));
    t.regex(r.stderr, /berth does not implement/, args.join(' '));
  }
  t.is(await ok(['ps', '-aq']), before, 'and nothing is created');
});

test.serial('docker events shows the transitions of a run --rm, in dockerd\'s order', async (t) => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const id = (await ok(['create', '--rm', '--name', 'ev', '--label', 'l1=v1', 'busybox', 'sh', '-c', 'exit 3'])).trim();
  const r = await b.docker(['start', '-a', 'ev']);
  t.is(r.code, 3);
  t.true(await waitFor(async () => (await b.docker(['inspect', id])).code !== 0, 5_000));
  const until = Math.floor(Date.now() / 1000) + 1;
  const ev = (await ok(['events', '--since', String(since), '--until', String(until), '--filter', `container=${id}`, '--format', '{{json .}}']))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.deepEqual(ev.map((e) => e.Action), ['create', 'attach', 'start', 'die', 'destroy']);
  t.deepEqual(ev[3].Actor.Attributes, { exitCode: '3', image: 'busybox', l1: 'v1', name: 'ev' });
  t.is(ev[0].status, 'create');
  t.is(ev[0].from, 'busybox');
});

test.serial('nothing is left behind: no mount, conmon, runc state or bundle', async (t) => {
  await ok(['run', '-d', '--name', 'last', 'busybox', 'sleep', '300']);
  await ok(['rm', '-f', 'last']);
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 5_000), JSON.stringify(leftovers(b)));
});
