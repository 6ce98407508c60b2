/**
 * Image configs as dockerd writes them: the top-level keys sorted (dockerd's image marshals
 * through a map), `config` in Go's container.Config field order with unset values null, and
 * the Dockerfile-like `changes` an import may carry (CMD, ENV, EXPOSE, …) with dockerd's
 * messages. The bytes matter: the image ID is their sha256.
 */
import { InvalidParameterError } from '../../../src/errdefs/errors.js';
import type { ContainerConfig, ImageConfig } from '../store/images.js';

/** ORDER is Go's container.Config; `omit` fields appear only when set (omitempty). */
const ORDER: Array<[string, 'omit' | 'keep']> = [
  ['Hostname', 'keep'], ['Domainname', 'keep'], ['User', 'keep'], ['AttachStdin', 'keep'], ['AttachStdout', 'keep'],
  ['AttachStderr', 'keep'], ['ExposedPorts', 'omit'], ['Tty', 'keep'], ['OpenStdin', 'keep'], ['StdinOnce', 'keep'],
  ['Env', 'keep'], ['Cmd', 'keep'], ['Healthcheck', 'omit'], ['ArgsEscaped', 'omit'], ['Image', 'keep'], ['Volumes', 'keep'],
  ['WorkingDir', 'keep'], ['Entrypoint', 'keep'], ['NetworkDisabled', 'omit'], ['MacAddress', 'omit'], ['OnBuild', 'keep'],
  ['Labels', 'keep'], ['StopSignal', 'omit'], ['StopTimeout', 'omit'], ['Shell', 'omit'],
];

const ZERO: Record<string, unknown> = {
  Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false, Tty: false,
  OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Image: '', Volumes: null, WorkingDir: '', Entrypoint: null,
  OnBuild: null, Labels: null,
};

/** containerConfig orders (and fills) a container config as Go marshals it. */
export function containerConfig(c: ContainerConfig | null | undefined): ContainerConfig {
  const src = (c ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, mode] of ORDER) {
    const v = src[key];
    const empty = v === undefined || v === null || v === '' || v === false || (typeof v === 'object' && Object.keys(v as object).length === 0);
    if (mode === 'omit') {
      if (!empty) out[key] = v;
    } else {
      out[key] = v === undefined ? ZERO[key] : v;
    }
  }
  return out as ContainerConfig;
}

/** marshalConfig writes an image config: keys sorted at the top, no trailing newline. */
export function marshalConfig(cfg: ImageConfig): Buffer {
  const doc = cfg as unknown as Record<string, unknown>;
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(doc).sort()) if (doc[k] !== undefined) sorted[k] = doc[k];
  return Buffer.from(JSON.stringify(sorted));
}

const CHANGE_COMMANDS = ['cmd', 'entrypoint', 'healthcheck', 'env', 'expose', 'label', 'onbuild', 'user', 'volume', 'workdir'];

/** A JSON array of strings, or null when the text is not one (then it is the shell form). */
function jsonArray(text: string): string[] | null {
  if (!text.trim().startsWith('[')) return null;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null;
  } catch {
    return null;
  }
}

/** words splits on whitespace, keeping quoted parts together (Dockerfile word splitting, enough for changes). */
function words(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m; (m = re.exec(text)); ) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3]!));
  return out;
}

/** keyValues reads "k=v k2=v2", or the old "k v" form with one pair. */
function keyValues(cmd: string, text: string): Array<[string, string]> {
  const parts = words(text);
  if (parts.length === 0) throw new InvalidParameterError(`${cmd} requires at least one argument`);
  if (!parts[0]!.includes('=')) {
    const value = text.trim().slice(parts[0]!.length).trim();
    if (!value) throw new InvalidParameterError(`${cmd} requires at least two arguments`);
    return [[parts[0]!, value]];
  }
  return parts.map((p) => {
    const i = p.indexOf('=');
    if (i <= 0) throw new InvalidParameterError(`Syntax error - can't find = in "${p}". Must be of the form: name=value`);
    return [p.slice(0, i), p.slice(i + 1)];
  });
}

function duration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/.exec(v);
  if (!m) throw new InvalidParameterError(`time: invalid duration "${v}" for ${flag}`);
  const mult: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  return Math.round(Number(m[1]) * mult[m[2]!]!);
}

/** applyChanges applies `docker import --change` lines to a config, as dockerd's commit/import. */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const c: ContainerConfig = { ...config };
  for (const line of changes) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    const sp = trimmed.search(/\s/);
    const cmd = (sp < 0 ? trimmed : trimmed.slice(0, sp)).toLowerCase();
    const rest = sp < 0 ? '' : trimmed.slice(sp + 1).trim();
    if (!CHANGE_COMMANDS.includes(cmd)) throw new InvalidParameterError(`${cmd} is not a valid change command`);
    const upper = cmd.toUpperCase();
    switch (cmd) {
      case 'cmd':
      case 'entrypoint': {
        const list = jsonArray(rest) ?? (rest ? ['/bin/sh', '-c', rest] : []);
        if (cmd === 'cmd') c.Cmd = list;
        else {
          c.Entrypoint = list;
          c.Cmd = null; // as a Dockerfile: ENTRYPOINT resets CMD
        }
        break;
      }
      case 'env': {
        const env = [...(c.Env ?? [])];
        for (const [k, v] of keyValues(upper, rest)) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        c.Env = env;
        break;
      }
      case 'label': {
        const labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of keyValues(upper, rest)) labels[k] = v;
        c.Labels = labels;
        break;
      }
      case 'expose': {
        const ports = { ...(c.ExposedPorts ?? {}) };
        const list = words(rest);
        if (list.length === 0) throw new InvalidParameterError('EXPOSE requires at least one argument');
        for (const p of list) {
          const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
          if (!m || Number(m[1]) > 65535) throw new InvalidParameterError(`Invalid containerPort: ${p.split('/')[0]}`);
          const proto = (m[3] ?? 'tcp').toLowerCase();
          const end = m[2] ? Number(m[2]) : Number(m[1]);
          for (let port = Number(m[1]); port <= end; port++) ports[`${port}/${proto}`] = {};
        }
        c.ExposedPorts = ports;
        break;
      }
      case 'volume': {
        const vols = { ...(c.Volumes ?? {}) };
        const list = jsonArray(rest) ?? words(rest);
        if (list.length === 0) throw new InvalidParameterError('VOLUME requires at least one argument');
        for (const v of list) vols[v] = {};
        c.Volumes = vols;
        break;
      }
      case 'user':
        if (!rest) throw new InvalidParameterError('USER requires exactly one argument');
        c.User = rest;
        break;
      case 'workdir':
        if (!rest) throw new InvalidParameterError('WORKDIR requires exactly one argument');
        c.WorkingDir = rest.startsWith('/') ? rest : `${c.WorkingDir || '/'}${c.WorkingDir?.endsWith('/') ? '' : '/'}${rest}`.replace(/\/+/g, '/');
        break;
      case 'onbuild':
        if (!rest) throw new InvalidParameterError('ONBUILD requires at least one argument');
        c.OnBuild = [...(c.OnBuild ?? []), rest];
        break;
      case 'healthcheck': {
        const parts = words(rest);
        if (parts[0]?.toUpperCase() === 'NONE') {
          c.Healthcheck = { Test: ['NONE'] };
          break;
        }
        const hc: Record<string, unknown> = {};
        let i = 0;
        for (; i < parts.length && parts[i]!.startsWith('--'); i++) {
          const [flag, value = ''] = parts[i]!.slice(2).split('=');
          if (flag === 'interval') hc.Interval = duration('--interval', value);
          else if (flag === 'timeout') hc.Timeout = duration('--timeout', value);
          else if (flag === 'start-period') hc.StartPeriod = duration('--start-period', value);
          else if (flag === 'retries') hc.Retries = Number(value);
          else throw new InvalidParameterError(`Unknown flag: ${flag}`);
        }
        if (parts[i]?.toUpperCase() !== 'CMD') throw new InvalidParameterError('Unknown type "" in HEALTHCHECK (try CMD)');
        const cmdText = rest.slice(rest.search(/CMD/i) + 3).trim();
        const arr = jsonArray(cmdText);
        hc.Test = arr ? ['CMD', ...arr] : ['CMD-SHELL', cmdText];
        c.Healthcheck = hc;
        break;
      }
    }
  }
  return c;
}
