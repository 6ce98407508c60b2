/**
 * Byte streams between threads over a MessagePort, with credit-based flow control.
 *
 * A job that streams (GET /events now; logs, attach, export later) gets a PortWriter for its
 * stdout; its caller holds the PortReader. The engine hands the port from the caller to the
 * owning actor, so bulk bytes go actor to actor and never through the main thread
 * (DESIGN.md §4). The writer may have at most WINDOW frames unacknowledged; the reader acks
 * every ACK_EVERY frames it has consumed. Either side ending its thread closes the port: the
 * writer sees `closed`, the reader sees an error.
 *
 * Frames: {t:'b'} begin · {t:'d', b} data · {t:'a', n} ack · {t:'e'} end · {t:'x', error} error ·
 * {t:'c'} close. `begin` tells the consumer the request was accepted and the stream starts: an
 * HTTP handler answers 200 then, and a JSON error if the job fails before it (as dockerd does).
 */
import type { MessagePort } from 'node:worker_threads';
import { UnavailableError, fromWire, toWire, type WireError } from '../errdefs/errors.js';

const WINDOW = 64;
const ACK_EVERY = 16;

type Frame =
  | { t: 'b' }
  | { t: 'd'; b: Uint8Array }
  | { t: 'a'; n: number }
  | { t: 'e' }
  | { t: 'x'; error: WireError }
  | { t: 'c' };

/** PortWriter is the producing end: write() waits while the reader is WINDOW frames behind. */
export class PortWriter {
  private unacked = 0;
  private waiters: Array<() => void> = [];
  private done = false;
  private begun = false;
  private readonly abort = new AbortController();

  constructor(private readonly port: MessagePort) {
    port.on('message', (f: Frame) => {
      if (f.t === 'a') {
        this.unacked -= f.n;
        this.wake();
      } else if (f.t === 'c') {
        this.close();
      }
    });
    port.on('close', () => this.close());
  }

  /** Fires when the reader has gone away (closed the stream, or its thread ended). */
  get closed(): AbortSignal {
    return this.abort.signal;
  }

  /** begin says the stream starts (write() implies it). */
  begin(): void {
    if (this.done || this.begun) return;
    this.begun = true;
    this.port.postMessage({ t: 'b' } satisfies Frame);
  }

  async write(chunk: Uint8Array | string): Promise<void> {
    if (this.done) return;
    this.begin();
    while (this.unacked >= WINDOW && !this.done) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.done) return;
    const b = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : Uint8Array.prototype.slice.call(chunk);
    this.unacked++;
    this.port.postMessage({ t: 'd', b } satisfies Frame, [b.buffer as ArrayBuffer]);
  }

  end(): void {
    if (this.done) return;
    this.port.postMessage({ t: 'e' } satisfies Frame);
    this.close();
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.port.postMessage({ t: 'x', error: toWire(err) } satisfies Frame);
    this.close();
  }

  private close(): void {
    if (this.done) return;
    this.done = true;
    this.wake();
    this.abort.abort();
    this.port.close();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/**
 * pump writes a byte source into a writer (with its flow control) and ends it; it stops early,
 * without error, when the reader goes away. A failing source fails the stream.
 */
export async function pump(source: AsyncIterable<Uint8Array>, writer: PortWriter): Promise<void> {
  try {
    writer.begin();
    for await (const chunk of source) {
      if (writer.closed.aborted) return;
      await writer.write(chunk);
    }
    writer.end();
  } catch (err) {
    writer.fail(err);
  }
}

/** PortReader is the consuming end: iterate it for the chunks; close() tells the writer to stop. */
export class PortReader implements AsyncIterable<Uint8Array> {
  private queue: Uint8Array[] = [];
  private consumed = 0;
  private finished = false;
  private error: Error | null = null;
  private wakeup: (() => void) | null = null;
  private beginResolve!: (started: boolean) => void;
  private beginReject!: (err: Error) => void;
  /**
   * Resolves true when the producer begins the stream, false if it ended without data;
   * rejects with its error if it failed first.
   */
  readonly begun: Promise<boolean> = new Promise((resolve, reject) => {
    this.beginResolve = resolve;
    this.beginReject = reject;
  });

  constructor(private readonly port: MessagePort) {
    this.begun.catch(() => {}); // a consumer that never asks must not see an unhandled rejection
    port.on('message', (f: Frame) => {
      if (f.t === 'b') this.beginResolve(true);
      else if (f.t === 'd') this.queue.push(f.b);
      else if (f.t === 'e') this.finish(null);
      else if (f.t === 'x') this.finish(fromWire(f.error));
      this.wakeup?.();
    });
    port.on('close', () => {
      if (!this.finished) this.finish(new UnavailableError('stream closed: the producing actor went away'));
      this.wakeup?.();
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) {
        if (++this.consumed % ACK_EVERY === 0) this.port.postMessage({ t: 'a', n: ACK_EVERY } satisfies Frame);
        yield chunk;
        continue;
      }
      if (this.finished) {
        if (this.error) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wakeup = resolve));
      this.wakeup = null;
    }
  }

  /**
   * closeSoon is for a job that failed: its stream normally ends by itself (the failure is its
   * last frame), but the job's reply travels on another port and can arrive first — closing at
   * once would drop frames still on their way (a pull's "Pulling from" line before its error).
   * So the reader is closed only if the stream has not ended by itself a moment later.
   */
  closeSoon(ms = 2000): void {
    if (this.finished) return;
    setTimeout(() => this.close(), ms).unref();
  }

  /** Stop reading: the writer's `closed` signal fires. */
  close(): void {
    if (this.finished) return;
    try {
      this.port.postMessage({ t: 'c' } satisfies Frame);
    } catch {
      // The port is already closed.
    }
    this.finish(null);
    this.port.close();
  }

  private finish(err: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    this.error = err;
    if (err) this.beginReject(err);
    else this.beginResolve(false);
    this.port.close();
  }
}
