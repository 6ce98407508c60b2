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

/** Which containers use which images (the daemon knows; the graph asks before deleting). */
export type ImageUsers = Record<string, { running: string[]; stopped: string[] }>;
