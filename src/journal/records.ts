/**
 * The journal's record format: what a segment holds, line by line. Shared by the journal writer
 * (src/journal/) and point-in-time restore (replay), so it is pure and has no I/O.
 *
 * A segment's content, before compression and encryption, is NDJSON: one JSON object per line, in
 * revision order. Two kinds of line:
 *
 *   {"type":"rev","rev":1201,"at":"2026-12-01T03:04:05.123Z","events":[ ... ]}
 *       every change etcd made at revision `rev`, in etcd's order within that revision (a transaction
 *       is one revision with several events). `at` is the follower's clock when the revision was
 *       received: etcd stores no timestamps, so this is the only time a revision has.
 *   {"type":"progress","rev":1250,"at":"2026-12-01T03:04:10.000Z"}
 *       etcd said (progress notification) that nothing happened up to and including `rev` as of `at`:
 *       the journal is complete through `rev` at that time, even on an idle cluster.
 *
 * An event is a put (key, value, lease, createRevision, modRevision, version: etcd's KeyValue) or a
 * delete (key, modRevision). Keys and values are bytes in etcd: base64 here. Lease ids are int64:
 * decimal strings here ("0" = no lease), since JSON numbers lose precision past 2^53.
 *
 * Why NDJSON: a segment is read as a stream, line by line, with flat memory; it compresses well; and
 * an operator can read one with `zstd -dc | jq`.
 */

export interface PutEvent {
  readonly type: 'put';
  /** base64 of the key bytes. */
  readonly key: string;
  /** base64 of the value bytes. */
  readonly value: string;
  /** Lease id, decimal; "0" when the key has no lease. */
  readonly lease: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

export interface DeleteEvent {
  readonly type: 'delete';
  /** base64 of the key bytes. */
  readonly key: string;
  readonly modRevision: number;
}

export type JournalEvent = PutEvent | DeleteEvent;

export interface RevisionRecord {
  readonly type: 'rev';
  readonly rev: number;
  /** ISO-8601 UTC time (milliseconds) the follower received this revision. */
  readonly at: string;
  /** At least one event; every event's modRevision is `rev`. */
  readonly events: readonly JournalEvent[];
}

export interface ProgressRecord {
  readonly type: 'progress';
  /** The journal is complete through this revision (nothing after the last `rev` record up to it). */
  readonly rev: number;
  readonly at: string;
}

export type JournalRecord = RevisionRecord | ProgressRecord;

/** A lease first seen in a segment, with the TTL it was granted (LeaseTimeToLive), so a replay can re-create it. */
export interface LeaseGrant {
  /** Lease id, decimal. */
  readonly id: string;
  /** TTL the lease was granted with, in seconds. */
  readonly grantedTtl: number;
  /** Remaining TTL when the follower asked, in seconds (-1: already expired or revoked when asked). */
  readonly remainingTtl: number;
  /** Follower's clock when it asked (ISO-8601 UTC). */
  readonly askedAt: string;
}

/** Thrown for a line that is not a journal record: a segment is never half-read into a replay. */
export class JournalFormatError extends Error {
  override readonly name = 'JournalFormatError';
}

export function encodeRecord(record: JournalRecord): string {
  return `${JSON.stringify(record)}\n`;
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const LEASE_ID = /^(0|[1-9]\d{0,18})$/;

function isRevision(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function isTime(v: unknown): v is string {
  return typeof v === 'string' && ISO_UTC.test(v) && !Number.isNaN(Date.parse(v));
}

function isBase64(v: unknown): v is string {
  return typeof v === 'string' && v.length % 4 === 0 && BASE64.test(v);
}

function parseEvent(raw: unknown, rev: number, where: string): JournalEvent {
  if (typeof raw !== 'object' || raw === null) throw new JournalFormatError(`${where}: an event is not an object`);
  const e = raw as Record<string, unknown>;
  if (!isBase64(e['key']) || e['key'] === '') throw new JournalFormatError(`${where}: event key must be non-empty base64`);
  if (e['modRevision'] !== rev) {
    throw new JournalFormatError(`${where}: event modRevision ${String(e['modRevision'])} is not the record's revision ${rev}`);
  }
  if (e['type'] === 'delete') return { type: 'delete', key: e['key'], modRevision: rev };
  if (e['type'] !== 'put') throw new JournalFormatError(`${where}: event type must be 'put' or 'delete', got ${JSON.stringify(e['type'])}`);
  if (!isBase64(e['value'])) throw new JournalFormatError(`${where}: put value must be base64`);
  if (typeof e['lease'] !== 'string' || !LEASE_ID.test(e['lease'])) throw new JournalFormatError(`${where}: put lease must be a decimal lease id`);
  if (!isRevision(e['createRevision']) || e['createRevision'] > rev) {
    throw new JournalFormatError(`${where}: put createRevision must be a revision <= ${rev}`);
  }
  if (!isRevision(e['version'])) throw new JournalFormatError(`${where}: put version must be a whole number >= 1`);
  return {
    type: 'put',
    key: e['key'],
    value: e['value'],
    lease: e['lease'],
    createRevision: e['createRevision'],
    modRevision: rev,
    version: e['version'],
  };
}

/** Parses one NDJSON line strictly; `where` names the segment and line for the error. */
export function parseRecord(line: string, where: string): JournalRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (error) {
    throw new JournalFormatError(`${where}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new JournalFormatError(`${where}: not a JSON object`);
  const r = raw as Record<string, unknown>;
  if (!isRevision(r['rev'])) throw new JournalFormatError(`${where}: rev must be a whole number >= 1`);
  if (!isTime(r['at'])) throw new JournalFormatError(`${where}: at must be an ISO-8601 UTC time`);
  const rev = r['rev'];
  if (r['type'] === 'progress') return { type: 'progress', rev, at: r['at'] };
  if (r['type'] !== 'rev') throw new JournalFormatError(`${where}: type must be 'rev' or 'progress', got ${JSON.stringify(r['type'])}`);
  const events = r['events'];
  if (!Array.isArray(events) || events.length === 0) throw new JournalFormatError(`${where}: events must be a non-empty array`);
  return { type: 'rev', rev, at: r['at'], events: events.map((e, i) => parseEvent(e, rev, `${where} event ${i + 1}`)) };
}

/** Where a watch response stops continuing the journal: `found` arrived where `after + 1` was due. */
export interface RevisionHole {
  readonly after: number;
  readonly found: number;
}

/**
 * Of a watch response's records, those that continue a journal standing at `lastRevision`. Revisions at or
 * below it are dropped (a re-watch sends them again); the first record that is not the next revision ends
 * the list and is reported as a hole. etcd never skips a revision in a whole-keyspace watch, so a hole is a
 * fault: the writer records it as a gap, never papers over it.
 */
export function continuation(lastRevision: number, records: readonly RevisionRecord[]): { readonly next: readonly RevisionRecord[]; readonly hole?: RevisionHole } {
  const next: RevisionRecord[] = [];
  let expected = lastRevision + 1;
  for (const record of records) {
    if (record.rev < expected) continue;
    if (record.rev !== expected) return { next, hole: { after: expected - 1, found: record.rev } };
    next.push(record);
    expected++;
  }
  return { next };
}
