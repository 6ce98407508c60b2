/**
 * Logging drivers and their options, checked as dockerd 20.10 checks them: at create
 * (mergeAndVerifyLogConfig: the daemon's defaults merged in, the keys each driver knows, 400
 * with its words) and at start (the json-file logger's New: sizes, counts and booleans, 500
 * "failed to initialize logging driver: …"). berth has json-file and none; dockerd's other
 * drivers are refused with a 501 that names them, an unknown name as dockerd refuses it.
 */

/** Drivers dockerd 20.10 has on Linux that berth does not implement yet. */
export const UNIMPLEMENTED_DRIVERS = ['local', 'syslog', 'journald', 'gelf', 'fluentd', 'awslogs', 'splunk', 'gcplogs', 'logentries', 'etwlogs'];
export const DRIVERS = ['json-file', 'none'];

/** An option problem dockerd reports as the client's (400); `notImplemented`: a 501. */
export class LogOptError extends Error {
  constructor(message: string, readonly notImplemented = false) {
    super(message);
  }
}

/** The cache options of dockerd's dual logging (logcache), and mode/max-buffer-size: every driver's. */
const BUILTIN = new Set(['mode', 'max-buffer-size', 'cache-disabled', 'cache-max-size', 'cache-max-file', 'cache-compress']);
const JSON_FILE_KEYS = new Set(['max-file', 'max-size', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag']);

/**
 * parseSize is go-units' parseSize: "10", "10k", "1.5m", "2g", "100kb", "1MiB"; `binary`
 * is RAMInBytes (k = 1024), else FromHumanSize (k = 1000, what json-file's max-size uses).
 */
export function parseSize(s: string, binary = false): number {
  const m = /^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(s);
  if (!m) throw new LogOptError(`invalid size: '${s}'`);
  const n = Number.parseFloat(m[1]!);
  if (!Number.isFinite(n)) throw new LogOptError(`strconv.ParseFloat: parsing "${m[1]}": invalid syntax`);
  const base = binary ? 1024 : 1000;
  const exp = { '': 0, k: 1, m: 2, g: 3, t: 4, p: 5 }[(m[3] ?? '').toLowerCase()] ?? 0;
  return Math.trunc(n * base ** exp);
}

/** Go's strconv.ParseBool. */
function parseBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new LogOptError(`strconv.ParseBool: parsing "${s}": invalid syntax`);
}

/** Go's strconv.Atoi. */
function atoi(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) throw new LogOptError(`strconv.Atoi: parsing "${s}": invalid syntax`);
  return Number.parseInt(s, 10);
}

/**
 * validateLogOpts is dockerd's logger.ValidateLogOpts: the options every driver shares, then
 * the driver's own keys. Throws LogOptError.
 */
export function validateLogOpts(driver: string, cfg: Record<string, string>): void {
  if (driver === 'none') return;
  const mode = cfg.mode ?? '';
  if (!['', 'blocking', 'non-blocking'].includes(mode)) throw new LogOptError(`logger: logging mode not supported: ${mode}`);
  if ('max-buffer-size' in cfg) {
    if (mode !== 'non-blocking') throw new LogOptError("logger: max-buffer-size option is only supported with 'mode=non-blocking'");
    try {
      parseSize(cfg['max-buffer-size']!, true);
    } catch (err) {
      throw new LogOptError(`error parsing option max-buffer-size: ${(err as Error).message}`);
    }
  }
  const disabled = cfg['cache-disabled'];
  if (disabled) {
    try {
      parseBool(disabled);
    } catch {
      throw new LogOptError(`invalid value for option cache-disabled: ${disabled}`);
    }
  }
  if (UNIMPLEMENTED_DRIVERS.includes(driver)) {
    throw new LogOptError(`berth does not implement the ${driver} logging driver yet (planned: a later issue; berth has ${DRIVERS.join(' and ')})`, true);
  }
  if (!DRIVERS.includes(driver)) throw new LogOptError(`logger: no log driver named '${driver}' is registered`);
  for (const key of Object.keys(cfg)) {
    if (BUILTIN.has(key)) continue;
    if (!JSON_FILE_KEYS.has(key)) throw new LogOptError(`unknown log opt '${key}' for json-file log driver`);
  }
}

/**
 * mergeLogConfig is dockerd's mergeAndVerifyLogConfig: the daemon's driver when none is
 * given, its options under those given when the driver is the daemon's (and its cache-*
 * options whatever the driver), then validateLogOpts.
 */
export function mergeLogConfig(type: string, config: Record<string, string>, defaults: { type: string; config: Record<string, string> }): { Type: string; Config: Record<string, string> } {
  const t = type || defaults.type;
  const c: Record<string, string> = { ...config };
  for (const [k, v] of Object.entries(defaults.config)) {
    if (k in c) continue;
    if (t === defaults.type || (k.startsWith('cache-') && BUILTIN.has(k))) c[k] = v;
  }
  validateLogOpts(t, c);
  return { Type: t, Config: c };
}

/** What the exec actor needs to write a container's json-file log. */
export interface JsonFileOptions {
  /** Bytes; -1 = no limit (no rotation). */
  maxSize: number;
  maxFiles: number;
  compress: boolean;
  /** The "attrs" object of every entry (labels, env, tag), JSON; '' = none. */
  attrs: string;
}

/** What dockerd's logger.Info offers the tag template and the attributes. */
export interface LogInfo {
  id: string;
  name: string;
  imageId: string;
  imageName: string;
  path: string;
  args: string[];
  env: string[];
  labels: Record<string, string>;
  hostname: string;
}

/** tag renders dockerd's tag template: {{.ID}}, {{.FullID}}, {{.Name}}, {{.ImageID}}, … */
function renderTag(tmpl: string, info: LogInfo): string {
  const fields: Record<string, string> = {
    ID: info.id.slice(0, 12),
    FullID: info.id,
    Name: info.name.replace(/^\//, ''),
    ImageID: info.imageId.replace(/^sha256:/, '').slice(0, 12),
    ImageFullID: info.imageId,
    ImageName: info.imageName,
    DaemonName: 'docker',
    Command: [info.path, ...info.args].join(' '),
    Hostname: info.hostname,
  };
  return tmpl.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_m, expr: string) => {
    const f = /^\.(\w+)$/.exec(expr);
    if (!f) throw new LogOptError(`berth does not implement the tag template "{{${expr}}}" yet (it has {{.ID}}, {{.FullID}}, {{.Name}}, {{.ImageID}}, {{.ImageFullID}}, {{.ImageName}}, {{.DaemonName}}, {{.Command}}, {{.Hostname}})`, true);
    if (!(f[1]! in fields)) throw new LogOptError(`template: log-tag:1:${_m.indexOf('.') + 1}: executing "log-tag" at <.${f[1]}>: can't evaluate field ${f[1]} in type *logger.Info`);
    return fields[f[1]!]!;
  });
}

/** Go's regexp is RE2; JavaScript's is close enough for the names of labels and variables. */
function compile(re: string): RegExp {
  try {
    return new RegExp(re);
  } catch (err) {
    throw new LogOptError(`error parsing regexp: ${(err as Error).message}`);
  }
}

/** Go's encoding/json of a map[string]string: keys sorted, <, > and & escaped. */
function goJsonMap(m: Map<string, string>): string {
  const esc = (s: string) => JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const keys = [...m.keys()].sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  return `{${keys.map((k) => `${esc(k)}:${esc(m.get(k)!)}`).join(',')}}`;
}

/**
 * jsonFileOptions is the json-file logger's New: its options parsed (dockerd's errors, which
 * the start reports as "failed to initialize logging driver: …") and its attributes made.
 */
export function jsonFileOptions(cfg: Record<string, string>, info: LogInfo | null): JsonFileOptions {
  let maxSize = -1;
  if ('max-size' in cfg) {
    maxSize = parseSize(cfg['max-size']!);
    if (maxSize <= 0) throw new LogOptError('max-size must be a positive number');
  }
  let maxFiles = 1;
  if ('max-file' in cfg) {
    maxFiles = atoi(cfg['max-file']!);
    if (maxFiles < 1) throw new LogOptError('max-file cannot be less than 1');
  }
  let compress = false;
  if ('compress' in cfg) {
    compress = parseBool(cfg.compress!);
    if (compress && (maxFiles === 1 || maxSize === -1)) throw new LogOptError('compress cannot be true when max-file is less than 2 or max-size is not set');
  }
  if (!info) return { maxSize, maxFiles, compress, attrs: '' };
  const extra = new Map<string, string>();
  if (cfg.labels) for (const l of cfg.labels.split(',')) if (l in info.labels) extra.set(l, info.labels[l]!);
  if (cfg['labels-regex']) {
    const re = compile(cfg['labels-regex']);
    for (const [k, v] of Object.entries(info.labels)) if (re.test(k)) extra.set(k, v);
  }
  const env = new Map<string, string>();
  for (const e of info.env) {
    const i = e.indexOf('=');
    if (i >= 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  if (cfg.env) for (const l of cfg.env.split(',')) if (env.has(l)) extra.set(l, env.get(l)!);
  if (cfg['env-regex']) {
    const re = compile(cfg['env-regex']);
    for (const [k, v] of env) if (re.test(k)) extra.set(k, v);
  }
  // No default template: a tag only when asked for.
  const tag = cfg.tag ? renderTag(cfg.tag, info) : '';
  if (tag) extra.set('tag', tag);
  return { maxSize, maxFiles, compress, attrs: extra.size ? goJsonMap(extra) : '' };
}
