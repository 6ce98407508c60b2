/** Codec, Env, filters, and the credit-based port streams. */
import test from 'ava';
import { MessageChannel } from 'node:worker_threads';
import { decode, encode } from '../../src/protocol/codec.js';
import { Env } from '../../src/protocol/env.js';
import { Filters } from '../../src/protocol/filters.js';
import { PortReader, PortWriter } from '../../src/protocol/stream.js';
import { ERROR_TABLE, fromWire, toWire, NotFoundError, Status, httpStatusOf, jobStatusOf, JobNotFoundError } from '../../src/errdefs/errors.js';

test('envelopes round-trip through msgpack as exact-size copies', (t) => {
  const env = { t: 'job', id: 7, job: 'info', args: { a: [1, 'x', null], b: true }, env: ['K=v'] };
  const bytes = encode(env);
  t.is(bytes.byteOffset, 0);
  t.is(bytes.buffer.byteLength, bytes.byteLength, 'the buffer is exactly the message, not the encoder arena');
  t.deepEqual(decode(bytes), env);
});

test('errors cross threads by kind and come back as their class', (t) => {
  const wire = toWire(new NotFoundError('No such container: x'));
  t.deepEqual(wire, { kind: 'notFound', message: 'No such container: x' });
  const back = fromWire(structuredClone(wire));
  t.true(back instanceof NotFoundError);
  t.is(httpStatusOf(back), 404);
  t.is(jobStatusOf(back), Status.ERR);
  t.is(jobStatusOf(new JobNotFoundError('x')), Status.NOT_FOUND);
  t.is(httpStatusOf(new Error('boom')), 500);
  for (const [kind, row] of Object.entries(ERROR_TABLE)) t.is(httpStatusOf(fromWire({ kind: kind as never, message: '' })), row.http);
});

test('Env keeps the last value of a key and converts types like the seed', (t) => {
  const env = new Env(['A=1', 'A=2', 'B=yes', 'C=x']);
  t.is(env.get('A'), '2');
  t.true(env.getBool('B'));
  t.is(env.getInt('C'), -1);
  env.setJson('J', { k: [1] });
  t.deepEqual(env.getJson('J'), { k: [1] });
  env.setList('L', ['a', 'b']);
  t.deepEqual(env.getList('L'), ['a', 'b']);
  t.deepEqual(new Env(env.toList()).getList('L'), ['a', 'b']);
});

test('filters accept the map and the list forms and match as dockerd', (t) => {
  const f = Filters.parse('{"type":{"container":true},"label":["a","b=c"]}');
  t.true(f.exactMatch('type', 'container'));
  t.false(f.exactMatch('type', 'image'));
  t.true(f.exactMatch('absent', 'anything'));
  t.true(f.matchKVList('label', { a: '1', b: 'c' }));
  t.false(f.matchKVList('label', { a: '1', b: 'd' }));
  t.true(Filters.parse('{"container":["ab"]}').fuzzyMatch('container', 'abcdef'));
  t.throws(() => Filters.parse('{bad'), { message: /^invalid filters: / });
  t.throws(() => Filters.parse('{"foo":{"x":true}}').validate(['type']), { message: "invalid filter 'foo'" });
});

test('a stream writer waits when the reader is a window behind, and resumes on acks', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const writer = new PortWriter(port1);
  const reader = new PortReader(port2);
  let written = 0;
  const producing = (async () => {
    for (let i = 0; i < 200; i++) {
      await writer.write(`chunk ${i}\n`);
      written++;
    }
    writer.end();
  })();
  await new Promise((r) => setTimeout(r, 50));
  t.is(written, 64, 'the writer stops at the window until the reader consumes');
  const got: string[] = [];
  for await (const chunk of reader) got.push(Buffer.from(chunk).toString());
  await producing;
  t.is(got.length, 200);
  t.is(got[199], 'chunk 199\n');
  t.true(await reader.begun);
});

test('closing the reader tells the writer to stop', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const writer = new PortWriter(port1);
  const reader = new PortReader(port2);
  await writer.write('x');
  reader.close();
  await new Promise<void>((resolve) => writer.closed.addEventListener('abort', () => resolve()));
  t.true(writer.closed.aborted);
});

test('a writer that fails before beginning rejects the reader\'s begun with the typed error', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const writer = new PortWriter(port1);
  const reader = new PortReader(port2);
  writer.fail(new NotFoundError('gone'));
  const err = await t.throwsAsync(reader.begun);
  t.true(err instanceof NotFoundError);
});
