/**
 * What the API shows of a container: the inspect document (GET /containers/{id}/json) and the
 * list entry (GET /containers/json) with its filters, as dockerd 20.10 writes them — field
 * order, types, the "Up 5 seconds" status text and the Command quoting included.
 */
import { createHash } from 'node:crypto';
import { InvalidParameterError, SystemError } from '../../errdefs/errors.js';
import { Filters } from '../../protocol/filters.js';
import { nsFromRfc3339, ZERO_TIME } from '../../protocol/time.js';
import { sortKeys } from '../../protocol/json.js';
import type { ContainerRecord } from './store.js';
import { mountsDoc } from './mounts.js';

/** dockerd's units.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

const since = (t: string) => Date.now() - Date.parse(t);

/** The State.Status word (dockerd's StateString). */
export function stateString(rec: ContainerRecord, removing: boolean): string {
  const s = rec.State;
  if (s.Running) return s.Paused ? 'paused' : s.Restarting ? 'restarting' : 'running';
  if (removing) return 'removing';
  if (s.Dead) return 'dead';
  if (s.StartedAt === ZERO_TIME) return 'created';
  return 'exited';
}

/** The list's Status text (dockerd's State.String). */
export function statusText(rec: ContainerRecord, removing: boolean): string {
  const s = rec.State;
  if (s.Running) {
    if (s.Paused) return `Up ${humanDuration(since(s.StartedAt))} (Paused)`;
    if (s.Restarting) return `Restarting (${s.ExitCode}) ${humanDuration(since(s.FinishedAt))} ago`;
    // dockerd's health suffix: "(health: starting)", "(healthy)", "(unhealthy)".
    const h = s.Health?.Status;
    const health = h === 'starting' ? ' (health: starting)' : h ? ` (${h})` : '';
    return `Up ${humanDuration(since(s.StartedAt))}${health}`;
  }
  if (removing) return 'Removal In Progress';
  if (s.Dead) return 'Dead';
  if (s.StartedAt === ZERO_TIME) return 'Created';
  if (s.FinishedAt === ZERO_TIME) return '';
  return `Exited (${s.ExitCode}) ${humanDuration(since(s.FinishedAt))} ago`;
}

/** The networks a container is on (NetworkSettings.Networks keys). */
export function networkNames(rec: ContainerRecord): string[] {
  return Object.keys(rec.NetworkSettings.Networks);
}

export interface InspectExtras {
  removing: boolean;
  execIds: string[] | null;
  sizeRw?: number;
  sizeRootFs?: number;
}

export function inspectDoc(rec: ContainerRecord, x: InspectExtras): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    Id: rec.ID,
    Created: rec.Created,
    Path: rec.Path,
    Args: rec.Args,
    State: { ...rec.State, Status: stateString(rec, x.removing) },
    Image: rec.Image,
    ResolvConfPath: rec.ResolvConfPath,
    HostnamePath: rec.HostnamePath,
    HostsPath: rec.HostsPath,
    LogPath: rec.LogPath,
    Name: rec.Name,
    RestartCount: rec.RestartCount,
    Driver: rec.Driver,
    Platform: rec.Platform,
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: x.execIds,
    HostConfig: { ...rec.HostConfig, PortBindings: sortKeys(rec.HostConfig.PortBindings as Record<string, unknown>) },
    GraphDriver: rec.GraphDriver,
  };
  if (x.sizeRw !== undefined) doc.SizeRw = x.sizeRw;
  if (x.sizeRootFs !== undefined) doc.SizeRootFs = x.sizeRootFs;
  doc.Mounts = mountsDoc(rec);
  // Maps in Go's key order (encoding/json sorts them).
  doc.Config = { ...rec.Config, ...(rec.Config.ExposedPorts ? { ExposedPorts: sortKeys(rec.Config.ExposedPorts as Record<string, unknown>) } : {}), Labels: sortKeys(rec.Config.Labels) };
  const ns = rec.NetworkSettings;
  // The top-level address fields are the default bridge's, as in dockerd.
  const def = ns.Networks.bridge;
  doc.NetworkSettings = {
    Bridge: '',
    SandboxID: ns.SandboxKey ? createHash('sha256').update(ns.SandboxKey).digest('hex') : '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: sortKeys(ns.Ports),
    SandboxKey: ns.SandboxKey,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: def?.EndpointID ?? '',
    Gateway: def?.Gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: def?.IPAddress ?? '',
    IPPrefixLen: def?.IPPrefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: def?.MacAddress ?? '',
    Networks: sortKeys(ns.Networks),
  };
  return doc;
}

interface ListedPort {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

/** The list's Ports: each binding of each published port, or the port alone when only exposed. */
function portList(rec: ContainerRecord): ListedPort[] {
  const out: ListedPort[] = [];
  for (const [key, bindings] of Object.entries(rec.NetworkSettings.Ports ?? {})) {
    const [port, proto = 'tcp'] = key.split('/');
    if (!bindings || bindings.length === 0) out.push({ PrivatePort: Number(port), Type: proto });
    else for (const b of bindings) out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: proto });
  }
  return out;
}

/** portMatches reads a publish/expose filter value: "80", "80/tcp", "8000-8080/udp". */
function portMatches(v: string, port: number | undefined, proto: string): boolean {
  if (port === undefined) return false;
  const m = /^(\d+)(?:-(\d+))?(?:\/(\w+))?$/.exec(v);
  if (!m) return false;
  if (m[3] && m[3] !== proto) return false;
  return port >= Number(m[1]) && port <= Number(m[2] ?? m[1]);
}

/** The list's Command: the path and its arguments, those with a space in single quotes. */
export function commandText(rec: ContainerRecord): string {
  if (rec.Args.length === 0) return rec.Path;
  return `${rec.Path} ${rec.Args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`;
}

export function summary(rec: ContainerRecord, removing: boolean, sizes?: { rw: number; rootFs: number }): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    Id: rec.ID,
    Names: [rec.Name],
    Image: rec.Config.Image,
    ImageID: rec.Image,
    Command: commandText(rec),
    Created: Math.floor(Date.parse(rec.Created) / 1000),
    Ports: portList(rec),
  };
  if (sizes) {
    if (sizes.rw) doc.SizeRw = sizes.rw;
    if (sizes.rootFs) doc.SizeRootFs = sizes.rootFs;
  }
  doc.Labels = sortKeys(rec.Config.Labels) ?? {};
  doc.State = stateString(rec, removing);
  doc.Status = statusText(rec, removing);
  doc.HostConfig = { NetworkMode: rec.HostConfig.NetworkMode };
  doc.NetworkSettings = { Networks: sortKeys(rec.NetworkSettings.Networks) };
  doc.Mounts = mountsDoc(rec);
  return doc;
}

const LIST_FILTERS = ['ancestor', 'before', 'expose', 'exited', 'health', 'id', 'isolation', 'is-task', 'label', 'name', 'network', 'publish', 'since', 'status', 'volume'];
const STATUSES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];

export interface ListQuery {
  all: boolean;
  limit: number;
  filters?: string;
}

export interface ListEnv {
  removing: (rec: ContainerRecord) => boolean;
  /** The IDs of the images a reference names (and their children), for `ancestor`. */
  ancestors: (ref: string) => Promise<string[]>;
  get: (ref: string) => ContainerRecord;
}

/**
 * select applies the list's rules: newest first; `all` or a status filter to see stopped
 * ones; before/since by creation order; limit (`-n`, `--latest`) implies all.
 */
export async function select(records: ContainerRecord[], q: ListQuery, env: ListEnv): Promise<ContainerRecord[]> {
  let f: Filters;
  try {
    f = Filters.parse(q.filters);
  } catch (err) {
    throw new SystemError((err as Error).message.replace(/^invalid filters: /, ''));
  }
  for (const key of f.keys()) if (!LIST_FILTERS.includes(key)) throw new InvalidParameterError(`Invalid filter '${key}'`);
  for (const s of f.get('status')) if (!STATUSES.includes(s)) throw new InvalidParameterError(`Invalid filter 'status=${s}'`);
  for (const h of f.get('health')) if (!['starting', 'healthy', 'unhealthy', 'none'].includes(h)) throw new InvalidParameterError(`Unrecognised filter value for health: ${h}`);
  for (const i of f.get('isolation')) if (!['default', 'process', 'hyperv', ''].includes(i)) throw new InvalidParameterError(`Invalid isolation: "${i}" - linux only supports 'default'`);
  const exited = f.get('exited').map((e) => {
    if (!/^-?\d+$/.test(e)) throw new SystemError(`strconv.Atoi: parsing ${JSON.stringify(e)}: invalid syntax`);
    return Number(e);
  });
  const bound = (key: string) => {
    const v = f.get(key)[0];
    if (v === undefined) return null;
    try {
      return env.get(v);
    } catch {
      throw new SystemError(`no such container ${v}`);
    }
  };
  const before = bound('before');
  const sinceRec = bound('since');
  let ancestorIds: Set<string> | null = null;
  if (f.has('ancestor')) {
    ancestorIds = new Set();
    for (const a of f.get('ancestor')) for (const id of await env.ancestors(a)) ancestorIds.add(id);
  }
  const names = f.get('name').map((n) => {
    try {
      return new RegExp(n);
    } catch {
      return null;
    }
  });

  // By creation time, as numbers: RFC 3339 strings with trimmed fractions do not sort as text.
  const created = new Map(records.map((r) => [r, nsFromRfc3339(r.Created)]));
  const at = (r: ContainerRecord) => created.get(r) ?? nsFromRfc3339(r.Created);
  const sorted = [...records].sort((a, b) => (at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : 0));
  const all = q.all || q.limit > 0 || f.has('status') || f.has('exited');
  const out: ContainerRecord[] = [];
  for (const rec of sorted) {
    const state = stateString(rec, env.removing(rec));
    if (!all && !rec.State.Running) continue;
    if (before && at(rec) >= at(before)) continue;
    if (sinceRec && at(rec) <= at(sinceRec)) continue;
    if (!f.fuzzyMatch('id', rec.ID)) continue;
    if (names.length && !names.some((re) => re !== null && re.test(rec.Name))) continue;
    if (!f.matchKVList('label', rec.Config.Labels ?? {})) continue;
    if (f.has('status') && !f.get('status').includes(state)) continue;
    if (exited.length && (state !== 'exited' || !exited.includes(rec.State.ExitCode))) continue;
    if (ancestorIds && !ancestorIds.has(rec.Image)) continue;
    if (f.has('health') && !f.get('health').includes(rec.State.Health?.Status ?? 'none')) continue;
    if (f.has('network') && !networkNames(rec).some((n) => f.get('network').includes(n) || f.get('network').includes(rec.NetworkSettings.Networks[n]!.NetworkID))) continue;
    if (f.has('publish') && !portList(rec).some((p) => f.get('publish').some((v) => portMatches(v, p.PublicPort, p.Type)))) continue;
    if (f.has('expose') && !portList(rec).some((p) => f.get('expose').some((v) => portMatches(v, p.PrivatePort, p.Type)))) continue;
    // A volume's name or a mount's destination (dockerd's).
    if (f.has('volume') && !Object.values(rec.MountPoints ?? {}).some((m) => f.get('volume').some((v) => v === m.Name || v === m.Destination))) continue;
    if (f.has('is-task') && f.get('is-task').includes('true')) continue;
    out.push(rec);
    if (q.limit > 0 && out.length >= q.limit) break;
  }
  return out;
}
