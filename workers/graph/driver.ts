/**
 * The graph driver contract (the seed's graphdriver), shaped like containerd's snapshotter.
 *
 * A snapshot is a directory tree identified by a `key` (the layer store's cache ID). It is
 * either active (writable: a container's layer, or a layer being extracted), committed
 * (immutable: an image layer, usable as a parent), or a view (read-only look at a committed
 * snapshot). Snapshots form chains through their parent.
 *
 *   prepare(key, parent)  an active snapshot on top of committed `parent` (null: empty)
 *   view(key, parent)     a read-only snapshot showing committed `parent`
 *   commit(key)           make an active snapshot committed (in place, as dockerd's overlay2)
 *   remove(key)           delete a snapshot (refused while another names it as parent)
 *   mounts(key)           how to mount it: a description, not the mount itself (the exec
 *                         actor or a test mounts it)
 *   applyDir(key)         where a layer tarball is extracted into an active snapshot, and
 *                         `format` says how whiteouts are written there (layer/apply.ts)
 *   changes(key)          what differs from the parent: [{Path, Kind}] as `docker diff`
 *   diff(key)             those changes as a layer tarball (whiteouts for deletions)
 *   usage(key)            bytes and inodes of the snapshot's own changes
 */
import type { GraphStatus } from '../../src/protocol/types/system.js';

/** What a driver reports; the actor adds the image count. */
export type DriverStatus = Omit<GraphStatus, 'images'>;
import type { LayerFormat } from './layer/apply.js';

export interface Mount {
  type: string;
  source: string;
  options: string[];
}

/** Kind as the Engine API's /containers/{id}/changes: 0 modified, 1 added, 2 deleted. */
export interface Change {
  Path: string;
  Kind: 0 | 1 | 2;
}

export interface Usage {
  size: number;
  inodes: number;
}

export type SnapshotKind = 'active' | 'committed' | 'view';

export interface SnapshotInfo {
  key: string;
  parent: string | null;
  kind: SnapshotKind;
}

export interface GraphDriver {
  readonly name: string;
  readonly format: LayerFormat;
  init(home: string, options: string[]): Promise<void>;
  status(): Promise<DriverStatus>;
  prepare(key: string, parent: string | null): Promise<Mount[]>;
  view(key: string, parent: string): Promise<Mount[]>;
  commit(key: string): Promise<void>;
  remove(key: string): Promise<void>;
  mounts(key: string): Promise<Mount[]>;
  applyDir(key: string): string;
  changes(key: string): Promise<Change[]>;
  diff(key: string): AsyncIterable<Buffer>;
  usage(key: string): Promise<Usage>;
  stat(key: string): Promise<SnapshotInfo | null>;
  /** Every snapshot on disk (the layer store removes the ones it does not know). */
  list(): Promise<SnapshotInfo[]>;
  /** Remove a snapshot whatever state it is in (half-made ones after a crash). */
  purge(key: string): Promise<void>;
}

/** How a driver says whether this host can run it (the reason is shown to the user). */
export type Support = { ok: true } | { ok: false; reason: string };
