/**
 * The journal's chain rules (src/journal/readerChain.ts), on manifests alone: which revisions can be
 * recovered, and which breaks are problems rather than recorded gaps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupFor, journalEnd, leaseGrants, linkSegments, recoverableWindows, TargetRefused, windowFor, type BackupPoint } from '../../src/journal/readerChain.ts';
import { JOURNAL_FORMAT, SEGMENT_KIND, segmentName, type GapRecord, type SegmentManifest } from '../../src/journal/segment.ts';

const sha = (n: number): string => n.toString(16).padStart(64, '0');
const time = (second: number): string => new Date(Date.UTC(2026, 11, 1, 3, 0, second)).toISOString();

function backup(name: string, revision: number, second: number): BackupPoint {
  return { name, revision, time: time(second), snapshotSha256: sha(100_000 + revision) };
}

function segment(first: number, last: number, previousSha256: string, base: string, leases: SegmentManifest['leases'] = []): SegmentManifest {
  const name = segmentName('prod', first, last);
  return {
    format: JOURNAL_FORMAT,
    kind: SEGMENT_KIND,
    name,
    cluster: 'prod',
    firstRevision: first,
    lastRevision: last,
    revisions: last - first + 1,
    events: last - first + 1,
    firstReceivedAt: time(first),
    lastReceivedAt: time(last),
    completeThrough: { revision: last, at: time(last) },
    object: { file: `${name}.ndjson.zst`, size: 10, sha256: sha(last) },
    previousSha256,
    baseBackup: base,
    leases,
    compression: 'zstd',
    encryptedTo: [],
    writer: { holder: 'h', member: 'm' },
    toolVersion: 't',
  };
}

/** A chain of segments of `size` revisions from a backup. */
function chainFrom(base: BackupPoint, last: number, size = 5): SegmentManifest[] {
  const out: SegmentManifest[] = [];
  let previous = base.snapshotSha256;
  for (let first = base.revision + 1; first <= last; first += size) {
    const s = segment(first, Math.min(last, first + size - 1), previous, base.name);
    out.push(s);
    previous = s.object.sha256;
  }
  return out;
}

const b10 = backup('prod-b10', 10, 10);
const b22 = backup('prod-b22', 22, 22);
const b40 = backup('prod-b40', 40, 40);

describe('journal chain rules', () => {
  it('one chain from the oldest backup makes one window from that backup to the end of the journal, holding every backup inside', () => {
    const { runs, problems } = linkSegments(chainFrom(b10, 30), [], [b10, b22], undefined);
    assert.deepEqual(problems, []);
    assert.equal(runs.length, 1);
    const windows = recoverableWindows(runs, [b22, b10]);
    assert.deepEqual(
      windows.map((w) => [w.fromRevision, w.toRevision, w.backups.map((b) => b.name)]),
      [[10, 30, ['prod-b10', 'prod-b22']]],
    );
    assert.equal(windows[0]!.fromTime, b10.time);
    assert.equal(windows[0]!.toTime, time(30));
  });

  it('a progress mark extends the newest run: the journal is complete through its revision', () => {
    const { runs } = linkSegments(chainFrom(b10, 30), [], [b10], { revision: 34, at: time(50) });
    assert.equal(runs[0]!.throughRevision, 34);
    assert.equal(recoverableWindows(runs, [b10])[0]!.toTime, time(50));
  });

  it('a recorded gap followed by a new chain from a full backup splits the window and is not a problem', () => {
    const gap: GapRecord = { format: JOURNAL_FORMAT, kind: 'journal-gap', cluster: 'prod', fromRevision: 21, toRevision: 35, detectedAt: time(41), reason: 'compacted', restartedFrom: 'prod-b40' };
    const segments = [...chainFrom(b10, 20), ...chainFrom(b40, 50)];
    const { runs, problems } = linkSegments(segments, [gap], [b10, b40], undefined);
    assert.deepEqual(problems, []);
    const windows = recoverableWindows(runs, [b10, b40]);
    assert.deepEqual(windows.map((w) => [w.fromRevision, w.toRevision]), [[10, 20], [40, 50]]);
    assert.throws(() => windowFor(windows, { kind: 'revision', revision: 30 }), (e: Error) => e instanceof TargetRefused && /falls in a gap/.test(e.message) && /revisions 10\.\.20/.test(e.message) && /revisions 40\.\.50/.test(e.message));
  });

  it('a hole no gap record covers, a broken hash chain, and an overlap are problems, and end the window there', () => {
    const chain = chainFrom(b10, 30);
    const hole = chain.filter((s) => s.firstRevision !== 16);
    const holeReport = linkSegments(hole, [], [b10], undefined);
    assert.match(holeReport.problems.join('\n'), /revisions 16\.\.20 are missing between .*-j0000000000000000011-0000000000000000015 and .*-j0000000000000000021-0000000000000000025, and no gap record covers them/);
    assert.deepEqual(recoverableWindows(holeReport.runs, [b10]).map((w) => [w.fromRevision, w.toRevision]), [[10, 15]]);
    // Past the hole the journal goes on, but no full backup reaches it: a gap, not the end of the journal.
    assert.throws(() => windowFor(recoverableWindows(holeReport.runs, [b10]), { kind: 'revision', revision: 22 }, journalEnd(holeReport.runs)), /falls in a gap/);
    assert.throws(() => windowFor(recoverableWindows(holeReport.runs, [b10]), { kind: 'revision', revision: 31 }, journalEnd(holeReport.runs)), /after the end of the journal/);

    const broken = chain.map((s) => (s.firstRevision === 21 ? { ...s, previousSha256: sha(999) } : s));
    const brokenReport = linkSegments(broken, [], [b10], undefined);
    assert.match(brokenReport.problems.join('\n'), /hash chain broken: prod-j0000000000000000021-0000000000000000025 does not name the sha256 of prod-j0000000000000000016-0000000000000000020/);
    assert.deepEqual(recoverableWindows(brokenReport.runs, [b10]).map((w) => [w.fromRevision, w.toRevision]), [[10, 20]]);

    const forgedStart = chain.map((s) => (s.firstRevision === 11 ? { ...s, previousSha256: sha(998) } : s));
    const startReport = linkSegments(forgedStart, [], [b10], undefined);
    assert.match(startReport.problems.join('\n'), /hash chain broken at its start: prod-j0000000000000000011-0000000000000000015 does not name the sha256 of its full backup prod-b10/);
    assert.deepEqual(recoverableWindows(startReport.runs, [b10]).map((w) => [w.fromRevision, w.toRevision, w.journal]), [[10, 10, false]]);

    const overlap = [...chain, segment(18, 19, sha(17), b10.name)];
    assert.match(linkSegments(overlap, [], [b10], undefined).problems.join('\n'), /overlaps .* held twice/);
  });

  it('a target before the oldest backup or after the end of the journal is refused, naming the windows; inside, the newest backup at or before it is chosen', () => {
    const windows = recoverableWindows(linkSegments(chainFrom(b10, 30), [], [b10, b22], undefined).runs, [b10, b22]);
    assert.throws(() => windowFor(windows, { kind: 'revision', revision: 9 }), /before the oldest full backup\. recoverable: revisions 10\.\.30/);
    assert.throws(() => windowFor(windows, { kind: 'revision', revision: 31 }), /after the end of the journal/);
    assert.throws(() => windowFor(windows, { kind: 'time', time: new Date(Date.parse(time(31))) }), /after the end of the journal/);
    assert.equal(backupFor(windowFor(windows, { kind: 'revision', revision: 21 }), 21).name, 'prod-b10');
    assert.equal(backupFor(windowFor(windows, { kind: 'revision', revision: 22 }), 22).name, 'prod-b22');
    assert.equal(backupFor(windowFor(windows, { kind: 'time', time: new Date(Date.parse(time(25))) }), 25).name, 'prod-b22');
  });

  it('a lease recorded twice keeps the latest answer that found it alive', () => {
    const grant = (askedAt: number, remainingTtl: number) => ({ id: '7', grantedTtl: 60, remainingTtl, askedAt: time(askedAt) });
    const segments = [segment(11, 15, b10.snapshotSha256, b10.name, [grant(12, 58)]), segment(16, 20, sha(15), b10.name, [grant(17, 60)]), segment(21, 25, sha(20), b10.name, [grant(22, -1)])];
    assert.equal(leaseGrants(segments, 25).get('7')!.askedAt, time(17));
    assert.equal(leaseGrants(segments, 14).get('7')!.askedAt, time(12));
  });
});
