import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertSegmentName,
  classifyJournalFile,
  encodeJournalRecord,
  gapFileName,
  JournalLayoutError,
  parseSegmentManifest,
  segmentManifestFile,
  segmentName,
  segmentObjectFile,
  type SegmentManifest,
} from '../../src/journal/segment.ts';
import { InputError } from '../../src/errors.ts';

function manifest(overrides: Partial<SegmentManifest> = {}): SegmentManifest {
  const name = segmentName('prod', 101, 110);
  return {
    format: 1,
    kind: 'journal-segment',
    name,
    cluster: 'prod',
    firstRevision: 101,
    lastRevision: 110,
    revisions: 10,
    events: 12,
    firstReceivedAt: '2026-12-01T03:00:00.000Z',
    lastReceivedAt: '2026-12-01T03:00:04.000Z',
    completeThrough: { revision: 110, at: '2026-12-01T03:00:05.000Z' },
    object: { file: segmentObjectFile(name, 'zstd', false), size: 100, sha256: 'a'.repeat(64) },
    previousSha256: 'b'.repeat(64),
    baseBackup: 'prod-20261201T025900Z-m1-r100',
    leases: [{ id: '7587882', grantedTtl: 30, remainingTtl: 28, askedAt: '2026-12-01T03:00:01.000Z' }],
    compression: 'zstd',
    encryptedTo: [],
    writer: { holder: 'node-1', member: 'm1' },
    toolVersion: '0.0.0',
    ...overrides,
  };
}

test('segment names sort by revision as plain text and parse back exactly', () => {
  const names = [segmentName('prod', 9, 9), segmentName('prod', 10, 99), segmentName('prod', 100, 100)];
  assert.deepEqual([...names].sort(), names);
  assert.equal(names[1], 'prod-j0000000000000000010-0000000000000000099');
  const file = classifyJournalFile(segmentObjectFile(names[1]!, 'zstd', true));
  assert.equal(file.kind, 'segment-object');
  assert.ok(file.kind === 'segment-object' && file.encrypted && file.compression === 'zstd' && file.segment.lastRevision === 99);
  assert.equal(classifyJournalFile(segmentManifestFile(names[1]!)).kind, 'segment-manifest');
  assert.equal(classifyJournalFile(gapFileName('prod', 42, new Date('2026-12-01T03:00:00Z'))).kind, 'gap');
  assert.equal(classifyJournalFile('prod-progress.json').kind, 'progress');
  assert.equal(classifyJournalFile('.tmp-x-abc').kind, 'temporary');
});

test('a user-given segment name with a path or of another shape is refused before any I/O', () => {
  assert.throws(() => assertSegmentName('../prod-j0000000000000000010-0000000000000000099', 'prod'), InputError);
  assert.throws(() => assertSegmentName('prod-j10-99', 'prod'), InputError);
  assert.throws(() => assertSegmentName('prod-j0000000000000000099-0000000000000000010', 'prod'), InputError);
  assert.throws(() => assertSegmentName('other-j0000000000000000010-0000000000000000099', 'prod'), /belongs to cluster other/);
  assert.equal(assertSegmentName('prod-j0000000000000000010-0000000000000000099.json', 'prod').firstRevision, 10);
  for (const foreign of ['notes.txt', 'prod-j1-2.json', 'prod-j0000000000000000010-0000000000000000099.ndjson.bz2']) {
    assert.equal(classifyJournalFile(foreign).kind, 'foreign', foreign);
  }
});

test('a segment manifest round-trips and is checked against its file name, revision count and object', () => {
  const m = manifest();
  assert.deepEqual(parseSegmentManifest(encodeJournalRecord(m).toString(), segmentManifestFile(m.name)), m);
  const other = segmentManifestFile(segmentName('prod', 101, 111));
  assert.throws(() => parseSegmentManifest(encodeJournalRecord(m).toString(), other), /does not match its file name/);
  assert.throws(() => parseSegmentManifest(encodeJournalRecord(manifest({ revisions: 9 })).toString(), segmentManifestFile(m.name)), /do not fill/);
  assert.throws(
    () => parseSegmentManifest(encodeJournalRecord(manifest({ encryptedTo: ['age1xyz'] })).toString(), segmentManifestFile(m.name)),
    /does not belong to it/,
  );
  assert.throws(() => parseSegmentManifest('{"format":2}', segmentManifestFile(m.name)), /newer than this etcd-dr understands/);
  assert.throws(() => parseSegmentManifest('{"format":1', segmentManifestFile(m.name)), JournalLayoutError);
  assert.throws(() => parseSegmentManifest(JSON.stringify({ ...m, extra: 1 }), segmentManifestFile(m.name)), JournalLayoutError);
});
