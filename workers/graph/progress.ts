/**
 * dockerd's JSON progress stream (jsonmessage): one JSON object per line, which the docker CLI
 * draws as per-layer bars (from progressDetail) or plain lines. Errors inside the stream are
 * `errorDetail` (the CLI ignores the legacy `error`, older SDKs read it: both are sent).
 */
import type { PortWriter } from '../../src/protocol/stream.js';

/** humanSize is go-units' HumanSizeWithPrecision(n, 4): decimal units, 4 significant digits. */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** bar renders the legacy `progress` field as dockerd does: "[=====>      ]  36.45kB/3.147MB". */
export function bar(current: number, total: number): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  const pct = Math.min(50, Math.floor((Math.floor((current / total) * 100)) / 2));
  // As jsonmessage: a current past the total (a compressed upload, a wonky size) shows alone.
  const numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return `[${'='.repeat(pct)}>${' '.repeat(50 - pct)}] ${numbers}`;
}

export class Progress {
  constructor(private readonly out: PortWriter | null) {}

  private async send(msg: Record<string, unknown>): Promise<void> {
    if (!this.out) return;
    // Go's encoder escapes <, > and &; clients accept either, so plain JSON is sent.
    await this.out.write(JSON.stringify(msg) + '\n');
  }

  status(status: string, id?: string): Promise<void> {
    return this.send(id ? { status, progressDetail: {}, id } : { status });
  }

  progress(status: string, id: string, current: number, total: number): Promise<void> {
    return this.send({ status, progressDetail: total > 0 ? { current, total } : { current }, progress: bar(current, total), id });
  }

  stream(text: string): Promise<void> {
    return this.send({ stream: text });
  }

  aux(aux: unknown): Promise<void> {
    return this.send({ progressDetail: {}, aux });
  }

  error(message: string, code?: number): Promise<void> {
    return this.send({ errorDetail: code === undefined ? { message } : { code, message }, error: message });
  }
}
