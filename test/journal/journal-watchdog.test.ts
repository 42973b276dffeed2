/**
 * The watchdog's `journal-max-age` (issue 12): a journal written by a real `etcd-dr journal` follower (CLI
 * child process, real etcd, two real OpenSSH sites), then the watchdog run in-process with its clock set
 * after the journal's newest segment or progress mark; alarms go to the local fake GitHub.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from '../../src/commands/index.ts';
import { connect } from '../../src/etcd/connection.ts';
import { InputError } from '../../src/errors.ts';
import { parseProgressMark } from '../../src/journal/segment.ts';
import { startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { accessFor } from '../harness/engine.ts';
import { startFakeGitHub, type FakeGitHub } from '../harness/fakeGitHub.ts';
import { commandDeps, etcdInputs, settingsFrom, siteInputs, testClock, type InputValues } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';
import { siteFlags, startFollower } from './followers.ts';
import { readSiteJournal } from './journal-sites.ts';
import { kubernetesLikeLoad } from './load.ts';

const MINUTE = 60_000;

describe('the watchdog watches the journal when journal-max-age is set', () => {
  let cluster: EtcdCluster;
  let sites: SftpSite[];
  let github: FakeGitHub;
  let inputs: InputValues;
  /** The newest completeThrough.at on the sites (segment manifests and the progress mark). */
  let journalNewest: Date;

  before(async () => {
    const dir = await tempDir('etcd-dr-journal-watchdog-');
    const clientKey = await makeClientKey(`${dir}/key`);
    [cluster, github, ...sites] = await Promise.all([
      startCluster({ version: '3.5', name: 'jw35' }),
      startFakeGitHub(),
      startSftpSite('jw-dc1', { clientKey }),
      startSftpSite('jw-dc2', { clientKey }),
    ] as const);
    inputs = { 'cluster-name': 'test', ...siteInputs(sites), 'github-token': 'test-token', 'max-age': '30m' };
    const backup = await runCommand('backup', settingsFrom({ ...inputs, ...etcdInputs(cluster), 'open-issue-on-failure': 'false' }), commandDeps());
    assert.equal(backup.outcome, 'success', backup.failure);
    const follower = startFollower('jw', dir, [
      '--cluster-name', 'test',
      '--endpoints', cluster.endpoints[0]!,
      ...(await siteFlags(dir, sites)),
      '--journal-flush', '1',
      '--journal-max-runtime', '6s',
      '--temp-dir', dir,
      '--open-issue-on-failure', 'false',
    ]);
    const client = await connect(accessFor(cluster));
    try {
      await kubernetesLikeLoad(client, { durationMs: 2000, ratePerSecond: 50 });
    } finally {
      client.close();
    }
    assert.equal(await follower.exited, 0, await follower.log());
    const journal = await readSiteJournal(sites[0]!.root, 'test');
    assert.ok(journal.segments.length > 0, `the follower wrote segments: ${await follower.log()}`);
    const progressFile = path.join(sites[0]!.root, 'test', 'journal', 'test-progress.json');
    const progress = await readFile(progressFile, 'utf8').then((t) => [Date.parse(parseProgressMark(t, 'test-progress.json').completeThrough.at)], () => []);
    journalNewest = new Date(Math.max(...journal.segments.map((s) => Date.parse(s.manifest.completeThrough.at)), ...progress));
  });
  after(async () => {
    await Promise.all([cluster?.stop(), github?.close(), ...(sites ?? []).map((s) => s.destroy())]);
  });

  const githubEnv = (): NodeJS.ProcessEnv => ({ GITHUB_REPOSITORY: 'acme/platform', GITHUB_API_URL: github.url });

  it('a journal whose newest mark is 10 minutes old, with journal-max-age 5m, fails and opens an issue naming journal-max-age', async () => {
    const clock = testClock(new Date(journalNewest.getTime() + 10 * MINUTE));
    const report = await runCommand('watchdog', settingsFrom({ ...inputs, 'journal-max-age': '5m' }, githubEnv()), commandDeps({ now: clock.now }));
    assert.equal(report.outcome, 'failed', report.summary);
    assert.match(report.failure ?? '', /journal's newest segment or progress mark is 10m old .*journal-max-age of 5m/);
    assert.doesNotMatch(report.failure ?? '', /newest backup/, 'the backups (max-age 30m) are fresh');
    const open = github.issues.filter((i) => i.state === 'open');
    assert.equal(open.length, 1);
    assert.match(open[0]!.body, /journal-max-age/);
  });

  it('the same journal one minute after its newest mark is fresh: success, and the issue is closed', async () => {
    const clock = testClock(new Date(journalNewest.getTime() + 1 * MINUTE));
    const report = await runCommand('watchdog', settingsFrom({ ...inputs, 'journal-max-age': '5m' }, githubEnv()), commandDeps({ now: clock.now }));
    assert.equal(report.outcome, 'success', report.summary);
    assert.match(report.summary, /journal complete through revision \d+/);
    assert.equal(github.issues.filter((i) => i.state === 'open').length, 0);
  });

  it('without journal-max-age the journal is not watched: a 10-minute-old journal is no alarm', async () => {
    const clock = testClock(new Date(journalNewest.getTime() + 10 * MINUTE));
    const report = await runCommand('watchdog', settingsFrom(inputs, githubEnv()), commandDeps({ now: clock.now }));
    assert.equal(report.outcome, 'success', report.summary);
  });

  it('a journal-max-age that is not a duration is a clear input error', async () => {
    await assert.rejects(
      runCommand('watchdog', settingsFrom({ ...inputs, 'journal-max-age': 'soon' }, githubEnv()), commandDeps()),
      (e: unknown) => e instanceof InputError && /journal-max-age must be a duration, got "soon"/.test(e.message),
    );
  });
});
