/** The engine's seed semantics (§5.2, §5.3): Status codes, catchall, commands, registration, shutdown. */
import test from 'ava';
import { Engine } from '../../src/engine/engine.js';
import { Job } from '../../src/engine/job.js';
import { Status, NotFoundError, UnavailableError } from '../../src/errdefs/errors.js';

test('a handler that returns ends the job with Status OK (0)', async (t) => {
  const engine = new Engine({ logging: false });
  engine.register('echo', async (job) => job.args);
  const job = engine.job('echo', { x: 1 });
  t.deepEqual(await engine.run(job), { x: 1 });
  t.is(job.status, Status.OK);
});

test('a handler that throws ends the job with Status ERR (1) and keeps the error kind', async (t) => {
  const engine = new Engine({ logging: false });
  engine.register('stop', async () => {
    throw new NotFoundError('No such container: web');
  });
  const job = engine.job('stop');
  const err = await t.throwsAsync(engine.run(job));
  t.is(err?.message, 'No such container: web');
  t.true(err instanceof NotFoundError);
  t.is(job.status, Status.ERR);
});

test('a job with no handler ends with Status NOT_FOUND (127): "<name>: command not found"', async (t) => {
  const engine = new Engine({ logging: false });
  const job = engine.job('nosuchjob');
  const err = await t.throwsAsync(engine.run(job));
  t.is(err?.message, 'nosuchjob: command not found');
  t.is(job.status, Status.NOT_FOUND);
  t.is(job.status, 127);
});

test('the catchall handles every unregistered name, but not the empty name', async (t) => {
  const engine = new Engine({ logging: false });
  engine.catchall = async (job) => `caught ${job.name}`;
  t.is(await engine.run(engine.job('anything')), 'caught anything');
  const empty = engine.job('');
  await t.throwsAsync(engine.run(empty), { message: ': command not found' });
  t.is(empty.status, Status.NOT_FOUND);
});

test('registering a name twice is an error', (t) => {
  const engine = new Engine({ logging: false });
  engine.register('x', async () => null);
  t.throws(() => engine.register('x', async () => null), { message: "Can't overwrite handler for command x" });
  t.throws(() => engine.register('commands', async () => null), { message: "Can't overwrite handler for command commands" });
});

test('`commands` lists every registered job, sorted, on its stdout and as its result', async (t) => {
  const engine = new Engine({ logging: false });
  engine.register('zeta', async () => null);
  engine.register('alpha', async () => null);
  const job = engine.job('commands');
  const result = await engine.run(job);
  t.deepEqual(result, ['alpha', 'commands', 'zeta']);
  t.is(job.stdout.text(), 'alpha\ncommands\nzeta\n');
});

test('the job env reads and writes typed values as the seed Env', async (t) => {
  const engine = new Engine({ logging: false });
  engine.register('env', async (job) => ({
    tls: job.env.getBool('Tls'),
    port: job.env.getInt('Port'),
    hosts: job.env.getList('Hosts'),
    missing: job.env.getInt('Missing'),
  }));
  const job = engine.job('env', {}, { env: ['Tls=1', 'Port=2375', 'Hosts=["a","b"]'] });
  t.deepEqual(await engine.run(job), { tls: true, port: 2375, hosts: ['a', 'b'], missing: -1 });
});

test('shutdown refuses new jobs, waits for running ones, then runs handlers concurrently', async (t) => {
  const engine = new Engine({ logging: false, jobWaitMs: 2_000, handlerWaitMs: 2_000 });
  const order: string[] = [];
  engine.register('slow', async () => {
    await new Promise((r) => setTimeout(r, 200));
    order.push('job done');
  });
  engine.onShutdown(async () => {
    order.push('handler A start');
    await new Promise((r) => setTimeout(r, 100));
    order.push('handler A end');
  });
  engine.onShutdown(async () => {
    order.push('handler B start');
    await new Promise((r) => setTimeout(r, 100));
    order.push('handler B end');
  });
  const running = engine.run(engine.job('slow'));
  const started = Date.now();
  const shutdown = engine.shutdown();
  const refused = engine.job('slow');
  await t.throwsAsync(engine.run(refused), { instanceOf: UnavailableError, message: 'engine is shutting down' });
  t.is(refused.status, Status.ERR);
  await running;
  await shutdown;
  // Both handlers started before either ended: concurrently, and only after the job.
  t.deepEqual(order.slice(0, 3), ['job done', 'handler A start', 'handler B start']);
  t.true(Date.now() - started < 1_000);
  t.is(engine.shutdown(), shutdown, 'a second shutdown returns the same promise');
});

test('shutdown gives up on stuck jobs and handlers after its budget', async (t) => {
  const engine = new Engine({ logging: false, jobWaitMs: 150, handlerWaitMs: 150 });
  engine.register('stuck', () => new Promise(() => {}));
  let handlerRan = false;
  engine.onShutdown(() => {
    handlerRan = true;
    return new Promise(() => {});
  });
  void engine.run(engine.job('stuck'));
  const started = Date.now();
  await engine.shutdown();
  const took = Date.now() - started;
  t.true(handlerRan);
  t.true(took >= 280 && took < 1_000, `took ${took} ms`);
});

test('shutdown cancels streaming jobs first (a followed event stream only ends when asked)', async (t) => {
  const engine = new Engine({ logging: false, jobWaitMs: 5_000 });
  let cancelled = false;
  engine.register('events', (job) => new Promise<void>((resolve) => job.signal.addEventListener('abort', () => ((cancelled = true), resolve()))));
  const { port, reader } = Job.outputChannel();
  void engine.run(engine.job('events', {}, { stdoutPort: port }));
  const started = Date.now();
  await engine.shutdown();
  t.true(cancelled);
  t.false(await reader.begun, 'the stream ended cleanly');
  t.true(Date.now() - started < 1_000);
});

test('call applies a deadline and cancels the job when it passes', async (t) => {
  const engine = new Engine({ logging: false });
  let aborted = false;
  engine.register('version', (job) => new Promise((_, reject) => job.signal.addEventListener('abort', () => ((aborted = true), reject(new Error('aborted'))))));
  await t.throwsAsync(engine.call('version', {}, { timeoutMs: 50 }), { message: 'version: no answer within 50 ms' });
  t.true(aborted);
});

test('a streaming job that writes then fails: its lines reach the reader before the error, though the reply comes first', async (t) => {
  // The job's reply (a rejected promise here, a message on another port across threads) is
  // faster than its stream's frames; the reader must not be closed before they arrive.
  const engine = new Engine({ logging: false });
  engine.register('image_pull', async (job) => {
    await job.stdout.write('{"status":"Pulling from x","id":"1"}\n');
    throw new NotFoundError('no matching manifest for linux/s390x in the manifest list entries');
  });
  for (let i = 0; i < 50; i++) {
    const { output, done } = engine.stream('image_pull', { image: 'x', tag: '1', platform: '', auth: null });
    const chunks: string[] = [];
    let failure: Error | null = null;
    try {
      for await (const c of output) chunks.push(Buffer.from(c).toString());
    } catch (err) {
      failure = err as Error;
    }
    await t.throwsAsync(done);
    t.is(chunks.join(''), '{"status":"Pulling from x","id":"1"}\n');
    t.is(failure?.message, 'no matching manifest for linux/s390x in the manifest list entries');
  }
});
