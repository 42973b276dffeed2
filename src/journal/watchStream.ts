/**
 * One raw Watch stream over the whole keyspace, from a given revision. etcd3's Watcher does not offer
 * progress requests and silently re-creates its stream, so this uses the Watch gRPC stream directly:
 * we need to know exactly which revisions arrived, to ask "are you done up to here?" (WatchProgressRequest)
 * when idle, and to see ErrCompacted (compact_revision) instead of being resumed elsewhere.
 *
 * etcd guarantees that a WatchResponse never splits a revision (the events of one transaction arrive
 * together) unless fragmenting is asked for, which we do not: each response is a list of whole revisions.
 */
import type { Etcd3, IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import type { JournalEvent, RevisionRecord } from './records.ts';

export type WatchMessage =
  | { readonly type: 'revisions'; readonly records: readonly RevisionRecord[]; readonly headerRevision: number }
  | { readonly type: 'progress'; readonly revision: number }
  /** etcd compacted past the start revision: events before `compactRevision` are gone. */
  | { readonly type: 'compacted'; readonly compactRevision: number }
  | { readonly type: 'ended'; readonly error: Error };

export interface WatchHandle {
  /** Asks etcd for a progress notification (answered once the watcher has sent everything up to the current revision). */
  requestProgress(): void;
  close(): void;
}

/** The whole keyspace: key "\0", range_end "\0" means every key (etcd's `--prefix ""` / `--from-key ""`). */
const ALL_KEYS = Buffer.from([0]);

export async function openWatch(
  client: Etcd3,
  startRevision: number,
  now: () => Date,
  onMessage: (message: WatchMessage) => void,
): Promise<WatchHandle> {
  const stream = await client.watchClient.watch();
  let closed = false;
  let created = false;
  const end = (error: Error): void => {
    if (closed) return;
    closed = true;
    stream.cancel();
    onMessage({ type: 'ended', error });
  };
  stream.on('data', (res: IWatchResponse) => {
    if (closed) return;
    const compactRevision = Number(res.compact_revision);
    if (compactRevision > 0) {
      closed = true;
      stream.cancel();
      onMessage({ type: 'compacted', compactRevision });
      return;
    }
    if (res.canceled) {
      end(new Error(`etcd cancelled the watch${res.cancel_reason ? `: ${res.cancel_reason}` : ''}`));
      return;
    }
    if (res.created) {
      created = true;
      return;
    }
    const headerRevision = Number(res.header.revision);
    if (res.events.length === 0) {
      // A progress notification: everything up to headerRevision has been sent on this stream.
      onMessage({ type: 'progress', revision: headerRevision });
      return;
    }
    onMessage({ type: 'revisions', records: groupByRevision(res.events, now()), headerRevision });
  });
  stream.on('error', (error: Error) => end(new Error(`watch stream failed: ${error.message}`)));
  stream.on('end', () => end(new Error('etcd ended the watch stream')));
  const create: IWatchRequest = {
    create_request: { key: ALL_KEYS, range_end: ALL_KEYS, start_revision: String(startRevision), prev_kv: false },
  };
  stream.write(create);
  return {
    requestProgress: () => {
      if (!closed && created) stream.write({ progress_request: {} });
    },
    close: () => {
      if (closed) return;
      closed = true;
      stream.cancel();
    },
  };
}

/** Groups a response's events into one record per revision, in etcd's order. */
export function groupByRevision(events: readonly IEvent[], receivedAt: Date): RevisionRecord[] {
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

function toJournalEvent(e: IEvent): JournalEvent {
  const kv = e.kv;
  const modRevision = Number(kv.mod_revision);
  if (e.type === 'Delete') return { type: 'delete', key: kv.key.toString('base64'), modRevision };
  return {
    type: 'put',
    key: kv.key.toString('base64'),
    value: kv.value.toString('base64'),
    lease: String(kv.lease ?? '0'),
    createRevision: Number(kv.create_revision),
    modRevision,
    version: Number(kv.version),
  };
}
