/**
 * parseTimestamp reads a time as dockerd's timetypes.GetTimestamp: a Go duration ("10m",
 * "1h30m": that long before now), Unix seconds ("1234567890[.123]"), or an RFC 3339 date or
 * date-time (with or without zone; no zone means local time). Null when it is none of them.
 */
const UNIT_NS: Record<string, bigint> = { ns: 1n, us: 1_000n, µs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

function durationNs(s: string): bigint | null {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return null;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * Number(UNIT_NS[m[2]!]);
  return BigInt(Math.round(total));
}

export function parseTimestamp(value: string, nowMs: number): bigint | null {
  const v = value.trim();
  if (!v) return null;
  const d = durationNs(v);
  if (d !== null) return BigInt(nowMs) * 1_000_000n - d;
  const unix = /^(-?\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (unix) return BigInt(unix[1]!) * 1_000_000_000n + BigInt((unix[2] ?? '').padEnd(9, '0'));
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(v)) {
    const ms = Date.parse(v.includes('T') || v.includes(' ') ? v.replace(' ', 'T') : `${v}T00:00:00`);
    if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n;
  }
  return null;
}
