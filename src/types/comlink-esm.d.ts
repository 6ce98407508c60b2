// comlink 4.4 has no "exports" map and its "main" is a UMD bundle; its ESM build lives at
// these paths. The types are the package's own.
declare module 'comlink/dist/esm/comlink.mjs' {
  export * from 'comlink';
}
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  export default function nodeEndpoint(nep: unknown): Endpoint;
}
