/**
 * pathMatch is Go's path.Match: '*' any run of non-'/' characters, '?' one, '[…]' a class
 * ('^' or '!' negates, ranges, '\' escapes). A malformed pattern is an error, as in Go.
 */
export class PatternError extends Error {
  constructor() {
    super('syntax error in pattern');
  }
}

function toRegex(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      if (i + 1 >= pattern.length) throw new PatternError();
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    } else if (c === '[') {
      let j = i + 1;
      let cls = '';
      if (pattern[j] === '^' || pattern[j] === '!') {
        cls += '^';
        j++;
      }
      let closed = false;
      let first = true;
      for (; j < pattern.length; j++) {
        const d = pattern[j]!;
        if (d === ']' && !first) {
          closed = true;
          break;
        }
        first = false;
        if (d === '\\') {
          if (j + 1 >= pattern.length) throw new PatternError();
          cls += `\\${pattern[++j]}`;
        } else if (d === '-' ) cls += '-';
        else cls += d.replace(/[\]\\^]/g, '\\$&');
      }
      if (!closed || cls === '' || cls === '^') throw new PatternError();
      re += `[${cls}]`;
      i = j;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  try {
    return new RegExp(re + '$');
  } catch {
    throw new PatternError();
  }
}

export function pathMatch(pattern: string, name: string): boolean {
  return toRegex(pattern).test(name);
}
