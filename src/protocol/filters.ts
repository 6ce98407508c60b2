/**
 * Filters is the Engine API's `filters` query parameter: a JSON map from a key to a set of
 * values, {"type":{"container":true}}, or the older list form {"type":["container"]}.
 * The matching rules are dockerd's (api/types/filters): ExactMatch, FuzzyMatch (exact or
 * prefix), MatchKVList (label=key or label=key=value). A key not in the filter matches all.
 */
import { InvalidParameterError } from '../errdefs/errors.js';

export class Filters {
  private constructor(private readonly args: Map<string, Set<string>>) {}

  static empty(): Filters {
    return new Filters(new Map());
  }

  /** parse reads the raw query value; malformed JSON or shapes are a 400. */
  static parse(raw: string | undefined | null): Filters {
    const args = new Map<string, Set<string>>();
    if (!raw) return new Filters(args);
    let doc: unknown;
    try {
      doc = JSON.parse(raw);
    } catch (err) {
      throw new InvalidParameterError(`invalid filters: ${(err as Error).message}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new InvalidParameterError('invalid filters: expected a JSON object of the form {"key":{"value":true}}');
    }
    for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
      const set = new Set<string>();
      if (Array.isArray(v)) {
        for (const x of v) set.add(String(x));
      } else if (typeof v === 'object' && v !== null) {
        for (const [x, on] of Object.entries(v)) if (on) set.add(x);
      } else {
        throw new InvalidParameterError(`invalid filters: the value of "${key}" must be an object or a list`);
      }
      args.set(key, set);
    }
    return new Filters(args);
  }

  /** validate refuses keys the endpoint does not know (dockerd 23+: "invalid filter 'x'"). */
  validate(accepted: readonly string[]): this {
    for (const key of this.args.keys()) {
      if (!accepted.includes(key)) throw new InvalidParameterError(`invalid filter '${key}'`);
    }
    return this;
  }

  keys(): string[] {
    return [...this.args.keys()];
  }

  has(key: string): boolean {
    return this.args.has(key);
  }

  get(key: string): string[] {
    return [...(this.args.get(key) ?? [])];
  }

  /** exactMatch: the key is absent, or source is one of its values. */
  exactMatch(key: string, source: string): boolean {
    const set = this.args.get(key);
    if (!set || set.size === 0) return true;
    return set.has(source);
  }

  /** fuzzyMatch: the key is absent, or source equals or starts with one of its values. */
  fuzzyMatch(key: string, source: string): boolean {
    const set = this.args.get(key);
    if (!set || set.size === 0) return true;
    if (set.has(source)) return true;
    for (const v of set) if (source.startsWith(v)) return true;
    return false;
  }

  /** matchKVList: every value "k" or "k=v" of the key is present in attrs. */
  matchKVList(key: string, attrs: Record<string, string> | undefined): boolean {
    const set = this.args.get(key);
    if (!set || set.size === 0) return true;
    if (!attrs) return false;
    for (const v of set) {
      const i = v.indexOf('=');
      if (i < 0) {
        if (!(v in attrs)) return false;
      } else if (attrs[v.slice(0, i)] !== v.slice(i + 1)) {
        return false;
      }
    }
    return true;
  }

  /** containsAny says whether the key has one of these values. */
  containsAny(key: string, values: readonly string[]): boolean {
    const set = this.args.get(key);
    return !!set && values.some((v) => set.has(v));
  }
}
