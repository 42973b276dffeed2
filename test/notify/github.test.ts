import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { reportOutcome, clusterMarker, type AlarmDeps, type AlarmEvent } from '../../src/notify/alarm.ts';
import { createOctokit, githubApiUrl, parseRepository } from '../../src/notify/github.ts';
import { startFakeGitHub, type FakeGitHub } from '../harness/fakeGitHub.ts';

interface Harness {
  deps: AlarmDeps;
  delays: number[];
  warnings: string[];
  infos: string[];
}

function harness(baseUrl: string): Harness {
  const delays: number[] = [];
  const warnings: string[] = [];
  const infos: string[] = [];
  const log = { info: (m: string) => infos.push(m), warning: (m: string) => warnings.push(m) };
  const deps: AlarmDeps = {
    octokit: createOctokit({ token: 'test-token', baseUrl, log }),
    owner: 'acme',
    repo: 'infra',
    sleep: async (ms: number) => {
      delays.push(ms);
    },
    log,
  };
  return { deps, delays, warnings, infos };
}

const failure: AlarmEvent = {
  cluster: 'prod',
  operation: 'backup',
  outcome: 'failed',
  summary: '- upload to `sftp://backup@dc2:22/srv/etcd`: connection refused',
  runner: 'runner-dc1-7',
  runUrl: 'https://github.com/acme/infra/actions/runs/42',
  newestGoodBackup: 'prod-20260101T120000Z-etcd-0-r1234',
};
const success: AlarmEvent = { ...failure, outcome: 'success', summary: 'backup stored on 2 of 2 sites' };

const writes = (gh: FakeGitHub) => gh.requests.filter((r) => r.method !== 'GET');

describe('alarm issues on GitHub', () => {
  let gh: FakeGitHub;
  beforeEach(async () => {
    gh = await startFakeGitHub();
  });
  afterEach(async () => {
    await gh.close();
  });

  test('the first failure opens one issue with the labels, the cluster marker, the runner and a link to the run', async () => {
    const h = harness(gh.url);
    const result = await reportOutcome(h.deps, { ...failure, labels: ['etcd-backup', 'sev2'] });
    assert.deepEqual(result, { ok: true, action: 'opened', issueNumber: 1 });
    assert.equal(gh.issues.length, 1);
    const issue = gh.issues[0]!;
    assert.equal(issue.state, 'open');
    assert.equal(issue.title, 'etcd-dr: prod backups failing');
    assert.deepEqual(issue.labels, ['etcd-backup', 'sev2']);
    assert.ok(issue.body.includes(clusterMarker('prod', 'backup')), issue.body);
    assert.ok(issue.body.includes('runner-dc1-7'));
    assert.ok(issue.body.includes('https://github.com/acme/infra/actions/runs/42'));
    assert.ok(issue.body.includes('prod-20260101T120000Z-etcd-0-r1234'));
    assert.ok(issue.body.includes('connection refused'));
    const list = gh.requests[0]!;
    assert.equal(list.method, 'GET');
    assert.equal(list.path, '/repos/acme/infra/issues');
    assert.equal(list.query['labels'], 'etcd-backup');
    assert.equal(list.query['state'], 'open');
    assert.equal(list.authorization, 'token test-token');
    assert.equal(writes(gh).length, 1);
    assert.equal(writes(gh)[0]!.method, 'POST');
  });

  test('without labels the issue gets the default etcd-backup label', async () => {
    const h = harness(gh.url);
    await reportOutcome(h.deps, failure);
    assert.deepEqual(gh.issues[0]!.labels, ['etcd-backup']);
  });

  test('two more failures add two comments and open no new issue', async () => {
    const h = harness(gh.url);
    await reportOutcome(h.deps, failure);
    const second = await reportOutcome(h.deps, { ...failure, outcome: 'degraded', summary: 'dc2 unreachable' });
    const third = await reportOutcome(h.deps, { ...failure, summary: 'etcd unreachable' });
    assert.deepEqual(second, { ok: true, action: 'commented', issueNumber: 1 });
    assert.deepEqual(third, { ok: true, action: 'commented', issueNumber: 1 });
    assert.equal(gh.issues.length, 1);
    assert.equal(gh.issues[0]!.comments.length, 2);
    assert.ok(gh.issues[0]!.comments[0]!.body.includes('dc2 unreachable'));
    assert.ok(gh.issues[0]!.comments[1]!.body.includes('etcd unreachable'));
    assert.deepEqual(
      writes(gh).map((r) => `${r.method} ${r.path}`),
      ['POST /repos/acme/infra/issues', 'POST /repos/acme/infra/issues/1/comments', 'POST /repos/acme/infra/issues/1/comments'],
    );
  });

  test('a success comments "recovered" on the open issue and closes it', async () => {
    const h = harness(gh.url);
    await reportOutcome(h.deps, failure);
    const result = await reportOutcome(h.deps, success);
    assert.deepEqual(result, { ok: true, action: 'closed', issueNumber: 1 });
    const issue = gh.issues[0]!;
    assert.equal(issue.state, 'closed');
    assert.equal(issue.comments.length, 1);
    assert.match(issue.comments[0]!.body, /Recovered/);
    const patch = writes(gh).at(-1)!;
    assert.equal(patch.method, 'PATCH');
    assert.equal(patch.path, '/repos/acme/infra/issues/1');
    assert.deepEqual(patch.body, { state: 'closed', state_reason: 'completed' });
    // The next failure opens a fresh issue.
    const again = await reportOutcome(h.deps, failure);
    assert.deepEqual(again, { ok: true, action: 'opened', issueNumber: 2 });
  });

  test('a success with no open issue does nothing', async () => {
    const h = harness(gh.url);
    const result = await reportOutcome(h.deps, success);
    assert.deepEqual(result, { ok: true, action: 'none' });
    assert.equal(gh.requests.length, 1);
    assert.equal(gh.requests[0]!.method, 'GET');
    assert.equal(gh.issues.length, 0);
  });

  test("another cluster's open issue (same label, other marker) is left alone", async () => {
    const h = harness(gh.url);
    await reportOutcome(h.deps, { ...failure, cluster: 'staging' });
    const prod = await reportOutcome(h.deps, failure);
    assert.equal(prod.action, 'opened');
    assert.equal(gh.issues.length, 2);
    const closed = await reportOutcome(h.deps, success);
    assert.deepEqual(closed, { ok: true, action: 'closed', issueNumber: 2 });
    assert.equal(gh.issues.find((i) => i.number === 1)!.state, 'open');
    assert.equal(gh.issues.find((i) => i.number === 1)!.comments.length, 0);
  });

  test('GitHub answering 500 then OK: the call is retried after a backoff and succeeds', async () => {
    const h = harness(gh.url);
    gh.failNext(1, 500);
    const result = await reportOutcome(h.deps, failure);
    assert.deepEqual(result, { ok: true, action: 'opened', issueNumber: 1 });
    assert.deepEqual(h.delays, [1000]);
    assert.deepEqual(
      gh.requests.map((r) => `${r.method} ${r.status}`),
      ['GET 500', 'GET 200', 'POST 201'],
    );
    assert.deepEqual(h.warnings, []);
  });

  test('403 rate-limited on every attempt: gives up after 3 retries (1s/2s/4s) with a warning, ok:false, never throws', async () => {
    const h = harness(gh.url);
    gh.failNext(100, 403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1767225600' });
    const result = await reportOutcome(h.deps, failure);
    assert.equal(result.ok, false);
    assert.equal(result.action, 'none');
    assert.ok(!result.ok && /rate limited until 2026-01-01T00:00:00.000Z/.test(result.error), JSON.stringify(result));
    assert.deepEqual(h.delays, [1000, 2000, 4000]);
    assert.equal(gh.requests.length, 4);
    assert.equal(h.warnings.length, 1);
    assert.match(h.warnings[0]!, /could not report backup failed of prod to GitHub/);
    assert.equal(gh.issues.length, 0);
  });

  test('a retry-after header lengthens the backoff', async () => {
    const h = harness(gh.url);
    gh.failNext(1, 429, { 'retry-after': '7' });
    const result = await reportOutcome(h.deps, failure);
    assert.equal(result.ok, true);
    assert.deepEqual(h.delays, [7000]);
  });

  test('a 403 that is not a rate limit (missing permission) is not retried and names the permission', async () => {
    const h = harness(gh.url);
    gh.failNext(1, 403);
    const result = await reportOutcome(h.deps, failure);
    assert.ok(!result.ok);
    assert.match(result.error, /issues: write/);
    assert.deepEqual(h.delays, []);
    assert.equal(gh.requests.length, 1);
  });

  test('a comment that succeeds before a failing close reports ok:false with what was done', async () => {
    const h = harness(gh.url);
    await reportOutcome(h.deps, failure);
    gh.failNext(100, 502, {}, (r) => r.method === 'PATCH');
    const result = await reportOutcome(h.deps, success);
    assert.ok(!result.ok);
    assert.equal(result.action, 'commented');
    assert.equal(result.issueNumber, 1);
    assert.match(result.error, /closing issue #1 in acme\/infra: HTTP 502/);
    assert.equal(gh.issues[0]!.state, 'open');
    assert.equal(h.warnings.length, 1);
  });

  test('a GHES-style base URL with a path prefix (/api/v3) works', async () => {
    const h = harness(`${gh.url}/api/v3`);
    const opened = await reportOutcome(h.deps, failure);
    const closed = await reportOutcome(h.deps, success);
    assert.deepEqual(opened, { ok: true, action: 'opened', issueNumber: 1 });
    assert.deepEqual(closed, { ok: true, action: 'closed', issueNumber: 1 });
    assert.ok(gh.requests.length > 0);
    for (const r of gh.requests) assert.ok(r.path.startsWith('/api/v3/repos/acme/infra/issues'), r.path);
  });
});

test('GitHub unreachable (connection refused): retried, then a warning and ok:false, never throws', async () => {
  const gh = await startFakeGitHub();
  const url = gh.url;
  await gh.close();
  const h = harness(url);
  const result = await reportOutcome(h.deps, failure);
  assert.equal(result.ok, false);
  assert.deepEqual(h.delays, [1000, 2000, 4000]);
  assert.equal(h.warnings.length, 1);
  assert.match(h.warnings[0]!, /listing open issues labelled etcd-backup in acme\/infra: network error: .*gave up after 4 attempts/);
});

test('githubApiUrl defaults to api.github.com and honours GITHUB_API_URL; parseRepository splits owner/repo', () => {
  assert.equal(githubApiUrl({}), 'https://api.github.com');
  assert.equal(githubApiUrl({ GITHUB_API_URL: 'https://ghe.example.com/api/v3/' }), 'https://ghe.example.com/api/v3');
  assert.deepEqual(parseRepository('acme/infra'), { owner: 'acme', repo: 'infra' });
  assert.throws(() => parseRepository('acme'), /owner\/repo/);
});
