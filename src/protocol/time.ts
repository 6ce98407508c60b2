/**
 * Times as Go writes them in the Engine API: RFC 3339 with nanoseconds, trailing zeros of the
 * fraction trimmed ("2026-11-28T21:09:39.820369839Z", "…:39.8Z", "…:39Z").
 */
let lastNs = 0n;

/** nowNs is the wall clock in nanoseconds (sub-millisecond digits from the monotonic clock). */
export function nowNs(): bigint {
  const ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  lastNs = ns > lastNs ? ns : lastNs + 1n;
  return lastNs;
}

export function rfc3339NanoFromNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const frac = String(ns % 1_000_000_000n).padStart(9, '0').replace(/0+$/, '');
  return `${new Date(ms).toISOString().slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

export function nowRfc3339Nano(): string {
  return rfc3339NanoFromNs(nowNs());
}

/** ZERO_TIME is Go's zero time.Time, as the API shows it. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** nsFromRfc3339 reads an RFC 3339 UTC time (any number of fraction digits) into Unix nanoseconds. */
export function nsFromRfc3339(t: string): bigint {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(t);
  const ms = Date.parse(`${m?.[1] ?? t}Z`);
  if (Number.isNaN(ms)) return 0n;
  return BigInt(Math.floor(ms / 1000)) * 1_000_000_000n + BigInt((m?.[2] ?? '').padEnd(9, '0').slice(0, 9));
}
