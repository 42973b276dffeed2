/**
 * The TTL of every lease a segment's puts carry, asked from etcd (LeaseTimeToLive) the first time this
 * writer sees the lease, so a replay can re-create leases with their TTLs. etcd does not put a lease's TTL
 * in the watch event, and a lease that expired before we asked answers TTL -1 (its keys' deletions are in
 * the journal anyway).
 */
import type { Etcd3 } from 'etcd3';
import type { LeaseGrant, RevisionRecord } from './records.ts';

export class LeaseTracker {
  private readonly seen = new Set<string>();

  constructor(
    private readonly client: Etcd3,
    private readonly now: () => Date,
  ) {}

  /** Leases of these records not seen before by this writer, with their TTLs. */
  async firstSeen(records: readonly RevisionRecord[]): Promise<LeaseGrant[]> {
    const fresh: string[] = [];
    for (const record of records) {
      for (const e of record.events) {
        if (e.type === 'put' && e.lease !== '0' && !this.seen.has(e.lease)) {
          this.seen.add(e.lease);
          fresh.push(e.lease);
        }
      }
    }
    return Promise.all(fresh.map((id) => this.ask(id)));
  }

  private async ask(id: string): Promise<LeaseGrant> {
    const askedAt = this.now().toISOString();
    try {
      const res = await this.client.leaseClient.leaseTimeToLive({ ID: id, keys: false });
      return { id, grantedTtl: Number(res.grantedTTL), remainingTtl: Number(res.TTL), askedAt };
    } catch {
      // Unknown (etcd did not answer): -1 for both, so a replay knows it must pick a TTL itself.
      return { id, grantedTtl: -1, remainingTtl: -1, askedAt };
    }
  }
}
