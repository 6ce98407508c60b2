/**
 * A small piscina pool for the CPU-bound tasks in tasks.ts. On a 2-core machine one thread,
 * kept alive (piscina's default idleTimeout would kill and respawn it under bursty load), and a
 * bounded queue so a flood of work is refused instead of buffered without limit.
 */
import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ApplyTask, ApplyTaskResult, CompressTask, DigestTask, ExportTask, SaveTask, UnpackTask } from './tasks.js';

export interface TaskPool {
  digest(task: DigestTask): Promise<string>;
  apply(task: ApplyTask): Promise<ApplyTaskResult>;
  unpack(task: UnpackTask): Promise<{ files: number; bytes: number; compression: string }>;
  save(task: SaveTask): Promise<{ bytes: number }>;
  exportRoot(task: ExportTask): Promise<{ bytes: number }>;
  compressLayer(task: CompressTask): Promise<{ digest: string; size: number }>;
  close(): Promise<void>;
  readonly stats: { completed: number; queueSize: number; threads: number };
}

/** The ports a task carries are transferred to its thread. */
function ports(...list: Array<MessagePort | undefined>): MessagePort[] {
  return list.filter((p): p is MessagePort => p !== undefined);
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
    apply: (task) => pool.run(task, { name: 'apply', transferList: ports('port' in task.source ? task.source.port : undefined, task.progress) as never }) as Promise<ApplyTaskResult>,
    unpack: (task) => pool.run(task, { name: 'unpack', transferList: ports('port' in task.source ? task.source.port : undefined, task.progress) as never }),
    save: (task) => pool.run(task, { name: 'save', transferList: ports(task.out) as never }),
    exportRoot: (task) => pool.run(task, { name: 'exportRoot', transferList: ports(task.out) as never }),
    compressLayer: (task) => pool.run(task, { name: 'compressLayer', transferList: ports(task.out, task.progress) as never }),
    close: () => pool.destroy(),
    get stats() {
      return { completed: pool.completed, queueSize: pool.queueSize, threads: pool.threads.length };
    },
  };
}
