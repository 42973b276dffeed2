/**
 * The journal writer's pure pieces between the watch and the publisher: which received revisions continue
 * the journal (a hole is never papered over) and the open segment that holds them as NDJSON bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OpenSegment } from '../../src/journal/openSegment.ts';
import { continuation, parseRecord, type RevisionRecord } from '../../src/journal/records.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function rev(n: number, at: string, lease = '0'): RevisionRecord {
  return {
    type: 'rev',
    rev: n,
    at,
    events: [{ type: 'put', key: b64(`/registry/pods/p${n}`), value: b64(`v${n}`), lease, createRevision: n, modRevision: n, version: 1 }],
  };
}

const AT = (s: number): string => new Date(Date.UTC(2026, 11, 1, 3, 0, s)).toISOString();

describe('which received revisions continue the journal', () => {
  it('a response that skips a revision stops at the hole and names it: the revisions before it are kept, none after it', () => {
    const { next, hole } = continuation(10, [rev(11, AT(1)), rev(12, AT(1)), rev(14, AT(2)), rev(15, AT(2))]);
    assert.deepEqual(
      next.map((r) => r.rev),
      [11, 12],
    );
    assert.deepEqual(hole, { after: 12, found: 14 });
  });

  it('revisions at or below the position (sent again after a re-watch) are dropped, never written twice', () => {
    const { next, hole } = continuation(12, [rev(11, AT(1)), rev(12, AT(1)), rev(13, AT(2))]);
    assert.deepEqual(
      next.map((r) => r.rev),
      [13],
    );
    assert.equal(hole, undefined);
  });

  it('a first revision past the next one is a hole even when nothing came before it in the response', () => {
    assert.deepEqual(continuation(10, [rev(12, AT(1))]), { next: [], hole: { after: 10, found: 12 } });
  });
});

describe('the open segment', () => {
  it('holds each revision as its NDJSON line: closing gives content a reader parses back exactly, the counts and each lease once', () => {
    const segment = new OpenSegment();
    assert.equal(segment.empty, true);
    const records = [rev(5, AT(1), '7587862146478531329'), rev(6, AT(2), '7587862146478531329'), rev(7, AT(3), '0')];
    for (const r of records) segment.add(r);
    assert.equal(segment.lastRevision, 7);
    const closed = segment.close(undefined)!;
    const lines = closed.content.toString('utf8').split('\n');
    assert.equal(lines.pop(), '', 'every line ends with a newline');
    assert.deepEqual(
      lines.map((l, i) => parseRecord(l, `line ${i + 1}`)),
      records,
    );
    assert.equal(segment.bytes, 0, 'the builder is empty once closed');
    assert.deepEqual(closed.first, { revision: 5, at: AT(1) });
    assert.deepEqual(closed.last, { revision: 7, at: AT(3) });
    assert.equal(closed.revisions, 3);
    assert.equal(closed.events, 3);
    assert.deepEqual(closed.leaseIds, ['7587862146478531329']);
    assert.deepEqual(closed.completeThrough, { revision: 7, at: AT(3) });
    assert.equal(segment.empty, true);
    assert.equal(segment.close(undefined), undefined, 'an empty segment closes to nothing');
  });

  it('a progress notification confirming the last revision later than it arrived is the time the segment is complete through', () => {
    const segment = new OpenSegment();
    segment.add(rev(9, AT(1)));
    assert.deepEqual(segment.close(AT(4))!.completeThrough, { revision: 9, at: AT(4) });
    segment.add(rev(10, AT(5)));
    assert.deepEqual(segment.close(AT(2))!.completeThrough, { revision: 10, at: AT(5) }, 'an older confirmation never moves the time back');
  });

  it('counts its NDJSON bytes, which journal-segment-bytes bounds', () => {
    const segment = new OpenSegment();
    segment.add(rev(1, AT(1)));
    segment.add(rev(2, AT(1)));
    const bytes = segment.bytes;
    assert.equal(segment.close(undefined)!.content.length, bytes);
  });
});
