/**
 * parseJson is JSON.parse with an error that says where the problem is (line and column), for
 * daemon.json and for request bodies alike. V8's own messages (Node 20) no longer carry a
 * position, so on failure a small scanner walks the text to find the first bad character.
 */
export class JsonSyntaxError extends Error {}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const { pos, what } = firstError(text);
    const before = text.slice(0, pos);
    const line = before.split('\n').length;
    const column = pos - before.lastIndexOf('\n');
    throw new JsonSyntaxError(`${what} at line ${line}, column ${column}`);
  }
}

/** firstError scans JSON (RFC 8259) and returns the offset of the first error. */
function firstError(s: string): { pos: number; what: string } {
  let i = 0;
  class Stop {
    constructor(readonly pos: number, readonly what: string) {}
  }
  const fail = (what: string): never => {
    throw new Stop(i, i >= s.length ? 'unexpected end of JSON input' : `${what} ${JSON.stringify(s[i])}`);
  };
  const ws = () => {
    while (i < s.length && ' \t\n\r'.includes(s[i]!)) i++;
  };
  const literal = (word: string) => {
    for (const c of word) {
      if (s[i] !== c) fail('invalid character');
      i++;
    }
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= s.length) fail('');
      const c = s[i]!;
      if (c === '"') return void i++;
      if (c === '\\') {
        i++;
        if (s[i] === 'u') {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(s[i + k] ?? '')) ((i += k), fail('invalid character in \\u escape'));
          i += 5;
        } else if (i < s.length && '"\\/bfnrt'.includes(s[i]!)) i++;
        else fail('invalid escape character');
      } else if (c < ' ') fail('invalid control character in string');
      else i++;
    }
  };
  const number = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(s.slice(i));
    if (!m) fail('invalid character');
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') return void i++;
      for (;;) {
        ws();
        if (s[i] !== '"') fail('invalid character looking for beginning of object key string:');
        string();
        ws();
        if (s[i] !== ':') fail("invalid character after object key (expecting ':'):");
        i++;
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === '}') return void i++;
        fail("invalid character after object key:value pair (expecting ',' or '}'):");
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ']') return void i++;
        fail("invalid character after array element (expecting ',' or ']'):");
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    fail('invalid character looking for beginning of value:');
  };
  try {
    value();
    ws();
    if (i < s.length) fail('invalid character after top-level value:');
    return { pos: s.length, what: 'invalid JSON' };
  } catch (e) {
    if (e instanceof Stop) return { pos: e.pos, what: e.what };
    throw e;
  }
}

/** sortKeys copies a map with its keys in Go's order (encoding/json sorts map keys). */
export function sortKeys<T>(map: Record<string, T> | null | undefined): Record<string, T> | null | undefined {
  if (!map) return map;
  return Object.fromEntries(Object.keys(map).sort().map((k) => [k, map[k]!]));
}
