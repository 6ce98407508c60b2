/**
 * Container records, as dockerd keeps them: <data-root>/containers/<id>/config.v2.json (the
 * container) and hostconfig.json (its HostConfig), written atomically; names ("/web") and IDs
 * resolved the way dockerd resolves them (full ID, name, unique ID prefix).
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidParameterError, NotFoundError, SystemError } from '../../errdefs/errors.js';
import { atomicWriteFile } from '../../fs/atomic.js';
import type { ContainerState } from '../../protocol/types/containers.js';
import { ZERO_TIME } from '../../protocol/time.js';
import type { ContainerConfig } from './config.js';
import type { EndpointSettings, PortMap } from '../../protocol/types/networks.js';

export interface ContainerRecord {
  ID: string;
  Created: string;
  Path: string;
  Args: string[];
  Config: ContainerConfig;
  /** Stored in hostconfig.json, as dockerd does; always the full, normalised document. */
  HostConfig: Record<string, unknown> & { AutoRemove: boolean; NetworkMode: string };
  State: ContainerState;
  /** The image ID. */
  Image: string;
  Name: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  LogPath: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  /**
   * Where its /dev/shm comes from (dockerd's ShmPath, not inspected): the daemon's tmpfs for
   * --ipc shareable, /dev/shm for host, the donor's for container:<x>; '' otherwise.
   */
  ShmPath?: string;
  GraphDriver: { Data: Record<string, string> | null; Name: string };
  /** Its networks (the settings of this run while it runs), published ports, namespace. */
  NetworkSettings: { Networks: Record<string, EndpointSettings>; Ports: PortMap; SandboxKey: string };
  /**
   * Its mounts by destination, as dockerd's MountPoints: volumes and binds carry the host
   * Source; tmpfs has none (it exists only inside the container). Absent on older records.
   */
  MountPoints?: Record<string, MountPoint>;
  HasBeenStartedBefore: boolean;
  HasBeenManuallyStopped: boolean;
}

export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  /** The host path (a volume's _data directory); '' for tmpfs. */
  Source: string;
  Destination: string;
  RW: boolean;
  /** The volume's name, and its driver ('local'). */
  Name?: string;
  Driver?: string;
  /** What inspect shows as Mode ("", "ro", "z", ...) and Propagation ("rprivate"). */
  Mode?: string;
  Propagation?: string;
  /** tmpfs options (size, mode), and volume-nocopy. */
  Options?: string[];
  /** A volume made for this container (no name given): `rm -v` and --rm remove it. */
  Anonymous?: boolean;
  /** The volume is still to be filled from the image at its first start (not with nocopy). */
  CopyPending?: boolean;
  /** A bind mount that is not recursive (BindOptions.NonRecursive). */
  NonRecursive?: boolean;
}

export function zeroState(): ContainerState {
  return { Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME };
}

const NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function validName(name: string): string {
  if (!NAME.test(name)) throw new InvalidParameterError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.startsWith('/') ? name : `/${name}`;
}

export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, string>();

  constructor(readonly root: string) {}

  dir(id: string): string {
    return join(this.root, id);
  }

  async load(log: (msg: string) => void): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o710 });
    for (const id of await readdir(this.root)) {
      try {
        const rec = JSON.parse(await readFile(join(this.root, id, 'config.v2.json'), 'utf8')) as ContainerRecord;
        rec.HostConfig = JSON.parse(await readFile(join(this.root, id, 'hostconfig.json'), 'utf8').catch(() => '{}'));
        rec.NetworkSettings ??= { Networks: {}, Ports: {}, SandboxKey: '' };
        this.byId.set(rec.ID, rec);
        this.byName.set(rec.Name, rec.ID);
      } catch (err) {
        log(`removing the unreadable container ${id}: ${(err as Error).message}`);
        await rm(join(this.root, id), { recursive: true, force: true });
      }
    }
  }

  /** save writes the record (and its HostConfig) atomically. */
  async save(rec: ContainerRecord): Promise<void> {
    const { HostConfig, ...rest } = rec;
    await mkdir(this.dir(rec.ID), { recursive: true, mode: 0o710 });
    await atomicWriteFile(join(this.dir(rec.ID), 'config.v2.json'), JSON.stringify(rest), 0o600);
    await atomicWriteFile(join(this.dir(rec.ID), 'hostconfig.json'), JSON.stringify(HostConfig), 0o644);
  }

  /** reserve claims a name for an ID (409 with dockerd's message when taken). */
  reserve(name: string, id: string): void {
    const owner = this.byName.get(name);
    if (owner && owner !== id) {
      throw new ConflictError(`Conflict. The container name "${name}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    this.byName.set(name, id);
  }

  release(name: string): void {
    this.byName.delete(name);
  }

  add(rec: ContainerRecord): void {
    this.byId.set(rec.ID, rec);
  }

  async remove(rec: ContainerRecord): Promise<void> {
    this.byId.delete(rec.ID);
    if (this.byName.get(rec.Name) === rec.ID) this.byName.delete(rec.Name);
    await rm(this.dir(rec.ID), { recursive: true, force: true });
  }

  list(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  /** get finds a container by ID, name or unique ID prefix, as dockerd's GetContainer. */
  get(ref: string): ContainerRecord {
    if (!ref) throw new NotFoundError('No such container: ');
    const direct = this.byId.get(ref) ?? this.byId.get(this.byName.get(ref.startsWith('/') ? ref : `/${ref}`) ?? '');
    if (direct) return direct;
    if (/^[0-9a-f]+$/.test(ref)) {
      const hits = [...this.byId.keys()].filter((id) => id.startsWith(ref));
      if (hits.length > 1) throw new SystemError(`Multiple IDs found with provided prefix: ${ref}`);
      if (hits.length === 1) return this.byId.get(hits[0]!)!;
    }
    throw new NotFoundError(`No such container: ${ref}`);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** A name dockerd would generate ("adjective_surname"); berth uses a short random one. */
  generateName(id: string): string {
    for (let i = 0; ; i++) {
      const name = `/${ADJECTIVES[(parseInt(id.slice(i, i + 4), 16) || i) % ADJECTIVES.length]}_${NAMES[(parseInt(id.slice(i + 4, i + 8), 16) || i) % NAMES.length]}`;
      if (!this.byName.has(name)) return name;
    }
  }
}

const ADJECTIVES = ['admiring', 'brave', 'calm', 'clever', 'eager', 'focused', 'gallant', 'happy', 'jolly', 'keen', 'lucid', 'modest', 'nifty', 'quirky', 'serene', 'tender', 'vibrant', 'wizardly', 'zealous', 'bold'];
const NAMES = ['hopper', 'lovelace', 'turing', 'knuth', 'ritchie', 'thompson', 'liskov', 'hamilton', 'babbage', 'dijkstra', 'wozniak', 'noether', 'curie', 'shannon', 'torvalds', 'perlman', 'goldberg', 'kay', 'lamport', 'backus'];
