/**
 * The segment a writer is filling. Each revision is turned into its NDJSON line (records.ts) the moment it
 * arrives and kept as bytes, beside the few facts its manifest needs.
 *
 * Why bytes and not the records: a segment stays open for journal-flush seconds (5 by default), long enough
 * for V8 to move every record it holds (objects and base64 strings, about 1.4x the values' size) from the
 * young generation into the old one. At 200 writes/s that promotion, and the full collections it leads to,
 * was a large share of the follower's CPU and kept its heap grown. Buffers live outside the V8 heap and are
 * freed when the segment is published; the records themselves now die young.
 */
import { encodeRecord, type RevisionRecord } from './records.ts';

export interface ReceivedMark {
  readonly revision: number;
  /** The follower's clock when it received that revision (etcd keeps no times). */
  readonly at: string;
}

/** A closed segment, ready for the publisher: its NDJSON content and what its manifest says about it. */
export interface ClosedSegment {
  readonly kind: 'segment';
  /** The NDJSON lines, one per revision, in order. */
  readonly content: Buffer;
  readonly first: ReceivedMark;
  readonly last: ReceivedMark;
  readonly revisions: number;
  readonly events: number;
  /** Lease ids the segment's puts carry, each once, in the order first met. */
  readonly leaseIds: readonly string[];
  /** Complete through (a progress notification can confirm the last revision later than it arrived). */
  readonly completeThrough: ReceivedMark;
}

export class OpenSegment {
  private lines: Buffer[] = [];
  private leaseIds = new Set<string>();
  private first: ReceivedMark | undefined;
  private last: ReceivedMark | undefined;
  private revisionCount = 0;
  private eventCount = 0;
  /** Bytes of NDJSON held so far: what journal-segment-bytes bounds. */
  bytes = 0;

  get empty(): boolean {
    return this.revisionCount === 0;
  }

  get lastRevision(): number | undefined {
    return this.last?.revision;
  }

  add(record: RevisionRecord): void {
    const line = Buffer.from(encodeRecord(record));
    this.lines.push(line);
    this.bytes += line.length;
    this.revisionCount++;
    this.eventCount += record.events.length;
    const mark = { revision: record.rev, at: record.at };
    this.first ??= mark;
    this.last = mark;
    for (const event of record.events) if (event.type === 'put' && event.lease !== '0') this.leaseIds.add(event.lease);
  }

  /**
   * Closes the segment; `confirmedAt` is the time of a progress notification covering its last revision,
   * if one came (it states completeness later than the revision's own receive time). Empties this builder.
   */
  close(confirmedAt: string | undefined): ClosedSegment | undefined {
    if (!this.first || !this.last) return undefined;
    const last = this.last;
    const segment: ClosedSegment = {
      kind: 'segment',
      content: Buffer.concat(this.lines, this.bytes),
      first: this.first,
      last,
      revisions: this.revisionCount,
      events: this.eventCount,
      leaseIds: [...this.leaseIds],
      completeThrough: { revision: last.revision, at: confirmedAt !== undefined && confirmedAt > last.at ? confirmedAt : last.at },
    };
    this.discard();
    return segment;
  }

  /** Drops what is held (a position the writer left: the next watch sends it again). */
  discard(): void {
    this.lines = [];
    this.leaseIds = new Set();
    this.first = undefined;
    this.last = undefined;
    this.revisionCount = 0;
    this.eventCount = 0;
    this.bytes = 0;
  }
}
