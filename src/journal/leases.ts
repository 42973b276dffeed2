/**
 * The TTL of every lease a segment's puts carry, asked from etcd (LeaseTimeToLive) the first time this
 * writer sees the lease, so a replay can re-create leases with their TTLs. etcd does not put a lease's TTL
 * in the watch event, and a lease that expired before we asked answers TTL -1 (its keys' deletions are in
 * the journal anyway).
 */
import type { LeaseTimeToLive } from '../etcd/leaseMessages.ts';
import type { LeaseGrant } from './records.ts';

/** Asks etcd for one lease's TTLs (leaseTimeToLive in etcd/leases.ts). */
export type AskTimeToLive = (id: string) => Promise<LeaseTimeToLive>;

export class LeaseTracker {
  private readonly seen = new Set<string>();

  constructor(
    private readonly timeToLive: AskTimeToLive,
    private readonly now: () => Date,
  ) {}

  /** Of these lease ids (a segment's), those this writer has not met before, with their TTLs. */
  async firstSeen(leaseIds: readonly string[]): Promise<LeaseGrant[]> {
    const fresh = leaseIds.filter((id) => !this.seen.has(id));
    for (const id of fresh) this.seen.add(id);
    return Promise.all(fresh.map((id) => this.ask(id)));
  }

  private async ask(id: string): Promise<LeaseGrant> {
    const askedAt = this.now().toISOString();
    try {
      const res = await this.timeToLive(id);
      return { id, grantedTtl: res.grantedTtl, remainingTtl: res.ttl, askedAt };
    } catch {
      // Unknown (etcd did not answer): -1 for both, so a replay knows it must pick a TTL itself.
      return { id, grantedTtl: -1, remainingTtl: -1, askedAt };
    }
  }
}
