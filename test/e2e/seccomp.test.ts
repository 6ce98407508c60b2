/**
 * Seccomp as dockerd 20.10 applies it, with the real docker CLI against a real berthd: the
 * daemon's profile (the distribution's /usr/share/containers/seccomp.json, or
 * --seccomp-profile) on every container but privileged and seccomp=unconfined ones,
 * `--security-opt seccomp=<file>` (the CLI sends the file's content), the profile's rules by
 * the container's capabilities, `docker info`'s SecurityOptions, and dockerd's errors.
 *
 * The syscall it blocks: personality(PER_LINUX | ADDR_NO_RANDOMIZE), which needs no capability
 * and which both dockerd's default profile and containers-common's allow only for a few other
 * personas. busybox has no applet for it (its linux32/linux64 ask for allowed ones), so a tiny
 * static helper is compiled with gcc and bind-mounted.
 */
import test from 'ava';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, runBerthd, startBerthd, tempDir, waitFor, type Berthd } from '../helpers/berthd.js';
import { importBusybox, leftovers, stopWithContainers } from '../helpers/containers.js';
import { removeDir } from '../helpers/images.js';

const DISTRO = '/usr/share/containers/seccomp.json';
const USAGE = "\n\nRun 'docker run --help' for more information\n";

let b: Berthd;
let work: string;
let bin: string;

test.before(async () => {
  work = tempDir('bts-');
  bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(
    join(work, 'persona.c'),
    [
      '#include <errno.h>',
      '#include <stdio.h>',
      '#include <string.h>',
      '#include <sys/personality.h>',
      'int main(void) {',
      '  if (personality(PER_LINUX | ADDR_NO_RANDOMIZE) == -1) { printf("personality: %s\\n", strerror(errno)); return 1; }',
      '  printf("personality: ok\\n");',
      '  return 0;',
      '}',
      '',
    ].join('\n'),
  );
  const cc = await run('gcc', ['-static', '-O2', '-o', join(bin, 'persona'), join(work, 'persona.c')]);
  if (cc.code !== 0) throw new Error(`gcc failed: ${cc.stderr}`);
  b = await startBerthd();
  await importBusybox(b, work);
});

test.after.always(async () => {
  if (b) await stopWithContainers(b);
  if (work) removeDir(work);
});

const docker = (d: Berthd, args: string[]) => d.docker(args);
const ok = async (args: string[], d: Berthd = b) => {
  const r = await docker(d, args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const persona = (args: string[], d: Berthd = b) => docker(d, ['run', '--rm', '-v', `${bin}:/t:ro`, ...args, 'busybox', '/t/persona']);
const seccompMode = async (args: string[], d: Berthd = b) => /^Seccomp:\s*(\d)$/m.exec(await ok(['run', '--rm', ...args, 'busybox', 'cat', '/proc/self/status'], d))?.[1];
/** The distribution's profile with one more rule: personality allowed whatever its argument. */
const distroPlus = (extra: object[]) => {
  const p = JSON.parse(readFileSync(DISTRO, 'utf8')) as { syscalls: object[] };
  p.syscalls.push(...extra);
  return JSON.stringify(p, null, 2);
};

test.serial('the default profile: filter mode, docker info, and what it blocks (ENOSYS: containers-common\'s default errno)', async (t) => {
  if (!existsSync(DISTRO)) return t.fail(`${DISTRO} is missing: scripts/setup installs golang-github-containers-common`);
  t.deepEqual(JSON.parse(await ok(['info', '--format', '{{json .SecurityOptions}}'])), ['name=seccomp,profile=default']);
  t.regex(await ok(['info']), /Security Options:\n\s+seccomp\n\s+Profile: default\n/);
  t.notRegex(await ok(['info']), /No seccomp profile/);

  t.is(await seccompMode([]), '2');
  t.is(await seccompMode(['--security-opt', 'seccomp=unconfined']), '0');
  t.is(await seccompMode(['--privileged']), '0');
  t.is(await seccompMode(['--security-opt', 'seccomp=builtin']), '2');

  const blocked = await persona([]);
  t.is(blocked.code, 1);
  t.is(blocked.stdout, 'personality: Function not implemented\n');
  t.is((await persona(['--security-opt', 'seccomp=unconfined'])).stdout, 'personality: ok\n');
  t.is((await persona(['--privileged'])).stdout, 'personality: ok\n');
  // Capabilities do not lift it: the rule is not capability-gated.
  t.is((await persona(['--cap-add', 'SYS_ADMIN', '--cap-add', 'SYS_PTRACE'])).stdout, 'personality: Function not implemented\n');

  // Capability-gated rules follow the container's capabilities: sethostname needs CAP_SYS_ADMIN.
  const noAdmin = await docker(b, ['run', '--rm', 'busybox', 'hostname', 'h1']);
  t.not(noAdmin.code, 0);
  t.regex(noAdmin.stderr, /Operation not permitted/);
  t.is(await ok(['run', '--rm', '--cap-add', 'SYS_ADMIN', 'busybox', 'sh', '-c', 'hostname h1 && hostname']), 'h1\n');

  // An exec session runs under the container's filter.
  await ok(['run', '-d', '--name', 'sc-exec', 'busybox', 'sleep', '300']);
  t.regex(await ok(['exec', 'sc-exec', 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\t2/);
  await ok(['rm', '-f', 'sc-exec']);
});

test.serial('the default profile keeps dockerd\'s rules where containers-common is looser: no user or mount namespace, no keyctl, without CAP_SYS_ADMIN', async (t) => {
  const run = (args: string[], cmd: string) => b.docker(['run', '--rm', '--network', 'none', ...args, 'busybox', 'sh', '-c', cmd]);
  const plain = await run([], 'unshare -U true; echo userns=$?; unshare -m true; echo mntns=$?; (true &); wait; echo fork=$?');
  t.is(plain.stdout, 'userns=1\nmntns=1\nfork=0\n', plain.stderr);
  t.regex(plain.stderr, /unshare\(0x10000000\): Operation not permitted/);
  const admin = await run(['--cap-add', 'SYS_ADMIN'], 'unshare -U true; echo userns=$?');
  t.is(admin.stdout, 'userns=0\n', admin.stderr);
  const unconfined = await run(['--security-opt', 'seccomp=unconfined'], 'unshare -U true; echo userns=$?');
  t.is(unconfined.stdout, 'userns=0\n', 'without the filter the kernel allows it: the profile is what refuses it');
});

test.serial('--security-opt seccomp=<file>: the CLI sends its content, kept in HostConfig.SecurityOpt and applied', async (t) => {
  if (!existsSync(DISTRO)) return t.fail(`${DISTRO} is missing`);
  const allow = join(work, 'allow-personality.json');
  writeFileSync(allow, distroPlus([{ names: ['personality'], action: 'SCMP_ACT_ALLOW' }]));
  t.is((await persona(['--security-opt', `seccomp=${allow}`])).stdout, 'personality: ok\n');
  t.is(await seccompMode(['--security-opt', `seccomp=${allow}`]), '2');

  // errnoRet: mkdir refused with EACCES, everything else allowed.
  const deny = join(work, 'deny-mkdir.json');
  writeFileSync(deny, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }, null, 1));
  const mk = await docker(b, ['run', '--rm', '--security-opt', `seccomp=${deny}`, 'busybox', 'mkdir', '/x']);
  t.is(mk.code, 1);
  t.regex(mk.stderr, /Permission denied/);
  t.is((await persona(['--security-opt', `seccomp=${deny}`])).stdout, 'personality: ok\n');

  // inspect shows the option as dockerd: the profile's compacted JSON.
  await ok(['create', '--name', 'sc-insp', '--security-opt', `seccomp=${deny}`, '--security-opt', 'no-new-privileges', 'busybox', 'true']);
  const hc = JSON.parse(await ok(['inspect', 'sc-insp']))[0].HostConfig;
  t.deepEqual(hc.SecurityOpt, [`seccomp=${JSON.stringify(JSON.parse(readFileSync(deny, 'utf8')))}`, 'no-new-privileges']);
  t.is((await docker(b, ['start', '-a', 'sc-insp'])).code, 0);
  await ok(['rm', 'sc-insp']);
  // Beside --privileged no profile is applied at all, as dockerd.
  t.is(await seccompMode(['--privileged', '--security-opt', `seccomp=${deny}`]), '0');
  // Through the API as well.
  const api = await b.request('POST', '/containers/create?name=sc-api', {
    body: JSON.stringify({ Image: 'busybox', Cmd: ['mkdir', '/y'], HostConfig: { SecurityOpt: [`seccomp=${readFileSync(deny, 'utf8')}`] } }),
    headers: { 'Content-Type': 'application/json' },
  });
  t.is(api.status, 201);
  t.is((await docker(b, ['start', '-a', 'sc-api'])).code, 1);
  await ok(['rm', 'sc-api']);
});

test.serial('a bad profile: dockerd\'s errors (the CLI\'s for a file that is not JSON; the daemon\'s at start for one it cannot decode)', async (t) => {
  const notJson = join(work, 'not.json');
  writeFileSync(notJson, '{ nope');
  const cli = await docker(b, ['run', '--rm', '--security-opt', `seccomp=${notJson}`, 'busybox', 'true']);
  t.is(cli.code, 125);
  t.regex(cli.stderr, /compacting json for seccomp profile .* failed/);

  const wrong = join(work, 'wrong.json');
  writeFileSync(wrong, '{"defaultAction": 5, "syscalls": []}');
  const r = await docker(b, ['run', '--name', 'sc-bad', '--security-opt', `seccomp=${wrong}`, 'busybox', 'true']);
  t.not(r.code, 0);
  t.is(r.stderr, 'docker: Error response from daemon: Decoding seccomp profile failed: json: cannot unmarshal number into Go struct field Seccomp.defaultAction of type specs.LinuxSeccompAction' + USAGE);
  // Created, not started (dockerd decodes the profile at start).
  const st = JSON.parse(await ok(['inspect', 'sc-bad']))[0].State;
  t.is(st.Status, 'created');
  t.regex(st.Error, /^Decoding seccomp profile failed/);
  const start = await b.request('POST', '/containers/sc-bad/start');
  t.is(start.status, 500);
  await ok(['rm', 'sc-bad']);

  const kernel = join(work, 'kernel.json');
  writeFileSync(kernel, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', includes: { minKernel: '4' } }] }));
  t.regex((await docker(b, ['run', '--rm', '--security-opt', `seccomp=${kernel}`, 'busybox', 'true'])).stderr, /Decoding seccomp profile failed: invalid kernel version: "4", expected "<kernel>.<major>"/);
});

test.serial('the daemon\'s --seccomp-profile: a path (docker info names it) or unconfined; a missing file stops berthd', async (t) => {
  if (!existsSync(DISTRO)) return t.fail(`${DISTRO} is missing`);
  const dir = tempDir('bts2-');
  const file = join(dir, 'daemon-profile.json');
  writeFileSync(file, distroPlus([{ names: ['personality'], action: 'SCMP_ACT_ALLOW' }]));
  const custom = await startBerthd({ args: ['--seccomp-profile', file] });
  const unconfined = await startBerthd({ args: ['--seccomp-profile', 'unconfined'] });
  try {
    await importBusybox(custom, dir);
    await importBusybox(unconfined, dir);
    t.deepEqual(JSON.parse(await ok(['info', '--format', '{{json .SecurityOptions}}'], custom)), [`name=seccomp,profile=${file}`]);
    t.is((await persona([], custom)).stdout, 'personality: ok\n');
    t.is(await seccompMode([], custom), '2');
    // A container's own option still wins.
    t.is(await seccompMode(['--security-opt', 'seccomp=unconfined'], custom), '0');

    t.deepEqual(JSON.parse(await ok(['info', '--format', '{{json .SecurityOptions}}'], unconfined)), ['name=seccomp,profile=unconfined']);
    t.is(await seccompMode([], unconfined), '0');
    t.is((await persona([], unconfined)).stdout, 'personality: ok\n');
  } finally {
    await custom.stop();
    await unconfined.stop();
    removeDir(dir);
  }
  const missing = join(work, 'missing.json');
  const r = await runBerthd(['--data-root', join(work, 'r'), '--exec-root', join(work, 'e'), '-p', join(work, 'p.pid'), '-H', `unix://${join(work, 'x.sock')}`, '--seccomp-profile', missing]);
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`opening seccomp profile \\(${missing}\\) failed: open ${missing}: no such file or directory`));
  t.false(existsSync(join(work, 'r')), 'nothing is created');
});

test.serial('nothing is left behind', async (t) => {
  t.is((await ok(['ps', '-aq'])).trim(), '');
  t.true(await waitFor(() => {
    const l = leftovers(b);
    return l.mounts.length === 0 && l.processes.length === 0 && l.bundles.length === 0 && l.runc.length === 0;
  }, 5_000), JSON.stringify(leftovers(b)));
});
