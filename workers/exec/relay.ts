/**
 * relay carries a process's stdio between conmon's attach socket (SOCK_SEQPACKET: each packet
 * starts with its stream, 2 stdout / 3 stderr; what is written to it is stdin) and a job's
 * streams: output as dockerd's 8-byte multiplexed frames (raw for a tty), input from the job's
 * stdin, with detach keys. A container's attach and an exec session use it alike.
 */
import type { JobContext } from '../../src/actor/runtime.js';
import { native } from '../../src/native/native.js';

export interface RelayOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  /** Detach key sequence as bytes ([] = none). */
  detachKeys: number[];
  /** The process's stdin closes with the client's; else the client's end only ends the relay. */
  stdinOnce: boolean;
}

/**
 * openRelay connects to the socket at once (so a caller can start the process after it and
 * lose no output) and relays until the process's end, a detach, or the client leaving.
 */
export function openRelay(path: string, o: RelayOptions, ctx: JobContext): { done: Promise<{ detached: boolean }> } {
  const out = ctx.stdout!;
  let ended!: () => void;
  const finished = new Promise<void>((r) => (ended = r));
  const writes: Promise<void>[] = [];
  let writable: (() => void) | null = null;
  const sock = native().seqpacketOpen(
    path,
    (p) => {
      if (p === null) return ended();
      const stream = p[0] === 3 ? 2 : 1;
      if ((stream === 1 && !o.stdout) || (stream === 2 && !o.stderr)) return;
      const data = p.subarray(1);
      if (o.tty) writes.push(out.write(data));
      else {
        const head = Buffer.alloc(8);
        head[0] = stream;
        head.writeUInt32BE(data.length, 4);
        writes.push(out.write(Buffer.concat([head, data])));
      }
    },
    () => writable?.(),
  );
  const send = async (chunk: Buffer) => {
    let off = 0;
    while (off < chunk.length) {
      const n = sock.write(chunk.subarray(off, off + 32768));
      if (n < 0) await new Promise<void>((r) => (writable = r));
      else off += n;
    }
  };
  let detached = false;
  const input = o.stdin ? ctx.stdin : null;
  void (async () => {
    if (!input) return;
    const keys = o.detachKeys;
    let matched = 0;
    for await (const raw of input) {
      let chunk = Buffer.from(raw);
      if (keys.length) {
        for (let i = 0; i < chunk.length; i++) {
          matched = chunk[i] === keys[matched] ? matched + 1 : chunk[i] === keys[0] ? 1 : 0;
          if (matched === keys.length) {
            detached = true;
            chunk = chunk.subarray(0, Math.max(0, i + 1 - keys.length));
            break;
          }
        }
      }
      if (chunk.length) await send(chunk);
      if (detached) return ended();
    }
    // The client's stdin ended: with StdinOnce the process's does too (and the output goes on
    // to its end); otherwise, as dockerd, this session ends and the process's stdin stays open.
    if (o.stdinOnce) sock.shutdown();
    else ended();
  })().catch(() => {});
  ctx.signal.addEventListener('abort', () => ended(), { once: true });
  const done = (async () => {
    await finished;
    sock.close();
    await Promise.allSettled(writes);
    return { detached };
  })();
  return { done };
}
