/**
 * The graph driver contract (the seed's graphdriver).
 *
 * Today a driver is chosen and initialised under <data-root>/<driver> and reports its status;
 * the layer operations (prepare, view, commit, remove, mounts, diff, usage — shaped like
 * containerd's snapshotter) join this contract with the image issue (#3).
 *
 * Words: `home` is the driver's directory under the data root; `options` are --storage-opt
 * values, "key=value".
 */
import type { GraphStatus } from '../../src/protocol/types/system.js';

export interface GraphDriver {
  readonly name: string;
  init(home: string, options: string[]): Promise<void>;
  status(): Promise<GraphStatus>;
}

/** How a driver says whether this host can run it (the reason is shown to the user). */
export type Support = { ok: true } | { ok: false; reason: string };
