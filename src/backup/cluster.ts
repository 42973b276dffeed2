/**
 * One handle on the cluster for a backup run: the members as last probed, the lock, and one client per
 * member endpoint, opened on first use and kept for the run (the source's status, key count and revision
 * at the snapshot's start all go through the same client), closed together at the end. The orchestrator
 * asks the handle instead of going down to etcd/connection.ts for each question; the snapshot itself
 * streams over its own HTTP/2 session beside it (etcd/snapshotStream.ts), as etcd3 cannot stream one.
 */
import type { Etcd3 } from 'etcd3';
import { connect, type EtcdAccess } from '../etcd/connection.ts';
import { countKeys } from '../etcd/keys.ts';
import { acquireLock, type HeldLock, type LockWait } from '../etcd/lock.ts';
import { probeCluster, type MemberProbe } from '../etcd/members.ts';
import { inContext } from '../errors.ts';

export class ClusterHandle {
  private readonly clients = new Map<string, Etcd3>();
  private lockClient: Etcd3 | undefined;
  private held: HeldLock | undefined;

  private constructor(
    readonly access: EtcdAccess,
    private probed: MemberProbe[],
  ) {}

  /** Probes every member once. */
  static async open(access: EtcdAccess): Promise<ClusterHandle> {
    return new ClusterHandle(access, await probeCluster(access));
  }

  /** The members as last probed. */
  get members(): MemberProbe[] {
    return this.probed;
  }

  /** Probes every member again (after a source died, while the cluster elects a new leader). */
  async probe(): Promise<MemberProbe[]> {
    this.probed = await probeCluster(this.access);
    return this.probed;
  }

  get locked(): boolean {
    return this.held !== undefined;
  }

  /** Takes the cluster's lock in etcd through the members that answered, waiting for a crashed run's lease (etcd/lock.ts). */
  async lock(cluster: string, holder: string, ttlSeconds: number, onLost: (error: Error) => void, wait: LockWait): Promise<void> {
    this.lockClient ??= await connect(this.access, this.probed.filter((m) => m.reachable).map((m) => m.endpoint));
    const client = this.lockClient;
    this.held = await inContext('taking the lock in etcd', () => acquireLock(client, cluster, holder, ttlSeconds, onLost, wait));
  }

  /** The client bound to one member, opened on first use. */
  async member(endpoint: string): Promise<Etcd3> {
    let client = this.clients.get(endpoint);
    if (!client) {
      client = await connect(this.access, [endpoint]);
      this.clients.set(endpoint, client);
    }
    return client;
  }

  /** A member's status, revision and live key count at that revision (etcd-dr's own lock keys excluded). */
  async state(endpoint: string) {
    const client = await this.member(endpoint);
    const status = await client.maintenance.status();
    const revision = Number(status.header.revision);
    return { status, revision, keyCount: await countKeys(client, revision) };
  }

  /** A member's current revision. */
  async revision(endpoint: string): Promise<number> {
    const status = await (await this.member(endpoint)).maintenance.status();
    return Number(status.header.revision);
  }

  /** Releases the lock and closes every client. Never throws. */
  async close(): Promise<void> {
    await this.held?.release().catch(() => undefined);
    this.held = undefined;
    this.lockClient?.close();
    this.lockClient = undefined;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
