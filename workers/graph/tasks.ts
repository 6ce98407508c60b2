/**
 * Pure CPU-bound tasks for the piscina pool (DESIGN.md §1): no state, no I/O besides reading
 * the file they are given. The graph actor runs them so hashing a large layer never blocks an
 * actor's event loop.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export interface DigestTask {
  /** Hash these bytes… */
  data?: Uint8Array;
  /** …or this file. */
  path?: string;
}

/** digest returns "sha256:<hex>" of the bytes or the file. */
export async function digest(task: DigestTask): Promise<string> {
  const h = createHash('sha256');
  if (task.data) {
    h.update(task.data);
  } else if (task.path) {
    for await (const chunk of createReadStream(task.path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  } else {
    throw new TypeError('digest needs data or path');
  }
  return `sha256:${h.digest('hex')}`;
}
