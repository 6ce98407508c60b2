/**
 * A small piscina pool for the CPU-bound tasks in tasks.ts. On a 2-core machine one thread,
 * kept alive (piscina's default idleTimeout would kill and respawn it under bursty load), and a
 * bounded queue so a flood of work is refused instead of buffered without limit.
 */
import { Piscina } from 'piscina';
import type { DigestTask } from './tasks.js';

export interface TaskPool {
  digest(task: DigestTask): Promise<string>;
  close(): Promise<void>;
  readonly stats: { completed: number; queueSize: number; threads: number };
}

export function createPool(threads = 1, maxQueue = 256): TaskPool {
  const pool = new Piscina({
    filename: new URL('./tasks.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity,
    maxQueue,
  });
  return {
    digest: (task) => pool.run(task, { name: 'digest' }) as Promise<string>,
    close: () => pool.destroy(),
    get stats() {
      return { completed: pool.completed, queueSize: pool.queueSize, threads: pool.threads.length };
    },
  };
}
