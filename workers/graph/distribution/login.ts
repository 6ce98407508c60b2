/**
 * POST /auth (docker login), as dockerd 20.10's registry service Auth: the server address
 * names the registry (Docker Hub when empty), its endpoints are the push endpoints (no mirrors:
 * credentials never go to a mirror), and each is tried with loginV2 until one answers; an error
 * that is not a fallback error (the registry spoke registry/2.0) ends the loop, otherwise the
 * last endpoint's error is the answer.
 */
import { InvalidParameterError } from '../../../src/errdefs/errors.js';
import type { AuthResult } from '../../../src/protocol/types/registry.js';
import { RegistryError } from './errors.js';
import { INDEX_NAME } from './hosts.js';
import type { AuthConfig, RegistrySettings, Transport } from './transport.js';

/** The registry a login is for: serveraddress's host ("https://index.docker.io/v1/" → docker.io). */
export function loginHost(serverAddress: string | undefined): string {
  if (!serverAddress) return INDEX_NAME;
  const withScheme = /^https?:\/\//.test(serverAddress) ? serverAddress : `https://${serverAddress}`;
  let host: string;
  try {
    host = new URL(withScheme).host;
  } catch (err) {
    throw new InvalidParameterError(`unable to parse server address: parse "${withScheme}": ${(err as Error).message}`);
  }
  return host === 'index.docker.io' ? INDEX_NAME : host;
}

export async function registryLogin(transport: Transport, settings: RegistrySettings, auth: AuthConfig): Promise<AuthResult> {
  const host = loginHost(auth.serveraddress);
  let endpoints;
  try {
    endpoints = (await transport.endpointsFor(host, settings)).filter((e) => !e.mirror);
  } catch (err) {
    throw err instanceof InvalidParameterError ? err : new InvalidParameterError((err as Error).message);
  }
  let last: unknown = new InvalidParameterError(`no endpoint for ${host}`);
  for (const ep of endpoints) {
    try {
      const { identityToken } = await transport.login(ep, auth);
      return { IdentityToken: identityToken, Status: 'Login Succeeded' };
    } catch (err) {
      last = err;
      if (err instanceof RegistryError && err.fallback) continue;
      throw err;
    }
  }
  throw last;
}
