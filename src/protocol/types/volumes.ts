/** The volume area: the API documents (dockerd 20.10's volume object) and the jobs' args. */

export interface VolumeDoc {
  /** RFC 3339 in whole seconds, as dockerd 20.10 shows it. */
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  /** The driver options given at create (null when none). */
  Options: Record<string, string> | null;
  Scope: 'local';
  /** Only in /system/df. */
  UsageData?: { RefCount: number; Size: number };
}

export interface VolumeListResult {
  Volumes: VolumeDoc[];
  Warnings: string[] | null;
}

export interface VolumesPruneReport {
  VolumesDeleted: string[] | null;
  SpaceReclaimed: number;
}
