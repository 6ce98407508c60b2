/**
 * The JSON progress lines of a pull or push, exactly as dockerd's progress package writes them:
 * a Message has no progressDetail, an Update has an empty one, a progress line has
 * {current,total} and the drawn bar. Progress lines are thinned to one per layer every 100 ms
 * (the last one always goes), as dockerd's progress reader does.
 */
import type { PortWriter } from '../../../src/protocol/stream.js';
import { bar } from '../progress.js';

export class Messages {
  private last = new Map<string, number>();

  constructor(private readonly out: PortWriter | null) {}

  private send(msg: Record<string, unknown>): Promise<void> {
    return this.out ? this.out.write(JSON.stringify(msg) + '\n') : Promise.resolve();
  }

  /** progress.Message: {"status", "id"?}. */
  message(status: string, id?: string): Promise<void> {
    return this.send(id ? { status, id } : { status });
  }

  /** progress.Update: {"status", "progressDetail": {}, "id"}. */
  update(id: string, status: string): Promise<void> {
    return this.send({ status, progressDetail: {}, id });
  }

  /** A progress line; `force` sends it whatever the time since the last one. */
  progress(id: string, status: string, current: number, total: number, force = false): Promise<void> {
    const now = Date.now();
    const key = `${id}\0${status}`;
    if (!force && now - (this.last.get(key) ?? 0) < 100) return Promise.resolve();
    this.last.set(key, now);
    const progressDetail = total > 0 ? { current, total } : { current };
    return this.send({ status, progressDetail, progress: bar(current, total), id });
  }

  aux(aux: unknown): Promise<void> {
    return this.send({ progressDetail: {}, aux });
  }

  get closed(): boolean {
    return this.out?.closed.aborted ?? false;
  }
}
