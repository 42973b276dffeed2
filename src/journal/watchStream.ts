/**
 * The journal's view of a whole-keyspace watch (etcd/watch.ts): whole revisions as journal records,
 * progress notifications, compaction, and the end of the stream. The raw stream, not etcd3's Watcher:
 * we need to know exactly which revisions arrived, to ask "are you done up to here?" (WatchProgressRequest)
 * when idle, and to see ErrCompacted (compact_revision) instead of being resumed elsewhere.
 *
 * etcd guarantees that a WatchResponse never splits a revision (the events of one transaction arrive
 * together) unless fragmenting is asked for, which we do not: each response is a list of whole revisions.
 */
import type { EtcdAccess } from '../etcd/connection.ts';
import { openWatch as openEtcdWatch } from '../etcd/watch.ts';
import { WHOLE_KEYSPACE, type WatchedEvent } from '../etcd/watchMessages.ts';
import type { JournalEvent, RevisionRecord } from './records.ts';

export type WatchMessage =
  | { readonly type: 'revisions'; readonly records: readonly RevisionRecord[] }
  | { readonly type: 'progress'; readonly revision: number }
  /** etcd compacted past the start revision: events before `compactRevision` are gone. */
  | { readonly type: 'compacted'; readonly compactRevision: number }
  | { readonly type: 'ended'; readonly error: Error };

export interface WatchHandle {
  /** The member the watch reads from. */
  readonly endpoint: string;
  /** Asks etcd for a progress notification (answered once the watcher has sent everything up to the current revision). */
  requestProgress(): void;
  /** Holds etcd back while the journal's publishing is behind (etcd keeps the events meanwhile). */
  pause(): void;
  resume(): void;
  close(): void;
}

/**
 * Watches from `startRevision` through the first of `endpoints` that answers (the caller rotates them after
 * a watch ends, so a dead member is not tried first again). Every message after the stream is over is
 * dropped: exactly one of 'compacted' or 'ended' ends it.
 */
export async function openWatch(
  access: EtcdAccess,
  endpoints: readonly string[],
  startRevision: number,
  now: () => Date,
  onMessage: (message: WatchMessage) => void,
): Promise<WatchHandle> {
  let over = false;
  const watch = await openEtcdWatch(access, endpoints, WHOLE_KEYSPACE, startRevision, {
    onResponse: (response) => {
      if (over) return;
      switch (response.kind) {
        case 'created':
          return;
        case 'compacted':
          over = true;
          watch.close();
          onMessage({ type: 'compacted', compactRevision: response.compactRevision });
          return;
        case 'canceled':
          over = true;
          watch.close();
          onMessage({ type: 'ended', error: new Error(`etcd cancelled the watch${response.reason ? `: ${response.reason}` : ''}`) });
          return;
        case 'progress':
          onMessage({ type: 'progress', revision: response.revision });
          return;
        case 'events':
          onMessage({ type: 'revisions', records: groupByRevision(response.events, now()) });
          return;
      }
    },
    onEnd: (error) => {
      if (over) return;
      over = true;
      onMessage({ type: 'ended', error });
    },
  });
  return {
    endpoint: watch.endpoint,
    requestProgress: () => {
      if (!over) watch.requestProgress();
    },
    pause: () => watch.pause(),
    resume: () => watch.resume(),
    close: () => {
      over = true;
      watch.close();
    },
  };
}

/** Groups a response's events into one record per revision, in etcd's order. */
export function groupByRevision(events: readonly WatchedEvent[], receivedAt: Date): RevisionRecord[] {
  const at = receivedAt.toISOString();
  const records: { rev: number; events: JournalEvent[] }[] = [];
  for (const e of events) {
    const event = toJournalEvent(e);
    const last = records[records.length - 1];
    if (last && last.rev === event.modRevision) last.events.push(event);
    else records.push({ rev: event.modRevision, events: [event] });
  }
  return records.map((r) => ({ type: 'rev', rev: r.rev, at, events: r.events }));
}

function toJournalEvent({ type, kv }: WatchedEvent): JournalEvent {
  const key = kv.key.toString('base64');
  if (type === 'delete') return { type: 'delete', key, modRevision: kv.modRevision };
  return {
    type: 'put',
    key,
    value: kv.value.toString('base64'),
    lease: kv.lease,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
  };
}
