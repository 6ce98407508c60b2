/** Args and documents of the registry image jobs: pull, push, and the distribution inspect (#7). */

/** X-Registry-Auth, decoded (dockerd's AuthConfig); the same shape as the transport's. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  auth?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

/** POST /images/create?fromImage=&tag=&platform= */
export interface PullArgs {
  image: string;
  tag: string;
  platform: string;
  auth: RegistryAuth | null;
}

/** POST /images/{name}/push?tag= (an empty tag: every tag of the repository). */
export interface PushArgs {
  name: string;
  tag: string;
  auth: RegistryAuth | null;
}

/** GET /distribution/{name}/json */
export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: Array<Record<string, unknown>> | null;
}
