import { InvalidParameterError } from '../../errdefs/errors.js';

/** parseDetachKeys reads dockerd's detach-keys ("ctrl-p,ctrl-q", "a", "ctrl-@") into bytes. */
export function parseDetachKeys(spec: string): number[] {
  if (!spec) return [16, 17];
  const out: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    if (k.length === 1) {
      out.push(k.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-(.)$/.exec(k);
    if (!m) throw new InvalidParameterError(`Invalid detach keys (${spec}) provided`);
    const c = m[1]!;
    if (c >= 'a' && c <= 'z') out.push(c.charCodeAt(0) - 96);
    else if (c === '@') out.push(0);
    else if (c === '[') out.push(27);
    else if (c === '\\') out.push(28);
    else if (c === ']') out.push(29);
    else if (c === '^') out.push(30);
    else if (c === '_') out.push(31);
    else throw new InvalidParameterError(`Invalid detach keys (${spec}) provided`);
  }
  return out;
}
