/**
 * Leases during a journal replay. The journal records keys with their lease id, and each segment's
 * manifest the granted TTL of every lease it first saw (LeaseTimeToLive, asked by the follower: etcd stores
 * no grant time). A replay re-creates such a lease with the SAME id (etcd lets a LeaseGrant choose it)
 * before the first put that uses it, with the TTL it had left at the target moment, and keeps every lease
 * alive while the replay runs: a lease expiring inside the throwaway etcd would delete keys at a revision the
 * source never had, and every later revision would be off by one.
 *
 * What is estimated, and how: a lease that had `remainingTtl` seconds left at `askedAt` had
 * `remainingTtl + (askedAt - target)` left at the target, at most its granted TTL. That is exact for a lease
 * nobody renews (Kubernetes' leases for events), and too short for one that is kept alive after the
 * follower asked (a lock), which then looks expired: both cases are reported, never silent.
 */
import type { Etcd3 } from 'etcd3';
import type { LeaseGrant } from '../journal/records.ts';
import { messageOf } from '../errors.ts';
import type { LeaseTtlChange } from './replayLeaseTtl.ts';

/** When, by the journal's clock, a lease expires. */
export function leaseExpiry(grant: LeaseGrant, firstUsedAt: Date | undefined): Date {
  const askedAt = Date.parse(grant.askedAt);
  if (grant.remainingTtl >= 0) return new Date(askedAt + grant.remainingTtl * 1000);
  // Already expired when the follower asked: at the latest then, and at the latest its TTL after the
  // first put that used it (the grant came before that put).
  const byUse = firstUsedAt && grant.grantedTtl > 0 ? firstUsedAt.getTime() + grant.grantedTtl * 1000 : askedAt;
  return new Date(Math.min(askedAt, byUse));
}

/**
 * Whole seconds the lease had left at `target` (floored, so never more than it had), capped at its granted
 * TTL; 0 when it had expired by then.
 */
export function ttlAtTarget(grant: LeaseGrant, firstUsedAt: Date | undefined, target: Date): number {
  const left = Math.floor((leaseExpiry(grant, firstUsedAt).getTime() - target.getTime()) / 1000);
  const cap = grant.grantedTtl > 0 ? grant.grantedTtl : left;
  return Math.max(0, Math.min(left, cap));
}

/**
 * etcd needs a TTL >= 1 to grant. A lease that had expired by the target gets this: it is revoked there, or
 * (etcd-dr's own lock leases) left to expire within seconds of the restore.
 */
const PLACEHOLDER_TTL = 10;
const RENEW_TICK_MS = 250;

interface Tracked {
  readonly ttl: number;
  lastRenewed: number;
}

export interface GrantedLease {
  readonly id: string;
  readonly ttl: number;
  /** False when the journal says it had expired by the target (it is revoked there, with a warning). */
  readonly alive: boolean;
}

/**
 * Keeps the leases of one throwaway etcd alive and grants the journal's leases on first use. Renewals
 * go over one keep-alive stream, each lease at a third of its TTL; the clock used is monotonic and only
 * paces renewals.
 */
export class ReplayLeases {
  private readonly tracked = new Map<string, Tracked>();
  /** Leases the base snapshot held, with their granted TTL: etcd's API cannot shorten them (replayLeaseTtl.ts does). */
  private baseTtls: Map<string, number> | undefined;
  private readonly firstUse = new Map<string, Date>();
  private readonly granted: GrantedLease[] = [];
  private stream: Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private streamError: string | undefined;

  constructor(
    private readonly grants: ReadonlyMap<string, LeaseGrant>,
    private readonly target: Date,
  ) {}

  /** Leases granted by this replay, in order. */
  grantedLeases(): readonly GrantedLease[] {
    return this.granted;
  }

  /** Starts renewing over `client`; after a restart of the throwaway etcd, call again with the new client. */
  async attach(client: Etcd3): Promise<void> {
    this.detach();
    // Leases already in the base snapshot (or granted before a restart): found and renewed like ours.
    const { leases } = await client.leaseClient.leaseLeases();
    const first = this.baseTtls === undefined;
    this.baseTtls ??= new Map();
    for (const { ID } of leases) {
      if (this.tracked.has(ID)) continue;
      const live = await client.leaseClient.leaseTimeToLive({ ID });
      this.tracked.set(ID, { ttl: Math.max(1, Number(live.grantedTTL)), lastRenewed: performance.now() });
      if (first) this.baseTtls.set(ID, Number(live.grantedTTL));
    }
    const stream = await client.leaseClient.leaseKeepAlive();
    stream.on('data', () => undefined);
    stream.on('error', (error) => (this.streamError = messageOf(error)));
    this.stream = stream;
    this.streamError = undefined;
    for (const lease of this.tracked.values()) lease.lastRenewed = 0;
    this.timer = setInterval(() => this.renewDue(), RENEW_TICK_MS);
    this.renewDue();
  }

  /** Stops renewing (before the throwaway etcd stops or restarts). */
  detach(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stream?.cancel();
    this.stream = undefined;
  }

  /** A renewal stream that failed would let leases expire under the replay: the caller fails instead. */
  failure(): string | undefined {
    return this.streamError;
  }

  private renewDue(): void {
    const stream = this.stream;
    if (!stream) return;
    const now = performance.now();
    for (const [id, lease] of this.tracked) {
      if (now - lease.lastRenewed >= (lease.ttl * 1000) / 3) {
        stream.write({ ID: id });
        lease.lastRenewed = now;
      }
    }
  }

  /**
   * Before a put that uses lease `id` (received at `at`): grants it if the throwaway etcd does not hold
   * it. Throws when the journal has no grant record for a lease it needs.
   */
  async ensure(client: Etcd3, id: string, at: Date, revision: number): Promise<void> {
    if (!this.firstUse.has(id)) this.firstUse.set(id, at);
    if (this.tracked.has(id)) return;
    const grant = this.grants.get(id);
    if (!grant) {
      throw new Error(
        `revision ${revision} puts a key with lease ${id}, which is neither in the base backup nor in any segment manifest's leases: ` +
          'the journal cannot say how long it lived',
      );
    }
    const ttl = ttlAtTarget(grant, this.firstUse.get(id), this.target);
    const granted = ttl > 0 ? ttl : PLACEHOLDER_TTL;
    const response = await client.leaseClient.leaseGrant({ ID: id, TTL: granted });
    if (response.error) throw new Error(`granting lease ${id} (TTL ${granted} s) for revision ${revision}: ${response.error}`);
    this.tracked.set(id, { ttl: Math.max(1, Number(response.TTL)), lastRenewed: performance.now() });
    this.granted.push({ id, ttl, alive: ttl > 0 });
  }

  /**
   * Leases the journal knows had expired by the target, which the throwaway etcd still holds: with their
   * grant, those the replay granted and those of the base backup the journal has a record of.
   */
  expiredAtTarget(): string[] {
    const expired: string[] = [];
    for (const id of this.tracked.keys()) {
      const grant = this.grants.get(id);
      if (grant && ttlAtTarget(grant, this.firstUse.get(id), this.target) === 0) expired.push(id);
    }
    return expired;
  }

  /**
   * Leases of the base snapshot still held at the end whose TTL at the target, by the journal's grant
   * record, is shorter than the TTL they were granted: to be shortened in the snapshot file.
   */
  baseLeasesToShorten(): LeaseTtlChange[] {
    const changes: LeaseTtlChange[] = [];
    for (const [id, from] of this.baseTtls ?? []) {
      const grant = this.grants.get(id);
      if (!grant || !this.tracked.has(id)) continue;
      const to = ttlAtTarget(grant, this.firstUse.get(id), this.target);
      if (to > 0 && to < from) changes.push({ id, from, to });
    }
    return changes;
  }

  /** Forgets a revoked lease (no more renewals). */
  forget(id: string): void {
    this.tracked.delete(id);
  }
}
