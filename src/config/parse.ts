/**
 * parseFlags reads argv the way dockerd's flag library (pflag) does: --name=value,
 * --name value, -x value, -xvalue, -x=value, booleans as --name or --name=false, short booleans
 * combined (-Dv), repeatable lists, and `--` to end the flags. What is left over is returned as
 * positional arguments (the seed's flag.NArg() check rejects them).
 */
import { FLAG_BY_NAME, FLAG_BY_SHORT, type FlagSpec } from './flags.js';

/** A problem with the command line itself: usage on stderr, exit 2 (the seed's flag package). */
export class UsageError extends Error {
  constructor(message: string, readonly showUsage = false) {
    super(message);
  }
}

export type FlagValue = string | boolean | number | string[];

export interface ParsedFlags {
  /** Values of the flags that were given, by canonical long name (aliases resolved). */
  values: Map<string, FlagValue>;
  /** For each flag given, the name the user typed it under (for messages). */
  typed: Map<string, string>;
  positional: string[];
}

export function parseBool(flag: string, v: string): boolean {
  switch (v.toLowerCase()) {
    case '1': case 't': case 'true': return true;
    case '0': case 'f': case 'false': return false;
  }
  throw new UsageError(`invalid argument "${v}" for "${flag}" flag: strconv.ParseBool: parsing "${v}": invalid syntax`);
}

export function parseInt10(flag: string, v: string): number {
  if (!/^[+-]?\d+$/.test(v)) throw new UsageError(`invalid argument "${v}" for "${flag}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number.parseInt(v, 10);
}

export function parseFlags(argv: readonly string[]): ParsedFlags {
  const values = new Map<string, FlagValue>();
  const typed = new Map<string, string>();
  const positional: string[] = [];

  const set = (spec: FlagSpec, shown: string, raw: string | boolean) => {
    const canonical = spec.aliasOf ?? spec.name;
    const target = FLAG_BY_NAME.get(canonical)!;
    let v: FlagValue;
    switch (target.type) {
      case 'bool': v = typeof raw === 'boolean' ? raw : parseBool(shown, raw); break;
      case 'int': v = parseInt10(shown, String(raw)); break;
      case 'list':
      case 'map': v = [...((values.get(canonical) as string[] | undefined) ?? []), String(raw)]; break;
      default: v = String(raw);
    }
    values.set(canonical, v);
    typed.set(canonical, shown);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = FLAG_BY_NAME.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      const shown = `--${name}`;
      if (eq >= 0) set(spec, shown, arg.slice(eq + 1));
      else if (spec.type === 'bool') set(spec, shown, true);
      else if (i + 1 < argv.length) set(spec, shown, argv[++i]!);
      else throw new UsageError(`flag needs an argument: --${name}`);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // One or more short flags: -D, -Dv, -p file, -pfile, -p=file.
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j]!;
        const spec = FLAG_BY_SHORT.get(c);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${c}' in ${arg}`);
        const shown = `-${c}, --${spec.name}`;
        const rest = arg.slice(j + 1);
        if (spec.type === 'bool' && !rest.startsWith('=')) {
          set(spec, shown, true);
          continue;
        }
        if (rest.length > 0) set(spec, shown, rest.startsWith('=') ? rest.slice(1) : rest);
        else if (i + 1 < argv.length) set(spec, shown, argv[++i]!);
        else throw new UsageError(`flag needs an argument: '${c}' in -${c}`);
        break;
      }
      continue;
    }
    positional.push(arg);
  }
  return { values, typed, positional };
}
