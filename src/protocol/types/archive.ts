/** docker cp (/containers/{id}/archive): the stat document and the graph jobs' args. */

/** dockerd's ContainerPathStat (X-Docker-Container-Path-Stat, base64 JSON); mode in Go's os.FileMode bits. */
export interface ContainerPathStat {
  name: string;
  size: number;
  mode: number;
  /** RFC 3339 with nanoseconds, UTC. */
  mtime: string;
  /** A symlink's target fully resolved inside the container, as an absolute container path. */
  linkTarget: string;
}

/** A mount the archive jobs cross into: the host Source at the container Destination. */
export interface ArchiveMount {
  destination: string;
  source: string;
  rw: boolean;
}

/** Where a container's files are: its mounted root filesystem and its volumes and binds. */
export interface ArchiveRoot {
  rootfs: string;
  mounts: ArchiveMount[];
  /** The path as the client gave it, and the container as it named it (for dockerd's messages). */
  path: string;
  container: string;
}

export interface ArchivePutArgs extends ArchiveRoot {
  readonlyRootfs: boolean;
  noOverwriteDirNonDir: boolean;
  /** Chown what is extracted to the container's user (Config.User; "" means keep the tar's ids). */
  copyUIDGID: boolean;
  user: string;
}
