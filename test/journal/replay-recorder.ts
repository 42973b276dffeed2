/**
 * A tiny journal recorder for tests: watches a real etcd's whole keyspace from a revision and keeps every
 * revision as a RevisionRecord (records.ts), plus a LeaseGrant for each lease it sees first, asked with
 * LeaseTimeToLive as the journal writer does. It is the test's own account of what etcd did, independent
 * of the journal writer, so the replay engine can be specified against real etcd alone.
 */
import type { Etcd3, IEvent, IWatchResponse, Watcher } from 'etcd3';
import { connect } from '../../src/etcd/connection.ts';
import type { JournalEvent, LeaseGrant, RevisionRecord } from '../../src/journal/records.ts';

export interface TestRecorder {
  readonly records: readonly RevisionRecord[];
  readonly leases: ReadonlyMap<string, LeaseGrant>;
  /** Resolves once every revision up to `revision` is recorded. */
  waitFor(revision: number): Promise<void>;
  /** The records, as the replay takes them (a fresh iteration each call). */
  iterate(): AsyncIterable<RevisionRecord>;
  /** The record of `revision`. */
  at(revision: number): RevisionRecord;
  stop(): Promise<void>;
}

function toEvent(event: IEvent): JournalEvent {
  const kv = event.kv;
  if (event.type === 'Delete') return { type: 'delete', key: kv.key.toString('base64'), modRevision: Number(kv.mod_revision) };
  return {
    type: 'put',
    key: kv.key.toString('base64'),
    value: kv.value.toString('base64'),
    lease: kv.lease,
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
  };
}

export async function startRecorder(endpoint: string, fromRevision: number): Promise<TestRecorder> {
  const client: Etcd3 = await connect({ endpoints: [endpoint], callTimeoutMs: 10_000 });
  const records: RevisionRecord[] = [];
  const leases = new Map<string, LeaseGrant>();
  const asking: Promise<void>[] = [];
  let failure: Error | undefined;
  const watcher: Watcher = await client
    .watch()
    .inRange({ start: Buffer.from([0]), end: Buffer.from([0]) })
    .startRevision(String(fromRevision))
    .create();
  watcher.on('error', (error) => (failure = error));
  watcher.on('data', (response: IWatchResponse) => {
    const at = new Date().toISOString();
    // One response can hold several revisions; a revision is never split (no fragmenting asked for).
    for (const event of response.events) {
      const rev = Number(event.kv.mod_revision);
      const last = records[records.length - 1];
      const journalEvent = toEvent(event);
      if (last && last.rev === rev) (last.events as JournalEvent[]).push(journalEvent);
      else records.push({ type: 'rev', rev, at, events: [journalEvent] });
      if (journalEvent.type === 'put' && journalEvent.lease !== '0' && !leases.has(journalEvent.lease)) {
        const id = journalEvent.lease;
        leases.set(id, { id, grantedTtl: 0, remainingTtl: -1, askedAt: at });
        asking.push(
          client.leaseClient.leaseTimeToLive({ ID: id }).then((live) => {
            leases.set(id, { id, grantedTtl: Number(live.grantedTTL), remainingTtl: Number(live.TTL), askedAt: new Date().toISOString() });
          }),
        );
      }
    }
  });
  const recordedThrough = (): number => records[records.length - 1]?.rev ?? fromRevision - 1;
  return {
    records,
    leases,
    async waitFor(revision) {
      // Gives up after 30 s without progress: behind a bench writing faster than the watch delivers, the
      // recorder can be minutes behind and still catching up.
      let seen = recordedThrough();
      for (let idle = 0; recordedThrough() < revision; idle++) {
        if (failure) throw failure;
        if (recordedThrough() > seen) {
          seen = recordedThrough();
          idle = 0;
        }
        if (idle > 600) throw new Error(`recorder: revision ${revision} not seen, no progress for 30 s (at ${recordedThrough()})`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await Promise.all(asking);
    },
    iterate() {
      const snapshot = [...records];
      return (async function* () {
        yield* snapshot;
      })();
    },
    at(revision) {
      const record = records.find((r) => r.rev === revision);
      if (!record) throw new Error(`recorder holds no revision ${revision}`);
      return record;
    },
    async stop() {
      await watcher.cancel();
      client.close();
    },
  };
}
