import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { assessFreshness, DEFAULT_MAX_AGE_MS, parseMaxAge } from '../../src/notify/watchdog.ts';

const MIN = 60_000;
const DC1 = 'sftp://backup@dc1:22/srv/etcd';
const DC2 = 'sftp://backup@dc2:22/srv/etcd';
/** The test's clock. */
const now = new Date('2026-03-01T12:00:00.000Z');
const ago = (ms: number) => new Date(now.getTime() - ms);

test('the watchdog is quiet when every site has a backup younger than max-age', () => {
  const report = assessFreshness({
    cluster: 'prod',
    sites: [
      { storeId: DC1, newestBackupTime: ago(10 * MIN), newestBackupName: 'prod-20260301T115000Z-etcd-0-r9' },
      { storeId: DC2, newestBackupTime: ago(10 * MIN), newestBackupName: 'prod-20260301T115000Z-etcd-0-r9' },
    ],
    maxAgeMs: DEFAULT_MAX_AGE_MS,
    now,
  });
  assert.deepEqual(report.problems, []);
  assert.equal(report.outcome, 'success');
  assert.equal(report.newest?.name, 'prod-20260301T115000Z-etcd-0-r9');
});

test('the watchdog raises failed for a site whose newest backup is older than max-age, naming the site and age', () => {
  const sites = [
    { storeId: DC1, newestBackupTime: ago(20 * MIN) },
    { storeId: DC2, newestBackupTime: ago(45 * MIN), newestBackupName: 'prod-20260301T111500Z-etcd-0-r8' },
  ];
  const report = assessFreshness({ cluster: 'prod', sites, maxAgeMs: 30 * MIN, maxDisagreementMs: 60 * MIN, now });
  assert.equal(report.outcome, 'failed');
  assert.equal(report.problems.length, 1);
  assert.match(report.problems[0]!, /dc2.*prod-20260301T111500Z-etcd-0-r8 is 45m old .*max-age of 30m/);
  // The same sites, 15 minutes earlier on the test's clock, are fine.
  const earlier = assessFreshness({
    cluster: 'prod',
    sites,
    maxAgeMs: 30 * MIN,
    maxDisagreementMs: 60 * MIN,
    now: new Date(now.getTime() - 15 * MIN),
  });
  assert.equal(earlier.outcome, 'success');
});

test('an unreachable site, or one without any backup, is a problem', () => {
  const report = assessFreshness({
    cluster: 'prod',
    sites: [
      { storeId: DC1, error: 'connection refused' },
      { storeId: DC2 },
    ],
    maxAgeMs: 30 * MIN,
    now,
  });
  assert.equal(report.outcome, 'failed');
  assert.deepEqual(report.problems, [`${DC1} is unreachable: connection refused`, `${DC2} holds no backup of cluster prod`]);
  assert.equal(report.newest, undefined);
  assert.equal(assessFreshness({ cluster: 'prod', sites: [], maxAgeMs: MIN, now }).outcome, 'failed');
});

test('sites whose newest backups differ by more than the disagreement threshold are a problem, even when both are fresh', () => {
  const sites = [
    { storeId: DC1, newestBackupTime: ago(1 * MIN), newestBackupName: 'new' },
    { storeId: DC2, newestBackupTime: ago(25 * MIN), newestBackupName: 'old' },
  ];
  const report = assessFreshness({ cluster: 'prod', sites, maxAgeMs: 30 * MIN, maxDisagreementMs: 20 * MIN, now });
  assert.equal(report.outcome, 'failed');
  assert.equal(report.problems.length, 1);
  assert.match(report.problems[0]!, /sites disagree: .*dc2.*\(old\) is 24m behind .*dc1.*\(new\)/);
  assert.equal(report.newest?.storeId, DC1);
  // Within the threshold: quiet.
  const ok = assessFreshness({ cluster: 'prod', sites, maxAgeMs: 30 * MIN, maxDisagreementMs: 30 * MIN, now });
  assert.equal(ok.outcome, 'success');
});

test('parseMaxAge reads the shared duration syntax (30m, 2h, 1d12h), defaults to 30m and rejects 0, bare numbers and junk', () => {
  assert.equal(parseMaxAge('30m'), 30 * MIN);
  assert.equal(parseMaxAge(' 2h '), 120 * MIN);
  assert.equal(parseMaxAge('1h30m'), 90 * MIN);
  assert.equal(parseMaxAge(undefined), DEFAULT_MAX_AGE_MS);
  assert.equal(parseMaxAge(''), 30 * MIN);
  assert.equal(DEFAULT_MAX_AGE_MS, 30 * MIN);
  for (const bad of ['0', '30', 'soon', '30m junk', '-5m']) {
    assert.throws(() => parseMaxAge(bad), (e: unknown) => e instanceof InputError && /max-age/.test(e.message), bad);
  }
});
