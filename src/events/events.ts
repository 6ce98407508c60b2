/**
 * Events is the daemon's events bus (the seed's events.New().Install, §5.4.3): the `log` job
 * publishes an event, `events` streams them (GET /events), `subscribers_count` counts the
 * listeners. The last RING_SIZE events are kept for `since` queries, as dockerd keeps its last
 * 256 (berth keeps more).
 *
 * An event's JSON line is made once, when it is published, and shared by every subscriber.
 * timeNano is a 64-bit integer that a JS number cannot hold exactly, so it is kept as a bigint
 * and written into the line by hand.
 */
import { InvalidParameterError, SystemError } from '../errdefs/errors.js';
import { Filters } from '../protocol/filters.js';
import { sortKeys } from '../protocol/json.js';
import type { EventInput, EventsQuery } from '../protocol/types/system.js';
import type { MainHandlers } from '../engine/engine.js';
import type { Job } from '../engine/job.js';

const RING_SIZE = 1024;
/** A subscriber further behind than this is cut off rather than buffered without bound. */
const MAX_BACKLOG = 10_000;

export const EVENT_TYPES = ['container', 'image', 'volume', 'network', 'daemon', 'plugin', 'node', 'service', 'secret', 'config'] as const;
const ACCEPTED_FILTERS = ['container', 'daemon', 'event', 'image', 'label', 'network', 'node', 'plugin', 'scope', 'secret', 'service', 'type', 'volume', 'config'];

interface Recorded {
  ns: bigint;
  type: string;
  action: string;
  actorId: string;
  attributes: Record<string, string>;
  scope: string;
  /** The JSON line as streamed, with its newline. */
  line: string;
}

type Subscriber = (e: Recorded) => void;

let lastNs = 0n;
/** nowNs is the wall clock in nanoseconds, strictly increasing so events keep their order. */
function nowNs(): bigint {
  const ms = BigInt(Date.now());
  const sub = process.hrtime.bigint() % 1_000_000n;
  let ns = ms * 1_000_000n + sub;
  if (ns <= lastNs) ns = lastNs + 1n;
  lastNs = ns;
  return ns;
}

/** parseTimestamp reads dockerd's "seconds[.nanoseconds]" form into nanoseconds. */
export function parseTimestamp(name: string, raw: string | undefined): bigint | undefined {
  if (raw === undefined || raw === '') return undefined;
  const m = /^(-?\d+)(?:\.(\d{1,9}))?$/.exec(raw);
  if (!m) throw new InvalidParameterError(`invalid value for ${name}: ${JSON.stringify(raw)}: expected a Unix timestamp (seconds[.nanoseconds])`);
  const frac = (m[2] ?? '').padEnd(9, '0');
  return BigInt(m[1]!) * 1_000_000_000n + BigInt(frac);
}

export class Events {
  private readonly ring: Recorded[] = [];
  private readonly subscribers = new Set<Subscriber>();

  /** publish records one event and hands it to every subscriber. */
  publish(input: EventInput): void {
    const ns = nowNs();
    const attributes = { ...(input.Actor.Attributes ?? {}) };
    const time = Number(ns / 1_000_000_000n);
    // API 1.41 still carries the legacy status/id/from for container and image events.
    const legacy: Record<string, string> = {};
    if (input.Type === 'container' || input.Type === 'image') {
      legacy.status = input.Action;
      // Go's omitempty: a prune event has no actor, and no "id".
      if (input.Actor.ID) legacy.id = input.Actor.ID;
      if (attributes.image && input.Type === 'container') legacy.from = attributes.image;
    }
    const body = JSON.stringify({ ...legacy, Type: input.Type, Action: input.Action, Actor: { ID: input.Actor.ID, Attributes: sortKeys(attributes) ?? {} }, scope: 'local', time });
    const line = `${body.slice(0, -1)},"timeNano":${ns}}\n`;
    const rec: Recorded = { ns, type: input.Type, action: input.Action, actorId: input.Actor.ID, attributes, scope: 'local', line };
    this.ring.push(rec);
    if (this.ring.length > RING_SIZE) this.ring.shift();
    for (const s of this.subscribers) s(rec);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** The seed's events jobs; the daemon installs them with its own. */
  handlers(): Pick<MainHandlers<'daemon'>, 'events' | 'log' | 'subscribers_count'> {
    return {
      events: (q, job) => this.stream(q, job),
      log: async (input) => this.publish(input),
      subscribers_count: async () => this.subscriberCount,
    };
  }

  /** stream is the `events` job: replay from `since`, then follow until `until` or cancel. */
  private async stream(q: EventsQuery, job: Job): Promise<void> {
    const since = parseTimestamp('since', q.since);
    const until = parseTimestamp('until', q.until);
    if (since !== undefined && until !== undefined && since > until) {
      throw new InvalidParameterError(`\`since\` time (${q.since}) cannot be after \`until\` time (${q.until})`);
    }
    const filters = Filters.parse(q.filters).validate(ACCEPTED_FILTERS);
    for (const t of filters.get('type')) {
      if (!(EVENT_TYPES as readonly string[]).includes(t)) {
        throw new InvalidParameterError(`invalid filter 'type=${t}': event types are ${EVENT_TYPES.join(', ')}`);
      }
    }
    for (const s of filters.get('scope')) {
      if (s !== 'local' && s !== 'swarm') throw new InvalidParameterError(`invalid filter 'scope=${s}'`);
    }
    const out = job.stdout.stream;
    if (!out) throw new SystemError('the events job needs an output stream');

    const inRange = (r: Recorded) => (since === undefined || r.ns >= since) && (until === undefined || r.ns <= until);
    const wanted = (r: Recorded) => inRange(r) && matches(filters, r);

    // Subscribe before the replay so nothing published meanwhile is lost; it waits in the backlog.
    const backlog: Recorded[] = [];
    let wake: (() => void) | null = null;
    let overflow = false;
    const sub: Subscriber = (r) => {
      if (backlog.length >= MAX_BACKLOG) overflow = true;
      else backlog.push(r);
      wake?.();
    };
    const replayFrom = this.ring.slice();
    this.subscribers.add(sub);
    let stopped = false;
    const stop = () => {
      stopped = true;
      wake?.();
    };
    // Cancelled (client gone, shutdown): end the stream at once, even if a write waits for credit.
    const cancel = () => {
      stop();
      out.end();
    };
    job.signal.addEventListener('abort', cancel, { once: true });
    out.closed.addEventListener('abort', stop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      out.begin();
      // As dockerd: either bound asks for the buffered events in range.
      if (since !== undefined || until !== undefined) {
        for (const r of replayFrom) if (wanted(r)) await out.write(r.line);
      }
      if (until !== undefined) {
        if (until <= nowNs()) return;
        // setTimeout holds at most 2^31-1 ms (24.8 days): re-arm until `until` comes.
        const arm = () => {
          const left = Number((until - nowNs()) / 1_000_000n);
          if (left <= 0) return stop();
          timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
        };
        arm();
      }
      const seen = replayFrom.length ? replayFrom[replayFrom.length - 1]!.ns : -1n;
      while (!stopped && !overflow) {
        const r = backlog.shift();
        if (!r) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          continue;
        }
        if (r.ns <= seen) continue; // already replayed
        if (wanted(r)) await out.write(r.line);
      }
      if (overflow) throw new SystemError('this client fell too far behind the events; its stream was cut');
    } finally {
      clearTimeout(timer);
      this.subscribers.delete(sub);
      job.signal.removeEventListener('abort', cancel);
    }
  }
}

/** matches applies the events filters exactly as dockerd's events.Filter.Include. */
function matches(f: Filters, r: Recorded): boolean {
  const name = r.attributes.name ?? '';
  const fuzzyName = (key: string) => f.fuzzyMatch(key, r.actorId) || f.fuzzyMatch(key, name);
  const event = f.containsAny('event', ['health_status', 'exec_create', 'exec_start']) ? f.fuzzyMatch('event', r.action) : f.exactMatch('event', r.action);
  const imageName = r.attributes[r.type === 'image' ? 'name' : 'image'] ?? '';
  const stripTag = (s: string) => s.replace(/:[^/:]*$/, '');
  const image =
    f.exactMatch('image', r.actorId) || f.exactMatch('image', imageName) || f.exactMatch('image', stripTag(r.actorId)) || f.exactMatch('image', stripTag(imageName));
  return (
    event &&
    f.exactMatch('type', r.type) &&
    f.exactMatch('scope', r.scope) &&
    fuzzyName('daemon') &&
    fuzzyName('container') &&
    fuzzyName('plugin') &&
    fuzzyName('volume') &&
    fuzzyName('network') &&
    image &&
    fuzzyName('node') &&
    fuzzyName('service') &&
    fuzzyName('secret') &&
    fuzzyName('config') &&
    f.matchKVList('label', r.attributes)
  );
}

