/** Args and results of the registry jobs: settings, login (POST /auth) and search (#7). */

/**
 * X-Registry-Auth or a POST /auth body, decoded (dockerd's AuthConfig). The same shape as
 * types/distribution.ts's RegistryAuth and the transport's AuthConfig.
 */
export interface AuthConfigArgs {
  username?: string;
  password?: string;
  auth?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

/** The daemon's registry flags, held by the graph actor (the same shape as the transport's RegistrySettings). */
export interface RegistrySettingsArgs {
  /** --registry-mirror URLs, for Docker Hub images only. */
  mirrors: string[];
  /** --insecure-registry entries: CIDRs or host[:port]. */
  insecure: string[];
  /** certs.d: /etc/docker/certs.d unless BERTH_REGISTRY_CERTS_DIR says otherwise. */
  certsDir: string;
  /** --max-concurrent-downloads: layers one pull downloads at once (0 = no limit); 3 when absent. */
  maxConcurrentDownloads?: number;
  /** --max-concurrent-uploads: layers one push uploads at once (0 = no limit); 5 when absent. */
  maxConcurrentUploads?: number;
  /** Caps every request's idle timeout (ms): BERTH_REGISTRY_TIMEOUT_MS, for tests of a hanging registry. */
  timeoutMs?: number;
}

/** POST /auth: dockerd's AuthenticateOKBody, in its key order. */
export interface AuthResult {
  IdentityToken: string;
  Status: string;
}

/** GET /images/search */
export interface SearchArgs {
  term: string;
  limit: number;
  filters?: string;
  auth: AuthConfigArgs | null;
}

/** One result of the registry's v1 search, in dockerd's key order. */
export interface SearchResult {
  star_count: number;
  is_official: boolean;
  name: string;
  is_automated: boolean;
  description: string;
}
