/** Documents of the image area as the Engine API (1.41) returns them, and the image jobs' args. */

/** GET /images/json, one entry. */
export interface ImageSummary {
  Containers: number;
  Created: number;
  Id: string;
  Labels: Record<string, string> | null;
  ParentId: string;
  RepoDigests: string[] | null;
  RepoTags: string[] | null;
  SharedSize: number;
  Size: number;
  VirtualSize: number;
}

/** GET /images/{name}/history, one entry. */
export interface HistoryItem {
  Comment: string;
  Created: number;
  CreatedBy: string;
  Id: string;
  Size: number;
  Tags: string[] | null;
}

/** DELETE /images/{name} and prune results, one line. */
export type DeleteItem = { Untagged: string } | { Deleted: string };

export interface PruneReport {
  ImagesDeleted: DeleteItem[] | null;
  SpaceReclaimed: number;
}

export interface ImagesUsage {
  LayersSize: number;
  Images: ImageSummary[];
}

export interface ImportArgs {
  repo: string;
  tag: string;
  message: string;
  changes: string[];
  platform: string;
}

/** POST /commit, the graph's part: the daemon has found the container (and paused it). */
export interface CommitArgs {
  /** The container. */
  id: string;
  /** Its image's ID ("" for none). */
  parentImage: string;
  /** The container's Config: the image's container_config, and what the new config falls back to. */
  containerConfig: Record<string, unknown>;
  /** The request body, if any: the base of the new config. */
  config: Record<string, unknown> | null;
  changes: string[];
  author: string;
  comment: string;
  repo: string;
  tag: string;
}

/** Which containers use which images (the daemon knows; the graph asks before deleting). */
export type ImageUsers = Record<string, { running: string[]; stopped: string[] }>;
