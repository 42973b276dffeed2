/**
 * The JSON manifest stored beside each backup object. It is written last, so its presence on a store
 * is what makes a backup "listed". Parsing is strict: a manifest we cannot read is treated as unknown,
 * and retention never deletes what it cannot read.
 */
import type { Compression } from './naming.ts';

export const MANIFEST_FORMAT = 1;

export interface SourceMember {
  readonly name: string;
  /** Member id as a hex string (etcd prints ids in hex). */
  readonly id: string;
  /** The client URL the snapshot was taken from. */
  readonly endpoint: string;
  readonly wasLeader: boolean;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly name: string;
  readonly cluster: string;
  /** ISO-8601 UTC time the snapshot started. */
  readonly createdAt: string;
  readonly source: SourceMember;
  /** Highest revision the snapshot is known to contain at least (status taken just before it). */
  readonly revision: number;
  readonly raftTerm: number;
  readonly raftIndex: number;
  readonly etcdVersion: string;
  /** Size of the raw snapshot, including etcd's 32-byte sha256 trailer. */
  readonly dbSize: number;
  /** Live keys at `revision`, excluding etcd-dr's own lock keys. */
  readonly keyCount: number;
  /**
   * True when no write landed between reading `revision` and the start of the snapshot, so the snapshot
   * holds exactly `revision` and `keyCount` must match a restore's latest count exactly. When false the
   * snapshot may hold a few later writes; `keyCount` is still exact at `revision` (a drill checks there).
   */
  readonly keyCountExact: boolean;
  /** sha256 (hex) of the snapshot's database: the value of etcd's own trailer, which the restore checks. */
  readonly snapshotSha256: string;
  /** The stored object: file name, size and sha256 (hex) of exactly the bytes on the store. */
  readonly object: { readonly file: string; readonly size: number; readonly sha256: string };
  readonly compression: Compression;
  /** age recipients the object is encrypted to; empty when not encrypted. */
  readonly encryptedTo: readonly string[];
  /** 'degraded' when no leader was available and the most up-to-date member was used. */
  readonly quality: 'leader' | 'degraded';
  readonly toolVersion: string;
}
