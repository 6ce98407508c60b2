/** endpointsFor, insecure-registry matching, WWW-Authenticate parsing and errcode texts, without a registry. */
import test from 'ava';
import { cidrMatch, endpointsFor, hostOnly, isSecureIndex } from '../../../../workers/graph/distribution/hosts.js';
import { describeError, parseChallenges } from '../../../../workers/graph/distribution/auth.js';
import { splitSearchTerm } from '../../../../workers/graph/distribution/search.js';
import { loginHost } from '../../../../workers/graph/distribution/login.js';
import type { RegistrySettings } from '../../../../workers/graph/distribution/transport.js';

const s = (over: Partial<RegistrySettings> = {}): RegistrySettings => ({ mirrors: [], insecure: [], certsDir: '/nonexistent', ...over });

test('docker.io: mirrors first (as written, http allowed), then registry-1; index.docker.io is docker.io', async (t) => {
  const eps = await endpointsFor('index.docker.io', s({ mirrors: ['https://mirror.example.com/', 'http://127.0.0.1:5001'] }));
  t.deepEqual(
    eps.map((e) => [e.url, e.host, e.mirror, e.insecure]),
    [
      ['https://mirror.example.com', 'docker.io', true, false],
      ['http://127.0.0.1:5001', 'docker.io', true, true],
      ['https://registry-1.docker.io', 'docker.io', false, false],
    ],
  );
});

test('insecure hosts: loopback (v4, v6, names that resolve to it), --insecure-registry names and CIDRs; others secure without http', async (t) => {
  t.false(await isSecureIndex('127.0.0.1:5000', s()));
  t.false(await isSecureIndex('127.9.9.9', s()));
  t.false(await isSecureIndex('[::1]:5000', s()));
  t.false(await isSecureIndex('localhost:5000', s()));
  t.true(await isSecureIndex('10.1.2.3:5000', s()));
  t.false(await isSecureIndex('10.1.2.3:5000', s({ insecure: ['10.0.0.0/8'] })));
  t.false(await isSecureIndex('myreg.example:5000', s({ insecure: ['myreg.example:5000'] })));
  t.true(await isSecureIndex('myreg.example:5001', s({ insecure: ['myreg.example:5000'] })), 'the port is part of the name');
  t.true(await isSecureIndex('docker.io', s({ insecure: ['0.0.0.0/0'] })), 'Docker Hub is always secure');
  t.deepEqual((await endpointsFor('10.1.2.3:5000', s())).map((e) => e.url), ['https://10.1.2.3:5000']);
  t.deepEqual((await endpointsFor('10.1.2.3:5000', s({ insecure: ['10.1.2.0/24'] }))).map((e) => [e.url, e.insecure]), [
    ['https://10.1.2.3:5000', true],
    ['http://10.1.2.3:5000', true],
  ]);
});

test('CIDRs of both families; host parts', (t) => {
  t.true(cidrMatch('127.0.0.0/8', '127.1.2.3'));
  t.false(cidrMatch('127.0.0.0/8', '128.0.0.1'));
  t.true(cidrMatch('::1/128', '::1'));
  t.true(cidrMatch('fd00::/8', 'fd12:3456::1'));
  t.false(cidrMatch('fd00::/8', 'fe80::1'));
  t.true(cidrMatch('10.0.0.0/8', '::ffff:10.2.3.4'));
  t.false(cidrMatch('bogus', '10.0.0.1'));
  t.is(hostOnly('[::1]:5000'), '::1');
  t.is(hostOnly('::1'), '::1');
  t.is(hostOnly('reg:5000'), 'reg');
  t.is(hostOnly('reg'), 'reg');
});

test('WWW-Authenticate: Bearer with quoted params, Basic, several challenges in one header', (t) => {
  t.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
  ]);
  t.deepEqual(parseChallenges('Basic realm="basic-realm"'), [{ scheme: 'basic', params: { realm: 'basic-realm' } }]);
  t.deepEqual(parseChallenges(['Bearer realm="r", service=s', 'Basic realm="x"']), [
    { scheme: 'bearer', params: { realm: 'r', service: 's' } },
    { scheme: 'basic', params: { realm: 'x' } },
  ]);
  t.deepEqual(parseChallenges('Bearer realm="r",error="insufficient_scope", Basic realm="b\\"q"'), [
    { scheme: 'bearer', params: { realm: 'r', error: 'insufficient_scope' } },
    { scheme: 'basic', params: { realm: 'b"q' } },
  ]);
  t.deepEqual(parseChallenges(undefined), []);
});

test('registry error bodies worded as distribution\'s errcode', (t) => {
  const j = (o: unknown) => JSON.stringify(o);
  t.deepEqual(describeError(404, {}, j({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'x' } }] })), { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown: manifest unknown' });
  t.deepEqual(describeError(401, {}, j({ details: 'incorrect username or password' })), { code: 'UNAUTHORIZED', message: 'unauthorized: incorrect username or password' });
  t.deepEqual(describeError(401, {}, 'not json'), { code: 'UNAUTHORIZED', message: 'unauthorized: authentication required' });
  t.deepEqual(describeError(403, { 'www-authenticate': 'Bearer realm="r",error="insufficient_scope"' }, ''), { code: 'DENIED', message: 'denied: requested access to the resource is denied' });
  t.is(describeError(400, {}, '<html>').message, 'error parsing HTTP 400 response body: invalid character \'<\' looking for beginning of value: "<html>"');
  t.is(describeError(500, {}, '').message, 'received unexpected HTTP status: 500 Internal Server Error');
  t.is(describeError(404, {}, j({ errors: [{ code: 'NOPE', message: 'm' }] })).message, 'unknown: m');
  t.is(describeError(400, {}, j({ errors: [{ code: 'TAG_INVALID' }, { code: 'NAME_INVALID', message: 'bad' }] })).message, 'errors:\ntag invalid: manifest tag did not match URI\nname invalid: bad\n');
});

test('search terms and login server addresses name the registry as dockerd', (t) => {
  t.deepEqual(splitSearchTerm('busybox'), { index: 'docker.io', remote: 'busybox' });
  t.deepEqual(splitSearchTerm('user/repo'), { index: 'docker.io', remote: 'user/repo' });
  t.deepEqual(splitSearchTerm('localhost/repo'), { index: 'localhost', remote: 'repo' });
  t.deepEqual(splitSearchTerm('127.0.0.1:5000/a/b'), { index: '127.0.0.1:5000', remote: 'a/b' });
  t.is(loginHost(undefined), 'docker.io');
  t.is(loginHost('https://index.docker.io/v1/'), 'docker.io');
  t.is(loginHost('127.0.0.1:5000'), '127.0.0.1:5000');
  t.is(loginHost('http://reg.example:5000/'), 'reg.example:5000');
});
