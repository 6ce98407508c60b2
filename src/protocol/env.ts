/**
 * Env is the seed's job environment: an ordered list of "KEY=value" strings with typed
 * accessors (Setenv/SetenvBool/SetenvInt/SetenvJson/SetenvList and their getters). It crosses
 * threads as that list of strings. The last value set for a key wins.
 */
export class Env {
  private readonly vars = new Map<string, string>();

  constructor(list: readonly string[] = []) {
    for (const kv of list) {
      const i = kv.indexOf('=');
      if (i > 0) this.vars.set(kv.slice(0, i), kv.slice(i + 1));
    }
  }

  has(key: string): boolean {
    return this.vars.has(key);
  }

  get(key: string): string {
    return this.vars.get(key) ?? '';
  }

  set(key: string, value: string): void {
    this.vars.set(key, value);
  }

  /** "1", "true" (any case) and "yes" are true, as the 2014 engine read them. */
  getBool(key: string): boolean {
    const v = this.get(key).trim().toLowerCase();
    return v === '1' || v === 'true' || v === 'yes';
  }

  setBool(key: string, value: boolean): void {
    this.set(key, value ? '1' : '0');
  }

  /** getInt returns -1 when the value is absent or not an integer (the seed's behaviour). */
  getInt(key: string): number {
    const v = this.get(key).trim();
    return /^-?\d+$/.test(v) ? Number.parseInt(v, 10) : -1;
  }

  setInt(key: string, value: number): void {
    if (!Number.isInteger(value)) throw new TypeError(`env ${key}: ${value} is not an integer`);
    this.set(key, String(value));
  }

  getJson<T = unknown>(key: string): T | undefined {
    const v = this.get(key);
    if (v === '') return undefined;
    return JSON.parse(v) as T;
  }

  setJson(key: string, value: unknown): void {
    this.set(key, JSON.stringify(value));
  }

  /** A list is stored as JSON; a plain string reads as a one-element list. */
  getList(key: string): string[] {
    const v = this.get(key);
    if (v === '') return [];
    try {
      const parsed: unknown = JSON.parse(v);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // not JSON: a single value
    }
    return [v];
  }

  setList(key: string, value: readonly string[]): void {
    this.setJson(key, value);
  }

  keys(): string[] {
    return [...this.vars.keys()];
  }

  toList(): string[] {
    return [...this.vars].map(([k, v]) => `${k}=${v}`);
  }
}
