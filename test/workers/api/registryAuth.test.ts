/** X-Registry-Auth decoding as dockerd: base64url JSON, anything undecodable is anonymous. */
import test from 'ava';
import { authConfigFrom, decodeRegistryAuth } from '../../../workers/api/registryAuth.js';

const enc = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

test('the CLI\'s headers: "e30=" is anonymous, credentials are read', (t) => {
  t.is(decodeRegistryAuth('e30='), null);
  t.is(decodeRegistryAuth(undefined), null);
  t.is(decodeRegistryAuth(''), null);
  // As captured from docker 28 against dockerd 20.10 (fixtures, search.txt).
  t.deepEqual(decodeRegistryAuth('eyJ1c2VybmFtZSI6InRlc3RlciIsInBhc3N3b3JkIjoiczNjcmV0Iiwic2VydmVyYWRkcmVzcyI6IjEyNy4wLjAuMTo1NjcxNyJ9'), {
    username: 'tester',
    password: 's3cret',
    serveraddress: '127.0.0.1:56717',
  });
  t.deepEqual(decodeRegistryAuth(enc({ identitytoken: 'tok', serveraddress: 'h' })), { identitytoken: 'tok', serveraddress: 'h' });
});

test('field names match without case, as Go', (t) => {
  t.deepEqual(decodeRegistryAuth(enc({ Username: 'u', PASSWORD: 'p', RegistryToken: 'r' })), { username: 'u', password: 'p', registrytoken: 'r' });
});

test('invalid values are anonymous, not errors', (t) => {
  t.is(decodeRegistryAuth('!!!'), null, 'not base64url');
  t.is(decodeRegistryAuth('a+b/'), null, 'standard base64 alphabet is refused by Go\'s URLEncoding');
  t.is(decodeRegistryAuth(enc('not json')), null);
  t.is(decodeRegistryAuth(enc([1, 2])), null);
  t.is(decodeRegistryAuth(enc('"str"')), null);
  t.is(decodeRegistryAuth(enc({ username: 5 })), null, 'a number where a string goes fails the whole decode');
  t.is(decodeRegistryAuth(enc('null')), null);
  t.deepEqual(authConfigFrom({ username: 'u', password: '', other: 1 }), { username: 'u' });
});
