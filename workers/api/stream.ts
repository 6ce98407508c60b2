/**
 * Streaming between an HTTP exchange and a job: the request body as a job's stdin, a job's
 * stdout as the response body.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { CancelledError, toWire } from '../../src/errdefs/errors.js';
import type { RouteContext } from './httputils.js';

/**
 * bodyChunks reads a request body (or a hijacked connection). Stopping early only pauses the request (an async iterator
 * over the request would destroy it, and its socket, before the error response is written);
 * the response then says `Connection: close`.
 */
export function bodyChunks(req: Readable): AsyncIterable<Buffer> {
  return {
    [Symbol.asyncIterator]() {
      return {
        next: () =>
          new Promise<IteratorResult<Buffer>>((resolve, reject) => {
            const cleanup = () => {
              req.off('readable', tryRead);
              req.off('end', onEnd);
              req.off('error', onError);
              req.off('close', onClose);
            };
            function tryRead() {
              const chunk = req.read() as Buffer | null;
              if (chunk !== null) {
                cleanup();
                resolve({ value: chunk, done: false });
              } else if (req.readableEnded) onEnd();
            }
            function onEnd() {
              cleanup();
              resolve({ value: undefined, done: true });
            }
            function onError(err: Error) {
              cleanup();
              reject(err);
            }
            function onClose() {
              if (req.readableEnded) return onEnd();
              cleanup();
              reject(new CancelledError('the client went away while sending its body'));
            }
            req.on('readable', tryRead);
            req.once('end', onEnd);
            req.once('error', onError);
            req.once('close', onClose);
            tryRead();
          }),
        return: async () => {
          if (!req.readableEnded) req.pause();
          return { value: undefined, done: true };
        },
      };
    },
  };
}

/** write sends a chunk, waiting for 'drain' (or the client leaving). */
async function write(ctx: RouteContext, chunk: Uint8Array): Promise<void> {
  if (!ctx.res.write(chunk)) await once(ctx.res, 'drain', { signal: ctx.signal });
}

/**
 * pipeToResponse streams a job's output into a begun response. A stream that fails part-way
 * cuts the connection rather than ending it cleanly, so the client sees the loss (tar archives,
 * events), as with dockerd.
 */
export async function pipeToResponse(ctx: RouteContext, output: AsyncIterable<Uint8Array>, done: Promise<unknown>): Promise<void> {
  try {
    for await (const chunk of output) await write(ctx, chunk);
    await done;
    ctx.res.end();
  } catch (err) {
    ctx.log.debug('stream ended early', { error: (err as Error).message });
    ctx.res.destroy();
  }
}

/**
 * pipeJsonMessages streams a JSON progress stream (load, import, pull); a failure after the
 * stream began becomes dockerd's in-stream error line, and the response ends cleanly.
 */
export async function pipeJsonMessages(ctx: RouteContext, output: AsyncIterable<Uint8Array>, done: Promise<unknown>): Promise<void> {
  let failure: unknown = null;
  try {
    for await (const chunk of output) await write(ctx, chunk);
  } catch (err) {
    failure = err;
  }
  try {
    await done;
  } catch (err) {
    failure ??= err;
  }
  if (ctx.signal.aborted) return void ctx.res.destroy();
  if (failure) {
    const message = toWire(failure).message;
    ctx.res.write(JSON.stringify({ errorDetail: { message }, error: message }) + '\n');
  }
  ctx.res.end();
}

/**
 * streamBegun waits for a job's stream to start (then the handler answers 200 and streams) or
 * to fail before its first frame (an HTTP error). It waits on the stream's own frames, never on
 * a race with the job's reply: that reply comes by another port and can overtake the stream,
 * which turned an error sent after the first lines into an HTTP error now and then.
 */
export async function streamBegun(output: { begun: Promise<boolean> }, done: Promise<unknown>): Promise<void> {
  try {
    await output.begun;
  } catch (err) {
    await done; // the job's own error (the stream carried the same one)
    throw err;
  }
}
