import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { DEFAULT_RETENTION_POLICY, type RetentionPolicy } from '../../src/catalog/policy.ts';
import { applyPolicy, dayBucket, hourBucket, monthBucket, weekBucket, type BackupRef } from '../../src/catalog/retention.ts';

// The clock the tests control: a Wednesday noon, UTC.
const NOW = new Date('2026-11-25T12:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;

/** A week of 5-minute backups, newest first: k = 0 is one minute before NOW, k = 2015 almost 7 days before. */
function week(): BackupRef[] {
  return Array.from({ length: 2016 }, (_, k) => {
    const time = new Date(NOW.getTime() - MIN - k * 5 * MIN);
    return { name: `b-${String(k).padStart(4, '0')}`, time, good: true };
  });
}

const at = (iso: string): number => new Date(iso).getTime();

function policy(overrides: Partial<RetentionPolicy>): RetentionPolicy {
  return {
    keepWithinMs: 0,
    keepLast: 1,
    keepHourly: 0,
    keepDaily: 0,
    keepWeekly: 0,
    keepMonthly: 0,
    ...overrides,
  };
}

function keptTimes(backups: readonly BackupRef[], p: RetentionPolicy): string[] {
  return applyPolicy(backups, p, NOW)
    .filter((d) => d.keep)
    .map((d) => d.backup.time.toISOString());
}

describe('applyPolicy on a week of 5-minute backups', () => {
  const backups = week();

  it('the default policy (keep-within 48h, keep-last 3) keeps exactly the backups of the last 48 hours', () => {
    const decisions = applyPolicy(backups, DEFAULT_RETENTION_POLICY, NOW);
    assert.equal(decisions.length, 2016);
    const kept = decisions.filter((d) => d.keep).map((d) => d.backup);
    const expected = backups.filter((b) => b.time.getTime() > NOW.getTime() - 48 * HOUR);
    assert.equal(kept.length, 576);
    assert.deepEqual(kept, expected);
    assert.ok(kept.every((b) => b.time.getTime() > NOW.getTime() - 48 * HOUR));
  });

  it('keep-last 1 with keep-within disabled keeps only the newest', () => {
    assert.deepEqual(keptTimes(backups, policy({})), ['2026-11-25T11:59:00.000Z']);
  });

  it('keep-last 5 keeps the five newest', () => {
    assert.deepEqual(
      keptTimes(backups, policy({ keepLast: 5 })),
      ['11:59', '11:54', '11:49', '11:44', '11:39'].map((t) => `2026-11-25T${t}:00.000Z`),
    );
  });

  it('keep-hourly 24 keeps the newest backup of each of the last 24 hours', () => {
    const expected = Array.from({ length: 24 }, (_, h) => new Date(at('2026-11-25T11:59:00Z') - h * HOUR).toISOString());
    assert.deepEqual(keptTimes(backups, policy({ keepHourly: 24 })), expected);
    assert.equal(expected.at(-1), '2026-11-24T12:59:00.000Z');
  });

  it('keep-daily 7 keeps the newest backup of each of the 7 most recent days that have backups', () => {
    // The week spans 8 UTC days (18th noon to 25th noon): the 18th is the one left out.
    assert.deepEqual(keptTimes(backups, policy({ keepDaily: 7 })), [
      '2026-11-25T11:59:00.000Z',
      '2026-11-24T23:59:00.000Z',
      '2026-11-23T23:59:00.000Z',
      '2026-11-22T23:59:00.000Z',
      '2026-11-21T23:59:00.000Z',
      '2026-11-20T23:59:00.000Z',
      '2026-11-19T23:59:00.000Z',
    ]);
  });

  it('keep-weekly and keep-monthly bucket by ISO week and UTC month', () => {
    // Monday 23rd starts this ISO week; the previous one ends on Sunday 22nd. The week of backups only
    // reaches back into that one, so keep-weekly 5 finds two weeks with backups.
    assert.deepEqual(keptTimes(backups, policy({ keepWeekly: 5 })), [
      '2026-11-25T11:59:00.000Z',
      '2026-11-22T23:59:00.000Z',
    ]);
    assert.deepEqual(keptTimes(backups, policy({ keepMonthly: 12 })), ['2026-11-25T11:59:00.000Z']);
  });

  it('a combination keeps the union of its rules, with every reason', () => {
    const p = policy({ keepWithinMs: 2 * HOUR, keepLast: 3, keepHourly: 6, keepDaily: 3, keepWeekly: 2, keepMonthly: 1 });
    const decisions = applyPolicy(backups, p, NOW);
    const kept = decisions.filter((d) => d.keep);
    const within = backups.filter((b) => b.time.getTime() > NOW.getTime() - 2 * HOUR).map((b) => b.time.toISOString());
    assert.equal(within.length, 24);
    const expected = [
      ...within,
      ...['09:59', '08:59', '07:59', '06:59'].map((t) => `2026-11-25T${t}:00.000Z`),
      '2026-11-24T23:59:00.000Z',
      '2026-11-23T23:59:00.000Z',
      '2026-11-22T23:59:00.000Z',
    ];
    assert.deepEqual(
      kept.map((d) => d.backup.time.toISOString()),
      expected,
    );
    const reasonsOf = (iso: string): readonly string[] =>
      decisions.find((d) => d.backup.time.toISOString() === iso)!.reasons;
    assert.deepEqual(reasonsOf('2026-11-25T11:59:00.000Z'), [
      'newest good backup',
      'last 3',
      'within 2h',
      'hourly 2026-11-25T11',
      'daily 2026-11-25',
      'weekly 2026-W48',
      'monthly 2026-11',
    ]);
    assert.deepEqual(reasonsOf('2026-11-25T10:59:00.000Z'), ['within 2h', 'hourly 2026-11-25T10']);
    assert.deepEqual(reasonsOf('2026-11-25T08:59:00.000Z'), ['hourly 2026-11-25T08']);
    assert.deepEqual(reasonsOf('2026-11-24T23:59:00.000Z'), ['daily 2026-11-24']);
    assert.deepEqual(reasonsOf('2026-11-22T23:59:00.000Z'), ['weekly 2026-W47']);
  });

  it('the newest good backup survives every policy', () => {
    const policies: RetentionPolicy[] = [
      DEFAULT_RETENTION_POLICY,
      policy({}),
      policy({ keepWithinMs: 1000 }),
      policy({ keepDaily: 1 }),
      policy({ keepMonthly: 3, keepLast: 1 }),
    ];
    for (const p of policies) {
      const newest = applyPolicy(backups, p, NOW)[0]!;
      assert.equal(newest.backup.name, 'b-0000');
      assert.equal(newest.keep, true);
      assert.ok(newest.reasons.includes('newest good backup'));
    }
  });

  it('when the newest backup is unreadable, it is kept and so is the newest good one', () => {
    const withBad = backups.map((b, k) => (k === 0 || k === 1000 ? { ...b, good: false } : b));
    for (const p of [policy({}), DEFAULT_RETENTION_POLICY, policy({ keepDaily: 7 })]) {
      const decisions = applyPolicy(withBad, p, NOW);
      const byName = new Map(decisions.map((d) => [d.backup.name, d]));
      assert.deepEqual(byName.get('b-0000'), { backup: withBad[0], keep: true, reasons: ['manifest unreadable'] });
      assert.deepEqual(byName.get('b-1000')?.reasons, ['manifest unreadable']);
      assert.equal(byName.get('b-1000')?.keep, true);
      assert.equal(byName.get('b-0001')?.keep, true);
      assert.ok(byName.get('b-0001')?.reasons.includes('newest good backup'));
    }
    // keep-last 1, keep-within off: exactly the two unreadable ones and the newest good one.
    assert.deepEqual(
      applyPolicy(withBad, policy({}), NOW)
        .filter((d) => d.keep)
        .map((d) => d.backup.name),
      ['b-0000', 'b-0001', 'b-1000'],
    );
  });

  it('an unreadable backup does not use up a keep-last slot', () => {
    const withBad = backups.map((b, k) => (k === 0 ? { ...b, good: false, problem: 'object missing' } : b));
    const kept = applyPolicy(withBad, policy({ keepLast: 3 }), NOW).filter((d) => d.keep);
    assert.deepEqual(
      kept.map((d) => [d.backup.name, d.reasons]),
      [
        ['b-0000', ['object missing']],
        ['b-0001', ['newest good backup', 'last 3']],
        ['b-0002', ['last 3']],
        ['b-0003', ['last 3']],
      ],
    );
  });

  it('when no backup is good, all are kept and none is called the newest good', () => {
    const bad = backups.slice(0, 5).map((b) => ({ ...b, good: false }));
    const decisions = applyPolicy(bad, policy({}), NOW);
    assert.ok(decisions.every((d) => d.keep && d.reasons.length === 1 && d.reasons[0] === 'manifest unreadable'));
  });
});

describe('applyPolicy contracts', () => {
  it('does not mutate its input, and returns decisions newest first', () => {
    const backups = week().slice(0, 50);
    const shuffled = [...backups].reverse();
    shuffled.splice(10, 0, shuffled.splice(30, 1)[0]!);
    for (const b of shuffled) Object.freeze(b);
    Object.freeze(shuffled);
    const before = JSON.stringify(shuffled);
    const decisions = applyPolicy(shuffled, DEFAULT_RETENTION_POLICY, NOW);
    assert.equal(JSON.stringify(shuffled), before);
    assert.deepEqual(
      decisions.map((d) => d.backup),
      backups,
    );
    // The decisions refer to the caller's objects, not copies.
    assert.ok(decisions.every((d) => shuffled.includes(d.backup)));
  });

  it('every decision carries reasons, including those that drop a backup', () => {
    const decisions = applyPolicy(week(), policy({ keepLast: 2, keepDaily: 2 }), NOW);
    assert.ok(decisions.every((d) => d.reasons.length > 0));
    const dropped = decisions.filter((d) => !d.keep);
    assert.equal(dropped.length, 2016 - 3);
    assert.deepEqual(dropped[0]!.reasons, ['no rule keeps it (keep-last 2, keep-daily 2)']);
  });

  it('equal times are ordered by name, whatever the input order', () => {
    const t = new Date('2026-11-25T10:00:00Z');
    const a = { name: 'a', time: t, good: true };
    const b = { name: 'b', time: t, good: true };
    assert.deepEqual(applyPolicy([a, b], policy({}), NOW).map((d) => [d.backup.name, d.keep]), [['b', true], ['a', false]]);
    assert.deepEqual(applyPolicy([b, a], policy({}), NOW).map((d) => [d.backup.name, d.keep]), [['b', true], ['a', false]]);
  });

  it('keep-within keeps backups strictly newer than now minus the duration, relative to the given now', () => {
    const backups = [
      { name: 'edge', time: new Date(NOW.getTime() - HOUR), good: true },
      { name: 'inside', time: new Date(NOW.getTime() - HOUR + 1), good: true },
      { name: 'future', time: new Date(NOW.getTime() + HOUR), good: true },
    ];
    const decisions = applyPolicy(backups, policy({ keepWithinMs: HOUR, keepLast: 1 }), NOW);
    assert.deepEqual(
      decisions.map((d) => [d.backup.name, d.keep]),
      [['future', true], ['inside', true], ['edge', false]],
    );
  });

  it('an empty list gives no decisions', () => {
    assert.deepEqual(applyPolicy([], DEFAULT_RETENTION_POLICY, NOW), []);
  });

  it('rejects a policy that could delete everything, duplicate names and invalid dates', () => {
    const backups = week().slice(0, 3);
    assert.throws(() => applyPolicy(backups, policy({ keepLast: 0 }), NOW), InputError);
    assert.throws(() => applyPolicy(backups, policy({ keepDaily: 1.5 }), NOW), /keep-daily must be a whole number >= 0/);
    assert.throws(() => applyPolicy(backups, policy({ keepWithinMs: -1 }), NOW), /keep-within/);
    assert.throws(() => applyPolicy([backups[0]!, backups[0]!], policy({}), NOW), /b-0000 is listed twice/);
    assert.throws(
      () => applyPolicy([{ name: 'x', time: new Date('nope'), good: true }], policy({}), NOW),
      /backup x has an invalid time/,
    );
    assert.throws(() => applyPolicy(backups, policy({}), new Date(Number.NaN)), /`now` is not a valid date/);
  });
});

describe('buckets', () => {
  it('are UTC and ISO weeks, including across a year boundary', () => {
    const t = new Date('2026-11-25T13:04:05Z');
    assert.equal(hourBucket(t), '2026-11-25T13');
    assert.equal(dayBucket(t), '2026-11-25');
    assert.equal(weekBucket(t), '2026-W48');
    assert.equal(monthBucket(t), '2026-11');
    // 2026 has 53 ISO weeks (it ends on a Thursday); 1 January 2027 is still in its week 53.
    assert.equal(weekBucket(new Date('2026-12-31T23:59:59Z')), '2026-W53');
    assert.equal(weekBucket(new Date('2027-01-01T00:00:00Z')), '2026-W53');
    assert.equal(weekBucket(new Date('2027-01-04T00:00:00Z')), '2027-W01');
    // 29 December 2025 is a Monday in ISO week 1 of 2026.
    assert.equal(weekBucket(new Date('2025-12-29T00:00:00Z')), '2026-W01');
    assert.equal(weekBucket(new Date('2025-12-28T23:59:59Z')), '2025-W52');
  });
});
