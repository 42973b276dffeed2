import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { formatDuration, parseDuration } from '../../src/base/duration.ts';
import { assertRetentionPolicy, DEFAULT_RETENTION_POLICY, describePolicy } from '../../src/catalog/policy.ts';
import { parseRetentionPolicy } from '../../src/config/retention.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('parseRetentionPolicy', () => {
  it('absent or empty inputs take the defaults: keep-within 48h, keep-last 3, buckets off', () => {
    const expected = { keepWithinMs: 48 * H, keepLast: 3, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 };
    assert.deepEqual(parseRetentionPolicy({}), expected);
    assert.deepEqual(DEFAULT_RETENTION_POLICY, expected);
    assert.deepEqual(
      parseRetentionPolicy({ 'keep-within': '', 'keep-last': '  ', 'keep-daily': undefined, 'cluster-name': 'x' }),
      expected,
    );
  });

  it('reads every rule, trimming whitespace', () => {
    assert.deepEqual(
      parseRetentionPolicy({
        'keep-within': ' 1d12h ',
        'keep-last': '1',
        'keep-hourly': '24',
        'keep-daily': '7',
        'keep-weekly': '4',
        'keep-monthly': '12',
      }),
      { keepWithinMs: 36 * H, keepLast: 1, keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 12 },
    );
  });

  it('accepts 0 and 0s as "keep-within disabled"', () => {
    assert.equal(parseRetentionPolicy({ 'keep-within': '0' }).keepWithinMs, 0);
    assert.equal(parseRetentionPolicy({ 'keep-within': '0s' }).keepWithinMs, 0);
  });

  it('rejects keep-last 0 (it could delete every backup) with a message naming input and value', () => {
    assert.throws(
      () => parseRetentionPolicy({ 'keep-last': '0' }),
      (error: unknown) =>
        error instanceof InputError && error.message === 'keep-last must be a whole number >= 1, got "0"',
    );
  });

  it('rejects counts that are not whole non-negative numbers', () => {
    const cases: [string, string, RegExp][] = [
      ['keep-last', '-1', /^keep-last must be a whole number >= 1, got "-1"$/],
      ['keep-last', '1.5', /^keep-last must be a whole number >= 1, got "1.5"$/],
      ['keep-last', 'three', /^keep-last must be a whole number >= 1, got "three"$/],
      ['keep-hourly', '-1', /^keep-hourly must be a whole number >= 0, got "-1"$/],
      ['keep-daily', '7d', /^keep-daily must be a whole number >= 0, got "7d"$/],
      ['keep-weekly', '1e3', /^keep-weekly must be a whole number >= 0, got "1e3"$/],
      ['keep-monthly', '0x10', /^keep-monthly must be a whole number >= 0, got "0x10"$/],
      ['keep-monthly', '99999999999', /^keep-monthly must be at most 1000000, got "99999999999"$/],
    ];
    for (const [input, value, message] of cases) {
      assert.throws(() => parseRetentionPolicy({ [input]: value }), (error: unknown) => {
        assert.ok(error instanceof InputError, `${input}=${value} gives an InputError`);
        assert.match(error.message, message);
        return true;
      });
    }
  });

  it('rejects malformed keep-within durations, quoting the value', () => {
    for (const value of ['48', '2 days', '1y', '-1h', 'h', '1.5h', '1h1d', '1h1h', '48H', 'forever']) {
      assert.throws(
        () => parseRetentionPolicy({ 'keep-within': value }),
        (error: unknown) =>
          error instanceof InputError &&
          error.message.startsWith('keep-within ') &&
          error.message.includes(JSON.stringify(value)),
        `keep-within ${value}`,
      );
    }
    assert.throws(() => parseRetentionPolicy({ 'keep-within': '1h1d' }), /each unit may appear once, largest first/);
    assert.throws(() => parseRetentionPolicy({ 'keep-within': '99999999w' }), /too long/);
  });
});

describe('durations', () => {
  it('parses s, m, h, d, w and combinations', () => {
    assert.equal(parseDuration('48h'), 48 * H);
    assert.equal(parseDuration('30m'), 30 * M);
    assert.equal(parseDuration('90s'), 90 * S);
    assert.equal(parseDuration('7d'), 7 * D);
    assert.equal(parseDuration('2w'), 14 * D);
    assert.equal(parseDuration('1d12h'), 36 * H);
    assert.equal(parseDuration('1w2d3h4m5s'), 9 * D + 3 * H + 4 * M + 5 * S);
  });

  it('formats them back the way people write them', () => {
    assert.equal(formatDuration(48 * H), '48h');
    assert.equal(formatDuration(90 * M), '1h30m');
    assert.equal(formatDuration(14 * D), '2w');
    assert.equal(formatDuration(10 * D + 12 * H), '10d12h');
    assert.equal(formatDuration(0), '0');
    for (const text of ['48h', '30m', '2w', '1h30m', '10d12h', '45s']) assert.equal(formatDuration(parseDuration(text)), text);
  });
});

describe('describePolicy and assertRetentionPolicy', () => {
  it('describes the rules that are on', () => {
    assert.equal(describePolicy(DEFAULT_RETENTION_POLICY), 'keep-within 48h, keep-last 3');
    assert.equal(
      describePolicy(parseRetentionPolicy({ 'keep-within': '0', 'keep-last': '1', 'keep-daily': '7', 'keep-monthly': '6' })),
      'keep-last 1, keep-daily 7, keep-monthly 6',
    );
  });

  it('rejects policies built in code that break the rules', () => {
    assert.throws(() => assertRetentionPolicy({ ...DEFAULT_RETENTION_POLICY, keepLast: 0 }), InputError);
    assert.throws(() => assertRetentionPolicy({ ...DEFAULT_RETENTION_POLICY, keepWeekly: -2 }), /keep-weekly/);
    assert.throws(() => assertRetentionPolicy({ ...DEFAULT_RETENTION_POLICY, keepWithinMs: 0.5 }), /keep-within/);
    assert.equal(assertRetentionPolicy(DEFAULT_RETENTION_POLICY), DEFAULT_RETENTION_POLICY);
  });
});
