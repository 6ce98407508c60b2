/**
 * daemon.json: dockerd's configuration file keys (the flag table says which). Errors read as
 * dockerd's ("unable to configure the daemon with file …: …"), except that a syntax error
 * also says where it is (line and column), which dockerd does not.
 */
import { readFileSync } from 'node:fs';
import { FLAG_BY_KEY, type FlagSpec } from './flags.js';
import type { FlagValue } from './parse.js';
import { parseJson } from '../protocol/json.js';

export class ConfigFileError extends Error {}

function fail(file: string, msg: string): never {
  throw new ConfigFileError(`unable to configure the daemon with file ${file}: ${msg}`);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function coerce(file: string, key: string, spec: FlagSpec, v: unknown): FlagValue {
  const want = { string: 'a string', bool: 'a boolean', int: 'a number', list: 'an array of strings', map: 'an object of strings' }[spec.type];
  const bad = () => fail(file, `invalid value for "${key}": expected ${want}, got ${typeName(v)}`);
  switch (spec.type) {
    case 'string': return typeof v === 'string' ? v : bad();
    case 'bool': return typeof v === 'boolean' ? v : bad();
    case 'int': return typeof v === 'number' && Number.isInteger(v) ? v : bad();
    case 'list': return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : bad();
    // Kept as the flag's key=value strings.
    case 'map': return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string') ? Object.entries(v as Record<string, string>).map(([k, x]) => `${k}=${x}`) : bad();
  }
}

/**
 * loadDaemonJson reads the file into flag values keyed by canonical flag name. A missing file
 * is an error only when `required` (the user named it with --config-file).
 */
export function loadDaemonJson(file: string, required: boolean): Map<string, { key: string; value: FlagValue }> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' && !required) return new Map();
    fail(file, `open ${file}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
  }
  if (text.trim() === '') return new Map();
  let doc: unknown;
  try {
    doc = parseJson(text);
  } catch (err) {
    fail(file, `invalid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail(file, `the file must hold a JSON object, not ${typeName(doc)}`);
  const unknown = Object.keys(doc).filter((k) => !FLAG_BY_KEY.has(k)).sort();
  if (unknown.length) fail(file, `the following directives don't match any configuration option: ${unknown.join(', ')}`);
  const out = new Map<string, { key: string; value: FlagValue }>();
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    const spec = FLAG_BY_KEY.get(key)!;
    const canonical = spec.aliasOf ?? spec.name;
    if (out.has(canonical)) fail(file, `"${key}" and "${out.get(canonical)!.key}" both set the same option; keep one`);
    out.set(canonical, { key, value: coerce(file, key, spec, v) });
  }
  return out;
}

/** conflicts lists the keys set both in the file and as flags, in dockerd's words. */
export function conflictMessage(file: string, conflicts: Array<{ key: string; flag: FlagValue; file: FlagValue }>): string {
  const show = (v: FlagValue) => (Array.isArray(v) ? `[${v.join(' ')}]` : String(v));
  const list = conflicts.map((c) => `${c.key}: (from flag: ${show(c.flag)}, from file: ${show(c.file)})`).join(', ');
  return `unable to configure the daemon with file ${file}: the following directives are specified both as a flag and in the configuration file: ${list}`;
}
