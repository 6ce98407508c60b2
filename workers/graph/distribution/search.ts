/**
 * GET /images/search, as dockerd 20.10: the term names the registry ("127.0.0.1:5000/x", or
 * Docker Hub for "x" and "user/x"); the registry's v1 API is asked — GET /v1/_ping over https
 * (then http for an insecure registry; Docker Hub's index is not pinged), then GET
 * /v1/search?q=&n= — and the results are filtered (is-automated, is-official, stars).
 * A Registry v2 server has no v1 API: its 404 is dockerd's "Unexpected status code 404".
 */
import { InvalidParameterError, SystemError } from '../../../src/errdefs/errors.js';
import { Filters } from '../../../src/protocol/filters.js';
import type { SearchArgs, SearchResult } from '../../../src/protocol/types/registry.js';
import { RegistryError } from './errors.js';
import { DEFAULT_CERTS_DIR, INDEX_NAME, INDEX_SERVER, isSecureIndex, normalizeIndexName, tlsFor } from './hosts.js';
import { drain, send } from './http.js';
import type { Endpoint, RegistrySettings } from './transport.js';

const ACCEPTED_FILTERS = ['is-automated', 'is-official', 'stars'];
const PING_TIMEOUT_MS = 15_000;
const SEARCH_TIMEOUT_MS = 60_000;

/** dockerd's splitReposSearchTerm: a first part with '.', ':' or "localhost" is a registry. */
export function splitSearchTerm(term: string): { index: string; remote: string } {
  const i = term.indexOf('/');
  if (i < 0) return { index: INDEX_NAME, remote: term };
  const first = term.slice(0, i);
  if (!first.includes('.') && !first.includes(':') && first !== 'localhost') return { index: INDEX_NAME, remote: term };
  return { index: first, remote: term.slice(i + 1) };
}

function invalidFilter(key: string, values: string[] | string): InvalidParameterError {
  const v = Array.isArray(values) ? `[${values.join(' ')}]` : values;
  return new InvalidParameterError(`Invalid filter '${key}=${v}'`);
}

function uniqueExact(f: Filters, key: string, value: string): boolean {
  const vals = f.get(key);
  return vals.length === 1 && vals[0] === value;
}

/** The v1 ping: only a connection failure is an error (dockerd reads no status). */
async function ping(base: string, ep: Pick<Endpoint, 'tls' | 'insecure'>): Promise<void> {
  const res = await send(`${base}/v1/_ping`, { tls: ep.tls, insecure: ep.insecure, timeoutMs: PING_TIMEOUT_MS });
  drain(res);
}

function toResult(r: Record<string, unknown>): SearchResult {
  return {
    star_count: typeof r.star_count === 'number' ? r.star_count : 0,
    is_official: r.is_official === true,
    name: typeof r.name === 'string' ? r.name : '',
    is_automated: r.is_automated === true,
    description: typeof r.description === 'string' ? r.description : '',
  };
}

export async function searchRegistry(args: SearchArgs, settings: RegistrySettings, signal?: AbortSignal): Promise<SearchResult[]> {
  // Filters first, as dockerd's SearchRegistryForImages.
  const filters = Filters.parse(args.filters);
  // 20.10's wording (capital I); the shared Filters.validate words it as dockerd 23+.
  for (const key of filters.keys()) if (!ACCEPTED_FILTERS.includes(key)) throw new InvalidParameterError(`Invalid filter '${key}'`);
  let isAutomated = false;
  let isOfficial = false;
  let minStars = 0;
  if (filters.has('is-automated')) {
    if (uniqueExact(filters, 'is-automated', 'true')) isAutomated = true;
    else if (!uniqueExact(filters, 'is-automated', 'false')) throw invalidFilter('is-automated', filters.get('is-automated'));
  }
  if (filters.has('is-official')) {
    if (uniqueExact(filters, 'is-official', 'true')) isOfficial = true;
    else if (!uniqueExact(filters, 'is-official', 'false')) throw invalidFilter('is-official', filters.get('is-official'));
  }
  for (const s of filters.get('stars')) {
    if (!/^[+-]?\d+$/.test(s)) throw invalidFilter('stars', s);
    minStars = Math.max(minStars, Number(s));
  }

  if (args.term.includes('://')) throw new InvalidParameterError('invalid repository name (ex: "registry.domain.tld/myrepos")');
  const split = splitSearchTerm(args.term);
  const index = normalizeIndexName(split.index);
  if (index.startsWith('-') || index.endsWith('-')) throw new InvalidParameterError(`invalid index name (${index}). Cannot begin or end with a hyphen.`);
  const official = index === INDEX_NAME;
  const secure = await isSecureIndex(index, settings);
  // tlsFor keeps the index name inside the certs dir ("../x" names the index "..").
  const tls = !official ? await tlsFor(index, secure, { ...settings, certsDir: settings.certsDir || DEFAULT_CERTS_DIR }) : {};
  const ep = { tls, insecure: !secure };

  // dockerd's NewV1Endpoint + validateEndpoint.
  let base = official ? INDEX_SERVER.replace(/\/v1\/$/, '') : `https://${index}`;
  if (!official) {
    try {
      await ping(base, ep);
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      if (secure) {
        throw new SystemError(
          `invalid registry endpoint ${base}/v1/: ${err.message}. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, please add \`--insecure-registry ${index}\` to the daemon's arguments. In the case of HTTPS, if you have access to the registry's CA certificate, no need for the flag; simply place the CA certificate at /etc/docker/certs.d/${index}/ca.crt`,
        );
      }
      const httpBase = `http://${index}`;
      try {
        await ping(httpBase, ep);
      } catch (err2) {
        if (!(err2 instanceof RegistryError)) throw err2;
        throw new SystemError(`invalid registry endpoint "${httpBase}/v1/". HTTPS attempt: ${err.message}. HTTP attempt: ${err2.message}`);
      }
      base = httpBase;
    }
  }

  const limit = args.limit;
  if (limit < 1 || limit > 100) throw new InvalidParameterError(`Limit ${limit} is outside the range of [1, 100]`);
  let remote = split.remote;
  if (official && remote.startsWith('library/')) remote = remote.slice('library/'.length);
  const headers: Record<string, string> = { 'X-Docker-Token': 'true' };
  const auth = args.auth;
  // dockerd's v1 auth transport: Basic on every request to a private https registry, else when a username is known.
  if ((!official && base.startsWith('https:') && auth) || auth?.username) {
    headers.Authorization = `Basic ${Buffer.from(`${auth?.username ?? ''}:${auth?.password ?? ''}`).toString('base64')}`;
  }
  const url = `${base}/v1/search?q=${encodeURIComponent(remote).replace(/%20/g, '+')}&n=${limit}`;
  const res = await send(url, { headers, tls: ep.tls, insecure: ep.insecure, signal, timeoutMs: SEARCH_TIMEOUT_MS });
  if (res.status !== 200) {
    drain(res);
    throw new SystemError(`Unexpected status code ${res.status}`);
  }
  let doc: { results?: unknown };
  try {
    doc = JSON.parse(await res.text(16 << 20)) as { results?: unknown };
  } catch (err) {
    throw new SystemError(`error decoding registry search results: ${err instanceof RegistryError ? err.detail : (err as Error).message}`);
  }
  const results = Array.isArray(doc?.results) ? (doc.results as Record<string, unknown>[]).filter((r) => r && typeof r === 'object').map(toResult) : [];
  return results.filter(
    (r) =>
      (!filters.has('is-automated') || r.is_automated === isAutomated) &&
      (!filters.has('is-official') || r.is_official === isOfficial) &&
      (!filters.has('stars') || r.star_count >= minStars),
  );
}
