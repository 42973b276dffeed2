/** Point-in-time settings (to-time, to-revision), checked before any I/O. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTargetTime, pointInTimeTarget, restoreSettings } from '../../src/config/restore.ts';
import { settingsFrom } from '../harness/settings.ts';

describe('point-in-time settings', () => {
  it('to-time takes RFC 3339 in UTC, with Z or +00:00 and fractions of a second', () => {
    assert.equal(parseTargetTime('2026-12-01T03:04:05Z').toISOString(), '2026-12-01T03:04:05.000Z');
    assert.equal(parseTargetTime('2026-12-01T03:04:05.123456789Z').toISOString(), '2026-12-01T03:04:05.123Z');
    assert.equal(parseTargetTime('2026-12-01 03:04:05+00:00').toISOString(), '2026-12-01T03:04:05.000Z');
  });

  it('to-time refuses other offsets, local times and dates that do not exist', () => {
    assert.throws(() => parseTargetTime('2026-12-01T03:04:05+02:00'), /not an RFC 3339 UTC time/);
    assert.throws(() => parseTargetTime('2026-12-01T03:04:05'), /not an RFC 3339 UTC time/);
    assert.throws(() => parseTargetTime('2026-02-30T03:04:05Z'), /not a valid date and time/);
    assert.throws(() => parseTargetTime('2026-12-01T24:00:00Z'), /not a valid date and time/);
  });

  it('to-revision is a whole number >= 1; the two together are refused; neither means no point in time', () => {
    assert.deepEqual(pointInTimeTarget(settingsFrom({ 'to-revision': '1234' })), { kind: 'revision', revision: 1234 });
    assert.throws(() => pointInTimeTarget(settingsFrom({ 'to-revision': '0' })), /to-revision must be a whole number >= 1/);
    assert.throws(() => pointInTimeTarget(settingsFrom({ 'to-revision': '12a' })), /to-revision must be a whole number/);
    assert.throws(() => pointInTimeTarget(settingsFrom({ 'to-revision': '5', 'to-time': '2026-12-01T03:04:05Z' })), /not both/);
    assert.equal(pointInTimeTarget(settingsFrom({})), undefined);
  });

  it('a restore with a target needs no backup name (latest: the base is picked from the journal), one without still does', () => {
    const base = { 'cluster-name': 'prod', 'dry-run': 'true', stores: 'file:///tmp/x' };
    const withTarget = restoreSettings(settingsFrom({ ...base, 'to-time': '2026-12-01T03:04:05Z' }));
    assert.deepEqual(withTarget.backup, { kind: 'latest' });
    assert.deepEqual(withTarget.target, { kind: 'time', time: new Date('2026-12-01T03:04:05Z') });
    assert.throws(() => restoreSettings(settingsFrom(base)), /backup is required/);
    assert.equal(restoreSettings(settingsFrom({ ...base, backup: 'latest' })).target, undefined);
  });
});
