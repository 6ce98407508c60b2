/**
 * The byte format of actor envelopes: msgpack (msgpackr), so an actor could move to a child
 * process or another host unchanged (DESIGN.md §4).
 *
 * encode() returns an exact-size copy. Posting msgpackr's pack() result itself would drag the
 * encoder's whole shared buffer along with every message (0.35 ms instead of 13 µs per round
 * trip, reference/actors-anchors.md A3).
 */
import { Packr } from 'msgpackr';

// 'bigint': a 64-bit integer on the wire comes back exactly. (JS numbers travel as doubles and
// come back as numbers; only bigints are written as 64-bit integers.)
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'bigint' });

export function encode(value: unknown): Uint8Array {
  const view = packr.pack(value);
  return Uint8Array.prototype.slice.call(view);
}

export function decode<T = unknown>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}
