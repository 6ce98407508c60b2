/**
 * X-Registry-Auth, decoded as dockerd 20.10's routes do it: base64url (the CLI pads it) of a
 * JSON AuthConfig, field names matched without regard to case (Go's encoding/json). A missing,
 * empty or undecodable header — bad base64, not JSON, not an object, a field that is not a
 * string — is anonymous (null), never an error: dockerd falls back to an empty AuthConfig for
 * pull, push (when the header is there) and search. Empty fields are dropped; a config with
 * nothing left is anonymous too.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthConfigArgs as RegistryAuth } from '../../src/protocol/types/registry.js';

const FIELDS = ['username', 'password', 'auth', 'email', 'serveraddress', 'identitytoken', 'registrytoken'] as const;

/** decodeAuthConfig reads one X-Registry-Auth value (or a request body of POST /auth, already parsed). */
export function decodeRegistryAuth(value: string | string[] | undefined): RegistryAuth | null {
  const text = (Array.isArray(value) ? value[0] : value)?.replace(/[\r\n]/g, '') ?? '';
  if (text === '' || !/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  return authConfigFrom(doc);
}

/** authConfigFrom reads a parsed JSON AuthConfig as Go would into types.AuthConfig; null if it would fail or is empty. */
export function authConfigFrom(doc: unknown): RegistryAuth | null {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return null;
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    // Go matches an exact name first, then any case-insensitive one; the last value read wins.
    const field = FIELDS.find((f) => f === key) ?? FIELDS.find((f) => f === key.toLowerCase());
    if (!field) continue;
    if (v === null) continue;
    if (typeof v !== 'string') return null;
    out[field] = v;
  }
  delete out.email; // deprecated, unused by the daemon
  for (const k of Object.keys(out)) if (out[k] === '') delete out[k];
  return Object.keys(out).length > 0 ? (out as RegistryAuth) : null;
}

/** registryAuthOf: the request's X-Registry-Auth, decoded. */
export function registryAuthOf(headers: IncomingHttpHeaders): RegistryAuth | null {
  return decodeRegistryAuth(headers['x-registry-auth']);
}
