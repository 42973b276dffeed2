/**
 * Issue "Alarms": GitHub issues opened, commented and closed by the commands (against a local fake of
 * GitHub's issues API), a GitHub that keeps failing, the watchdog, and the status.json record each site
 * keeps. Real etcd, real OpenSSH sites, commands run in-process through runCommand.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackupName } from '../../src/repository/layout.ts';
import { runCommand, type CommandReport } from '../../src/commands/index.ts';
import type { Outputs } from '../../src/config/names.ts';
import type { StatusRecord } from '../../src/notify/status.ts';
import { startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { startFakeGitHub, type FakeGitHub, type FakeIssue } from '../harness/fakeGitHub.ts';
import { freePort } from '../harness/ports.ts';
import { commandDeps, etcdInputs, settingsFrom, siteInputs, testClock, type InputValues } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type ClientKey, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';

const MINUTE = 60_000;
/** The default GitHub retry policy (notify/github.ts): 3 retries after 1 s, 2 s and 4 s. */
const GITHUB_RETRY_BUDGET_MS = 1000 + 2000 + 4000;

function outputOf(report: CommandReport, name: `${Outputs}`): string {
  const value = report.outputs[name as Outputs];
  assert.ok(value !== undefined, `output ${name} is set: ${JSON.stringify(report.outputs)}\n${report.summary}`);
  return value;
}

async function statusOn(site: SftpSite, cluster: string): Promise<StatusRecord> {
  return JSON.parse(await readFile(path.join(site.root, cluster, 'status.json'), 'utf8')) as StatusRecord;
}

function githubEnv(github: FakeGitHub): NodeJS.ProcessEnv {
  return { GITHUB_REPOSITORY: 'acme/platform', GITHUB_API_URL: github.url };
}

/** A client URL where nothing listens: etcd is unreachable. */
async function closedEndpoint(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

describe('alarms: GitHub issues, the watchdog and status.json', { concurrency: true }, () => {
  let cluster: EtcdCluster;
  let clientKey: ClientKey;
  const sites: SftpSite[] = [];
  const githubs: FakeGitHub[] = [];

  async function twoSites(name: string): Promise<[SftpSite, SftpSite]> {
    const pair = await Promise.all([startSftpSite(`${name}-dc1`, { clientKey }), startSftpSite(`${name}-dc2`, { clientKey })]);
    sites.push(...pair);
    return pair;
  }

  async function fakeGitHub(): Promise<FakeGitHub> {
    const github = await startFakeGitHub();
    githubs.push(github);
    return github;
  }

  before(async () => {
    const keyDir = await tempDir('etcd-dr-alarms-key-');
    [cluster, clientKey] = await Promise.all([startCluster({ version: '3.5', members: 1, name: 'alarms' }), makeClientKey(keyDir)]);
    await cluster.put('/registry/namespaces/default', '{"kind":"Namespace"}');
  });

  after(async () => {
    await Promise.all([cluster?.stop(), ...sites.map((s) => s.destroy()), ...githubs.map((g) => g.close())]);
  });

  describe('the failure issue', { concurrency: false }, () => {
    let github: FakeGitHub;
    let inputs: InputValues;
    let unreachable: InputValues;

    before(async () => {
      const [[dc1, dc2], gh] = await Promise.all([twoSites('issue'), fakeGitHub()]);
      github = gh;
      inputs = { 'cluster-name': 'payments', ...siteInputs([dc1, dc2]), ...etcdInputs(cluster), 'github-token': 'test-token' };
      unreachable = { ...inputs, endpoints: await closedEndpoint() };
    });

    it('a backup whose etcd is unreachable fails and opens one issue labelled etcd-backup that says what failed', async () => {
      const deps = commandDeps();
      const report = await runCommand('backup', settingsFrom(unreachable, githubEnv(github)), deps);
      assert.equal(report.outcome, 'failed');
      assert.equal(github.issues.length, 1);
      const issue = github.issues[0]!;
      assert.equal(issue.state, 'open');
      assert.equal(`${issue.owner}/${issue.repo}`, 'acme/platform');
      assert.deepEqual(issue.labels, ['etcd-backup']);
      assert.match(issue.title, /payments/);
      assert.match(issue.body, /no etcd member could be snapshotted/);
      assert.ok(issue.body.includes(unreachable.endpoints!), `the issue names the endpoint that failed:\n${issue.body}`);
      const create = github.requests.find((r) => r.method === 'POST' && r.path.endsWith('/repos/acme/platform/issues'));
      assert.match(create?.authorization ?? '', /test-token/, 'GitHub was called with the github-token input');
      assert.match(report.summary, /GitHub issue #1 opened/);
      const secrets = [unreachable['ssh-private-key']!, 'test-token'];
      for (const secret of secrets) {
        assert.ok(!issue.body.includes(secret.trim()) && !report.summary.includes(secret.trim()), 'no secret in the issue or the summary');
      }
    });

    it('two more failing runs add two comments to that issue and open no other', async () => {
      for (let i = 0; i < 2; i++) {
        const report = await runCommand('backup', settingsFrom(unreachable, githubEnv(github)), commandDeps());
        assert.equal(report.outcome, 'failed');
      }
      assert.equal(github.issues.length, 1);
      const issue = github.issues[0]!;
      assert.equal(issue.state, 'open');
      assert.equal(issue.comments.length, 2);
      for (const comment of issue.comments) assert.match(comment.body, /ended \*\*failed\*\* again/);
    });

    it('the next successful run comments that it recovered and closes the issue', async () => {
      const report = await runCommand('backup', settingsFrom(inputs, githubEnv(github)), commandDeps());
      assert.equal(report.outcome, 'success', report.summary);
      assert.equal(github.issues.length, 1);
      const issue: FakeIssue = github.issues[0]!;
      assert.equal(issue.state, 'closed');
      assert.equal(issue.comments.length, 3);
      assert.match(issue.comments[2]!.body, /Recovered/);
      assert.ok(issue.comments[2]!.body.includes(outputOf(report, 'backup-name')), 'the recovery comment names the new backup');
      assert.match(report.summary, /GitHub issue #1 closed/);
    });
  });

  describe('GitHub answering 500 to every request', { concurrency: false }, () => {
    let github: FakeGitHub;
    let dc1: SftpSite;
    let dc2: SftpSite;
    let inputs: InputValues;

    before(async () => {
      [[dc1, dc2], github] = await Promise.all([twoSites('gh500'), fakeGitHub()]);
      inputs = { 'cluster-name': 'gh500', ...siteInputs([dc1, dc2]), ...etcdInputs(cluster), 'github-token': 'test-token' };
    });

    it('does not stop the backup: it succeeds on both sites with a warning about GitHub, within the retry budget', async () => {
      github.failNext(1000, 500);
      const deps = commandDeps();
      const report = await runCommand('backup', settingsFrom(inputs, githubEnv(github)), deps);
      assert.equal(report.outcome, 'success', report.summary);
      assert.equal(report.failure, undefined);
      const name = outputOf(report, 'backup-name');
      for (const site of [dc1, dc2]) {
        const files = await readdir(path.join(site.root, 'gh500'));
        assert.ok(files.includes(`${name}.json`) && files.includes(`${name}.db.zst`), `${site.name} holds the backup`);
      }
      const warnings = deps.lines.filter((l) => l.startsWith('warning:'));
      assert.ok(
        warnings.some((w) => /GitHub/.test(w) && /500/.test(w)),
        `a warning says GitHub failed:\n${deps.lines.join('\n')}`,
      );
      assert.match(report.summary, /GitHub issue not updated/);
      const waited = deps.sleeps.reduce((a, b) => a + b, 0);
      assert.ok(waited > 0, 'it did retry');
      assert.ok(waited <= GITHUB_RETRY_BUDGET_MS, `waited ${waited} ms for GitHub (${deps.sleeps.join(', ')}), budget ${GITHUB_RETRY_BUDGET_MS}`);
      assert.ok(github.requests.length <= 4, `${github.requests.length} requests to GitHub`);
      assert.ok(github.requests.every((r) => r.status === 500));
      assert.equal(github.issues.length, 0);
    });
  });

  describe('the watchdog', { concurrency: false }, () => {
    let github: FakeGitHub;
    let inputs: InputValues;
    let backupTime: Date;
    let backupName: string;

    before(async () => {
      const [[dc1, dc2], gh] = await Promise.all([twoSites('watch'), fakeGitHub()]);
      github = gh;
      inputs = { 'cluster-name': 'watched', ...siteInputs([dc1, dc2]), 'github-token': 'test-token', 'max-age': '30m' };
      const report = await runCommand('backup', settingsFrom({ ...inputs, ...etcdInputs(cluster) }), commandDeps());
      assert.equal(report.outcome, 'success', report.summary);
      backupName = outputOf(report, 'backup-name');
      backupTime = parseBackupName(backupName)!.time;
    });

    it('with the newest backup 31 minutes old and max-age 30m, fails and opens an issue', async () => {
      const clock = testClock(new Date(backupTime.getTime() + 31 * MINUTE));
      const report = await runCommand('watchdog', settingsFrom(inputs, githubEnv(github)), commandDeps({ now: clock.now }));
      assert.equal(report.outcome, 'failed');
      assert.equal(outputOf(report, 'status'), 'failed');
      assert.match(report.summary, /ALARM/);
      assert.match(report.failure ?? '', /31m old/);
      assert.ok(report.failure!.includes(backupName), report.failure);
      assert.equal(github.issues.length, 1);
      const issue = github.issues[0]!;
      assert.equal(issue.state, 'open');
      assert.deepEqual(issue.labels, ['etcd-backup']);
      assert.match(issue.body, /watchdog/);
      assert.match(issue.body, /31m old/);
    });

    it('with the newest backup 5 minutes old, succeeds and closes the issue it opened', async () => {
      const clock = testClock(new Date(backupTime.getTime() + 5 * MINUTE));
      const report = await runCommand('watchdog', settingsFrom(inputs, githubEnv(github)), commandDeps({ now: clock.now }));
      assert.equal(report.outcome, 'success', report.summary);
      assert.equal(outputOf(report, 'backup-name'), backupName);
      assert.match(report.summary, /fresh/);
      assert.equal(github.issues.length, 1);
      assert.equal(github.issues[0]!.state, 'closed');
      assert.match(github.issues[0]!.comments.at(-1)?.body ?? '', /Recovered/);
    });

    it('with its own label (etcd-watchdog), a fresh watchdog run leaves the failing backups\' issue open', async () => {
      const failing = await runCommand(
        'backup',
        settingsFrom({ ...inputs, endpoints: await closedEndpoint() }, githubEnv(github)),
        commandDeps(),
      );
      assert.equal(failing.outcome, 'failed');
      const backupIssue = github.issues.find((i) => i.state === 'open' && i.labels.includes('etcd-backup'));
      assert.ok(backupIssue, 'the failed backup opened an issue');
      const clock = testClock(new Date(backupTime.getTime() + 5 * MINUTE));
      const report = await runCommand(
        'watchdog',
        settingsFrom({ ...inputs, 'issue-labels': 'etcd-watchdog' }, githubEnv(github)),
        commandDeps({ now: clock.now }),
      );
      assert.equal(report.outcome, 'success', report.summary);
      assert.equal(backupIssue.state, 'open');
      assert.equal(backupIssue.comments.length, 0);
    });
  });

  describe('status.json on every site', { concurrency: false }, () => {
    let dc1: SftpSite;
    let dc2: SftpSite;
    let inputs: InputValues;
    let firstBackup: string;
    let degradedBackup: string;

    before(async () => {
      [dc1, dc2] = await twoSites('status');
      inputs = { 'cluster-name': 'recorded', ...siteInputs([dc1, dc2]), ...etcdInputs(cluster) };
    });

    it('after a success, says success on both sites and names the backup as the last success', async () => {
      const report = await runCommand('backup', settingsFrom(inputs), commandDeps());
      assert.equal(report.outcome, 'success', report.summary);
      firstBackup = outputOf(report, 'backup-name');
      for (const site of [dc1, dc2]) {
        const status = await statusOn(site, 'recorded');
        assert.equal(status.cluster, 'recorded');
        assert.equal(status.lastAttempt.operation, 'backup');
        assert.equal(status.lastAttempt.outcome, 'success');
        assert.equal(status.lastAttempt.backup, firstBackup);
        assert.equal(status.lastSuccess?.backup, firstBackup);
        assert.deepEqual(
          status.sites.map((s) => [s.store, s.ok]),
          [
            [dc1.url, true],
            [dc2.url, true],
          ],
        );
      }
    });

    it('after a run with one site down, the reachable site says degraded and names the down site as not ok', async () => {
      await dc2.stop();
      let report: CommandReport;
      try {
        report = await runCommand('backup', settingsFrom(inputs), commandDeps());
      } finally {
        await dc2.start();
      }
      assert.equal(report.outcome, 'degraded');
      degradedBackup = outputOf(report, 'backup-name');
      const status = await statusOn(dc1, 'recorded');
      assert.equal(status.lastAttempt.outcome, 'degraded');
      assert.equal(status.lastAttempt.backup, degradedBackup);
      assert.ok(status.lastAttempt.error?.includes(dc2.url), `the error names the down site: ${status.lastAttempt.error}`);
      assert.equal(status.lastSuccess?.backup, degradedBackup, 'a degraded run still produced a backup');
      const down = status.sites.find((s) => s.store === dc2.url);
      assert.equal(down?.ok, false);
      assert.match(down?.error ?? '', /connection refused/);
      assert.equal(status.sites.find((s) => s.store === dc1.url)?.ok, true);
      // The down site could not be written: it still holds the record of the run before.
      const stale = await statusOn(dc2, 'recorded');
      assert.equal(stale.lastAttempt.outcome, 'success');
      assert.equal(stale.lastAttempt.backup, firstBackup);
    });

    it('after a failed run (etcd unreachable), says failed on both sites and keeps the last success', async () => {
      const report = await runCommand('backup', settingsFrom({ ...inputs, endpoints: await closedEndpoint() }), commandDeps());
      assert.equal(report.outcome, 'failed');
      for (const site of [dc1, dc2]) {
        const status = await statusOn(site, 'recorded');
        assert.equal(status.lastAttempt.outcome, 'failed', site.name);
        assert.match(status.lastAttempt.error ?? '', /no etcd member could be snapshotted/);
        assert.equal(status.lastAttempt.backup, undefined);
        assert.equal(status.lastSuccess?.backup, degradedBackup, `${site.name} keeps the last backup that was made`);
      }
    });
  });
});
