import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planJournalRetention } from '../../src/journal/retention.ts';
import type { GapRecord } from '../../src/journal/segment.ts';

const pad = (n: number): string => String(n).padStart(19, '0');
const seg = (first: number, last: number): string => `prod-j${pad(first)}-${pad(last)}`;
const at = new Date('2026-03-01T12:00:00Z');
/** A segment's manifest and zstd object, as the journal folder lists them. */
const files = (...ranges: Array<[number, number]>) =>
  ranges.flatMap(([f, l]) => [`${seg(f, l)}.json`, `${seg(f, l)}.ndjson.zst`]).map((name) => ({ name, size: 10, modifiedAt: at }));

test('segments entirely at or before the oldest kept backup go, oldest first, each manifest before its object; the rest stay', () => {
  // Backup A at 100 (dropped), B at 250 (oldest kept): the chain from A runs on past B, through 400.
  const plan = planJournalRetention({
    cluster: 'prod',
    files: files([101, 200], [201, 250], [251, 300], [301, 400]),
    keptBackupRevisions: [400, 250],
    gaps: new Map(),
  });
  assert.equal(plan.oldestKeptRevision, 250);
  assert.deepEqual(
    plan.actions.map((a) => a.files),
    [
      [`${seg(101, 200)}.json`, `${seg(101, 200)}.ndjson.zst`],
      [`${seg(201, 250)}.json`, `${seg(201, 250)}.ndjson.zst`],
    ],
  );
  assert.match(plan.actions[0]!.reason, /revisions 101\.\.200, at or before the oldest kept backup's revision 250/);
});

test('a segment straddling the oldest kept backup\'s revision is kept (it holds revisions after it)', () => {
  const plan = planJournalRetention({ cluster: 'prod', files: files([101, 260], [261, 300]), keptBackupRevisions: [250], gaps: new Map() });
  assert.deepEqual(plan.actions, []);
});

test('with no kept backup nothing is deleted, and other clusters\' and foreign files are never touched', () => {
  assert.deepEqual(planJournalRetention({ cluster: 'prod', files: files([1, 5]), keptBackupRevisions: [], gaps: new Map() }).actions, []);
  const other = [
    { name: `staging-j${pad(1)}-${pad(5)}.json`, size: 1, modifiedAt: at },
    { name: 'notes.txt', size: 1, modifiedAt: at },
    { name: 'prod-progress.json', size: 1, modifiedAt: at },
  ];
  assert.deepEqual(planJournalRetention({ cluster: 'prod', files: other, keptBackupRevisions: [100], gaps: new Map() }).actions, []);
});

test('an orphan segment object (its manifest deleted by an interrupted prune) before the oldest kept backup goes too', () => {
  const plan = planJournalRetention({
    cluster: 'prod',
    files: [{ name: `${seg(1, 5)}.ndjson.zst`, size: 1, modifiedAt: at }],
    keptBackupRevisions: [10],
    gaps: new Map(),
  });
  assert.deepEqual(plan.actions.map((a) => a.files), [[`${seg(1, 5)}.ndjson.zst`]]);
});

test('gap records wholly at or before the oldest kept backup go; open-ended, later or unreadable ones stay', () => {
  const gap = (from: number, to: number | null): GapRecord => ({
    format: 1,
    kind: 'journal-gap',
    cluster: 'prod',
    fromRevision: from,
    toRevision: to,
    detectedAt: at.toISOString(),
    reason: 'compacted',
    restartedFrom: null,
  });
  const name = (from: number) => `prod-g${pad(from)}-20260301T120000Z.json`;
  const plan = planJournalRetention({
    cluster: 'prod',
    files: [10, 20, 30, 40].map((f) => ({ name: name(f), size: 1, modifiedAt: at })),
    keptBackupRevisions: [50],
    gaps: new Map([
      [name(10), gap(10, 15)],
      [name(20), gap(20, null)],
      [name(30), gap(30, 60)],
    ]),
  });
  assert.deepEqual(plan.actions.map((a) => a.files), [[name(10)]]);
});
