/**
 * Gaps are never silent, one site down is degraded then healed, bad input is refused (issue 12). The
 * `journal` command runs in-process against a real etcd (3.4 and 3.5), two real OpenSSH sites and the
 * local fake GitHub; bad flags go through the CLI as a child process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand, type CommandReport } from '../../src/commands/index.ts';
import { connect } from '../../src/etcd/connection.ts';
import { findBackup } from '../../src/repository/listing.ts';
import { storesFromSettings } from '../../src/config/stores.ts';
import { accessFor } from '../harness/engine.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { startFakeGitHub, type FakeGitHub } from '../harness/fakeGitHub.ts';
import { REPO_ROOT } from '../harness/actionRunner.ts';
import { commandDeps, etcdInputs, settingsFrom, siteInputs, type InputValues } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type ClientKey, type SftpSite } from '../harness/sftp.ts';
import { freePort } from '../harness/ports.ts';
import { tempDir } from '../harness/tmp.ts';
import { operatorEnv } from './followers.ts';
import { readSiteJournal, verifiedRevisions } from './journal-sites.ts';
import { kubernetesLikeLoad } from './load.ts';

/**
 * Stops a site like a machine that goes away: the sshd listener and the per-connection sshd processes
 * it forked (which otherwise keep an established SFTP session working after the listener is gone).
 */
async function stopSiteCompletely(site: SftpSite): Promise<void> {
  const listener = Number((await readFile(path.join(site.dir, 'sshd.pid'), 'utf8')).trim());
  // Frozen first, so it cannot fork a session for a connection arriving while its sessions are listed (such
  // a session outlived the stop on a busy machine and kept the "down" site working).
  process.kill(listener, 'SIGSTOP');
  const sessions = await descendants(listener);
  process.kill(listener, 'SIGKILL');
  await site.stop();
  for (const pid of sessions) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone with its connection
    }
  }
}

async function descendants(pid: number): Promise<number[]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => ''))
    .split(/\s+/)
    .filter((x) => x !== '')
    .map(Number);
  return [...children, ...(await Promise.all(children.map(descendants))).flat()];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the writer has published a segment past `afterRevision` on `site`: only then is it recording.
 * A fixed pause was not enough on a busy 2-core machine, where the start (etcd, then both sites over SSH)
 * outlasted it and the sites were stopped before the writer had read where the journal ends.
 */
async function waitUntilRecording(site: SftpSite, afterRevision: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const journal = await readSiteJournal(site.root, 'test');
    if (journal.segments.some((s) => s.manifest.lastRevision > afterRevision)) return;
    if (Date.now() > deadline) throw new Error(`${site.name}: no journal segment past revision ${afterRevision} after ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Every site holds each revision from the backup on, exactly once and chained to it, up to `lastRevision`, with no gap record. */
async function assertCompleteOnEverySite(pair: readonly SftpSite[], base: { revision: number; snapshotSha256: string }, lastRevision: number): Promise<void> {
  for (const site of pair) {
    const journal = await readSiteJournal(site.root, 'test');
    assert.equal(journal.gaps.length, 0, `${site.name}: no gap: etcd still had the revisions`);
    const revisions = verifiedRevisions(journal, base.revision, base.snapshotSha256);
    assert.ok(revisions.at(-1)!.rev >= lastRevision, `${site.name}: complete to the last write, from the backup's revision on`);
  }
}

for (const version of ETCD_VERSIONS) {
  describe(`journal gaps and sites on etcd ${version}`, { concurrency: false }, () => {
    let cluster: EtcdCluster;
    let clientKey: ClientKey;
    let github: FakeGitHub;
    const sites: SftpSite[] = [];
    let dir: string;

    before(async () => {
      dir = await tempDir('etcd-dr-journal-gaps-');
      [cluster, clientKey, github] = await Promise.all([
        startCluster({ version, members: 1, name: `jg${version.replace('.', '')}` }),
        makeClientKey(path.join(dir, 'key')),
        startFakeGitHub(),
      ]);
    });
    after(async () => {
      await Promise.all([cluster?.stop(), github?.close(), ...sites.map((s) => s.destroy())]);
    });

    async function twoSites(name: string): Promise<SftpSite[]> {
      const pair = await Promise.all([startSftpSite(`${name}-dc1`, { clientKey }), startSftpSite(`${name}-dc2`, { clientKey })]);
      sites.push(...pair);
      return pair;
    }

    function inputs(pair: readonly SftpSite[], extra: InputValues = {}): InputValues {
      return {
        ...etcdInputs(cluster),
        ...siteInputs(pair),
        'cluster-name': 'test',
        'github-token': 'test-token',
        'temp-dir': dir,
        'journal-flush': '0.5',
        'journal-lock-ttl': '4',
        ...extra,
      };
    }

    function run(command: 'backup' | 'journal', pair: readonly SftpSite[], extra: InputValues = {}): Promise<CommandReport> {
      const env = { GITHUB_REPOSITORY: 'acme/platform', GITHUB_API_URL: github.url };
      return runCommand(command, settingsFrom(inputs(pair, extra), env), commandDeps({ realSleep: true }));
    }

    async function newestBackup(pair: readonly SftpSite[]): Promise<{ name: string; revision: number; snapshotSha256: string }> {
      const stores = storesFromSettings(settingsFrom(siteInputs(pair)));
      try {
        const { entry } = await findBackup(stores, 'test', { kind: 'latest' });
        return { name: entry!.name, revision: entry!.manifest!.revision, snapshotSha256: entry!.manifest!.snapshotSha256 };
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    }

    it('compaction past the journal: an explicit gap record on both sites, an alarm issue, a full backup at once, and the chain restarts from it', async () => {
      const pair = await twoSites(`gap${version}`);
      assert.equal((await run('backup', pair)).outcome, 'success');
      const first = await run('journal', pair, { 'journal-max-runtime': '3s' });
      assert.equal(first.outcome, 'success', first.failure);
      const before = await readSiteJournal(pair[0]!.root, 'test');
      const end = before.segments.at(-1)?.manifest.lastRevision ?? (await newestBackup(pair)).revision;

      // The follower is stopped; the cluster goes on and compacts (as Kubernetes does every 5 minutes).
      const client = await connect(accessFor(cluster));
      let compactAt: number;
      try {
        for (let i = 0; i < 20; i++) await client.put(`/registry/pods/gap/p-${i}`).value('x');
        compactAt = Number((await client.put('/registry/pods/gap/last').value('x').exec()).header.revision);
        await cluster.etcdctl(['compact', String(compactAt)]);
      } finally {
        client.close();
      }

      const issuesBefore = github.issues.length;
      const second = await run('journal', pair, { 'journal-max-runtime': '4s' });
      assert.equal(second.outcome, 'failed', 'a gap fails the run');
      assert.match(second.failure ?? '', new RegExp(`gap from revision ${end + 1}`));
      const issue = github.issues.at(-1);
      assert.ok(github.issues.length > issuesBefore || issue?.comments.length, 'the alarm reached GitHub');
      assert.match(`${issue!.title}\n${issue!.body}\n${issue!.comments.map((c) => c.body).join('\n')}`, /journal/);

      const restart = await newestBackup(pair);
      assert.ok(restart.revision >= compactAt, 'a full backup was taken after the compaction');
      for (const site of pair) {
        const journal = await readSiteJournal(site.root, 'test');
        assert.equal(journal.gaps.length, 1, `${site.name}: one gap record`);
        const gap = journal.gaps[0]!;
        assert.equal(gap.fromRevision, end + 1);
        assert.equal(gap.toRevision, compactAt - 1);
        assert.equal(gap.restartedFrom, restart.name);
        assert.match(gap.reason, /compacted/);
        // After the gap: a new chain, anchored on the new full backup.
        const revisions = verifiedRevisions(journal, restart.revision, restart.snapshotSha256);
        assert.ok(revisions.length > 0, `${site.name}: the journal continues after the new backup`);
        assert.equal(revisions[0]!.rev, restart.revision + 1);
      }
    });

    it('one site stopped for several segments: the journal goes on to the other (degraded), and the missed segments are copied when it is back', async () => {
      const pair = await twoSites(`deg${version}`);
      assert.equal((await run('backup', pair)).outcome, 'success');
      const base = await newestBackup(pair);
      const client = await connect(accessFor(cluster));
      const abort = new AbortController();
      const loading = kubernetesLikeLoad(client, { durationMs: 60_000, ratePerSecond: 30 }, abort.signal);
      const journal = run('journal', pair, { 'journal-max-runtime': '28s' });
      try {
        await waitUntilRecording(pair[1]!, base.revision);
        await stopSiteCompletely(pair[1]!);
        await sleep(5000);
        const whileDown = await readSiteJournal(pair[0]!.root, 'test');
        await pair[1]!.start();
        assert.ok(whileDown.segments.length >= 4, 'the healthy site kept getting segments');
        await sleep(10_000);
      } finally {
        abort.abort();
      }
      const load = await loading;
      client.close();
      const report = await journal;
      assert.equal(report.outcome, 'degraded', report.summary);
      assert.match(report.summary, new RegExp(pair[1]!.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/^sftp:\\\/\\\/root@/, '')));
      await assertCompleteOnEverySite(pair, base, load.lastRevision);
    });

    for (const compactWhileDown of [false, true]) {
      it(
        compactWhileDown
          ? 'every site unreachable for longer than the spool holds, and etcd compacts meanwhile: an explicit gap record, the alarm and a full backup'
          : 'every site unreachable for longer than the spool holds: the alarm, and once a site is back the dropped revisions are read from etcd again, none missing',
        async () => {
          const pair = await twoSites(`spool${compactWhileDown ? 'c' : ''}${version}`);
          assert.equal((await run('backup', pair)).outcome, 'success');
          const base = await newestBackup(pair);
          const client = await connect(accessFor(cluster));
          const abort = new AbortController();
          const issuesBefore = github.issues.length;
          const loading = kubernetesLikeLoad(client, { durationMs: 60_000, ratePerSecond: 30 }, abort.signal);
          const journal = run('journal', pair, { 'journal-max-runtime': '28s', 'journal-spool-bytes': '20000' });
          let compactAt = 0;
          try {
            await Promise.all(pair.map((site) => waitUntilRecording(site, base.revision)));
            await Promise.all(pair.map(stopSiteCompletely));
            await sleep(5000);
            if (compactWhileDown) {
              compactAt = Number((await client.put('/registry/pods/spool/last').value('x').exec()).header.revision);
              await cluster.etcdctl(['compact', String(compactAt)]);
            }
            await Promise.all(pair.map((site) => site.start()));
            await sleep(8000);
          } finally {
            abort.abort();
          }
          const load = await loading;
          client.close();
          const report = await journal;
          assert.match(report.summary, /longer than the local spool holds/);
          assert.ok(github.issues.length > issuesBefore || github.issues.at(-1)?.comments.some((c) => /spool/.test(c.body)), 'the alarm reached GitHub');
          if (!compactWhileDown) {
            assert.equal(report.outcome, 'degraded', report.summary);
            await assertCompleteOnEverySite(pair, base, load.lastRevision);
            return;
          }
          assert.equal(report.outcome, 'failed', report.summary);
          for (const site of pair) {
            const j = await readSiteJournal(site.root, 'test');
            assert.equal(j.gaps.length, 1, `${site.name}: one gap record`);
            const gap = j.gaps[0]!;
            // Before the gap: every revision from the backup up to the gap, exactly once.
            const before = verifiedRevisions({ ...j, segments: j.segments.filter((x) => x.manifest.lastRevision < gap.fromRevision) }, base.revision, base.snapshotSha256);
            assert.equal(before.at(-1)?.rev ?? base.revision, gap.fromRevision - 1, `${site.name}: the journal runs up to the gap`);
            assert.equal(gap.toRevision, compactAt - 1);
            assert.ok(gap.restartedFrom, `${site.name}: a full backup restarted the chain`);
            const restart = await newestBackup(pair);
            assert.equal(gap.restartedFrom, restart.name);
            const after = verifiedRevisions(j, restart.revision, restart.snapshotSha256);
            assert.ok(after.at(-1)!.rev >= load.lastRevision, `${site.name}: the new chain reaches the last write`);
          }
        },
      );
    }

    it('every site down when the writer starts: it keeps the lock and waits, raises the alarm once, and starts from the sites when one is back, no revision missing', async () => {
      const pair = await twoSites(`startdown${version}`);
      assert.equal((await run('backup', pair)).outcome, 'success');
      const base = await newestBackup(pair);
      const issuesBefore = github.issues.length;
      await Promise.all(pair.map(stopSiteCompletely));
      const client = await connect(accessFor(cluster));
      const abort = new AbortController();
      const loading = kubernetesLikeLoad(client, { durationMs: 60_000, ratePerSecond: 30 }, abort.signal);
      const journal = run('journal', pair, { 'journal-max-runtime': '26s' });
      try {
        // Longer than a store's own retries (1 + 2 + 4 s): the writer has to find that no site answers.
        await sleep(12_000);
        await Promise.all(pair.map((site) => site.start()));
        await sleep(6000);
      } finally {
        abort.abort();
      }
      const load = await loading;
      client.close();
      const report = await journal;
      assert.equal(report.outcome, 'degraded', report.summary);
      assert.match(report.summary, /no site could be read.*the journal waits for a site/);
      assert.ok(github.issues.length > issuesBefore || github.issues.at(-1)?.comments.some((c) => /waits for a site/.test(c.body)), 'the alarm reached GitHub');
      await assertCompleteOnEverySite(pair, base, load.lastRevision);
    });

    it('a truncated segment manifest where the journal continues: one bad copy is named and skipped for the good one; with no good copy the writer refuses and writes nothing', async () => {
      const pair = await twoSites(`trunc${version}`);
      assert.equal((await run('backup', pair)).outcome, 'success');
      await cluster.put('/registry/pods/t/1', 'x');
      assert.equal((await run('journal', pair, { 'journal-max-runtime': '2s' })).outcome, 'success');
      const folders = pair.map((site) => path.join(site.root, 'test', 'journal'));
      const manifests = (await readdir(folders[0]!)).filter((f) => f.endsWith('.json') && f.includes('-j')).sort();
      const newest = manifests.at(-1)!;
      const named = new RegExp(`journal manifest ${newest.replace(/\./g, '\\.')}: not JSON`);
      // One damaged copy: the writer continues from the other site's copy, degraded, naming the file.
      await writeFile(path.join(folders[0]!, newest), '{"format":1,"kind":"journal-seg');
      await writeFile(path.join(folders[0]!, 'notes.txt'), 'not ours');
      await cluster.put('/registry/pods/t/2', 'x');
      const oneBad = await run('journal', pair, { 'journal-max-runtime': '2s' });
      assert.equal(oneBad.outcome, 'degraded', oneBad.summary);
      assert.match(oneBad.summary, named);
      // Every copy damaged: where the journal ends is unknown, so the writer refuses and writes nothing.
      const newestNow = (await readdir(folders[1]!)).filter((f) => f.endsWith('.json') && f.includes('-j')).sort().at(-1)!;
      for (const folder of folders) await writeFile(path.join(folder, newestNow), '{"format":1,"kind":"journal-seg');
      const filesBefore = await Promise.all(folders.map(async (f) => (await readdir(f)).sort()));
      await cluster.put('/registry/pods/t/3', 'x');
      const report = await run('journal', pair, { 'journal-max-runtime': '2s' });
      assert.equal(report.outcome, 'failed');
      assert.match(report.failure ?? '', new RegExp(`journal manifest ${newestNow.replace(/\./g, '\\.')}: not JSON`));
      assert.deepEqual(await Promise.all(folders.map(async (f) => (await readdir(f)).sort())), filesBefore, 'nothing written after the unreadable manifest');
    });

    it('a follower that never reaches etcd fails the run (it is neither writer nor standby), naming the cause', async () => {
      const pair = await twoSites(`noetcd${version}`);
      const closed = `http://127.0.0.1:${await freePort()}`;
      const report = await run('journal', pair, { endpoints: closed, 'journal-max-runtime': '3s', 'open-issue-on-failure': 'false' });
      assert.equal(report.outcome, 'failed');
      assert.match(report.failure ?? '', /etcd never answered this follower/);
    });

    it('bad input: unknown flags and a flush of 0 exit 2 with a clear message, before touching etcd or a site', async () => {
      const cli = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
        new Promise((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/cli/main.ts'), 'journal', ...args], { cwd: REPO_ROOT, env: operatorEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('close', (code) => resolve({ code, stderr }));
        });
      const common = ['--cluster-name', 'test', '--endpoints', cluster.endpoints[0]!, '--stores', `file://${dir}/never`];
      const unknown = await cli([...common, '--journal-flsh', '5']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /journal-flsh/);
      for (const flush of ['0', '-1', 'soon']) {
        const bad = await cli([...common, `--journal-flush=${flush}`]);
        assert.equal(bad.code, 2, flush);
        assert.match(bad.stderr, /journal-flush must be a number of seconds greater than 0/);
      }
      const runtime = await cli([...common, '--journal-max-runtime', '0']);
      assert.equal(runtime.code, 2);
      assert.match(runtime.stderr, /journal-max-runtime/);
      await assert.rejects(readdir(path.join(dir, 'never')), 'no site was touched');
    });
  });
}
