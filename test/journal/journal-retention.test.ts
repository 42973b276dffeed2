/**
 * Retention of the journal (issue 12): `prune` deletes, with a backup, the journal segments no kept backup
 * can replay through, and keeps every segment holding a revision after the oldest kept backup -- also those
 * of the chain based on the deleted backup. Real etcd 3.5, a real `etcd-dr journal` follower (CLI child
 * process), two real OpenSSH sites.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand, type CommandReport } from '../../src/commands/index.ts';
import { storesFromSettings } from '../../src/config/stores.ts';
import { connect } from '../../src/etcd/connection.ts';
import { readJournalIndex } from '../../src/journal/reader.ts';
import { parseBackupName } from '../../src/repository/layout.ts';
import { accessFor } from '../harness/engine.ts';
import { startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { commandDeps, etcdInputs, settingsFrom, siteInputs, type InputValues } from '../harness/settings.ts';
import { makeClientKey, SITE_KEY_OPTIONS, startSftpSite, type ClientKey, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';
import { siteFlags, startFollower, waitForWriter } from './followers.ts';
import { readSiteJournal } from './journal-sites.ts';
import { kubernetesLikeLoad } from './load.ts';

describe('prune deletes the journal segments no kept backup needs', () => {
  let cluster: EtcdCluster;
  let sites: SftpSite[];
  let inputs: InputValues;
  let backupA: string;
  let backupB: string;
  /** The nodes' key: the sites' accounts may write with it, never delete. */
  let appendOnlyKey: ClientKey;

  function nameOf(report: CommandReport): string {
    const name = report.outputs['backup-name' as keyof typeof report.outputs];
    assert.ok(name, report.summary);
    return name;
  }

  before(async () => {
    const dir = await tempDir('etcd-dr-journal-retention-');
    const clientKey = await makeClientKey(`${dir}/key`);
    appendOnlyKey = await makeClientKey(`${dir}/append-only`);
    const extraKeys = [{ key: appendOnlyKey, options: SITE_KEY_OPTIONS.appendOnly }];
    [cluster, ...sites] = await Promise.all([
      startCluster({ version: '3.5', name: 'jr35' }),
      startSftpSite('jr-dc1', { clientKey, extraKeys }),
      startSftpSite('jr-dc2', { clientKey, extraKeys }),
    ] as const);
    inputs = { 'cluster-name': 'test', ...siteInputs(sites), ...etcdInputs(cluster), 'open-issue-on-failure': 'false', prune: 'false' };
    backupA = nameOf(await runCommand('backup', settingsFrom(inputs), commandDeps()));
    const follower = startFollower('jr', dir, [
      '--cluster-name', 'test',
      '--endpoints', cluster.endpoints[0]!,
      ...(await siteFlags(dir, sites)),
      '--journal-flush', '1',
      '--journal-max-runtime', '16s',
      '--temp-dir', dir,
      '--open-issue-on-failure', 'false',
    ]);
    // The chain must start from A: on a slow machine a follower still starting when B is taken would
    // (rightly) start from B instead.
    await waitForWriter([follower]);
    const client = await connect(accessFor(cluster));
    try {
      await kubernetesLikeLoad(client, { durationMs: 3000, ratePerSecond: 50 });
      // A newer full backup while the follower writes: its chain (based on A) goes on past B's revision.
      backupB = nameOf(await runCommand('backup', settingsFrom(inputs), commandDeps()));
      await kubernetesLikeLoad(client, { durationMs: 3000, ratePerSecond: 50 });
    } finally {
      client.close();
    }
    assert.equal(await follower.exited, 0, await follower.log());
  });
  after(async () => {
    await Promise.all([cluster?.stop(), ...(sites ?? []).map((s) => s.destroy())]);
  });

  it('with a key whose site account may not delete, prune deletes no journal file and says retention was skipped there', async () => {
    const before = await Promise.all(sites.map(async (site) => (await readdir(path.join(site.root, 'test', 'journal'))).sort()));
    const report = await runCommand(
      'prune',
      settingsFrom({ ...inputs, 'keep-last': '1', 'keep-within': '0', 'ssh-private-key': appendOnlyKey.privateKey }),
      commandDeps(),
    );
    assert.equal(report.outcome, 'degraded', report.summary);
    for (const site of sites) assert.ok(report.failure?.includes(`retention skipped on ${site.url}: the site account may not delete`), report.failure);
    const after = await Promise.all(sites.map(async (site) => (await readdir(path.join(site.root, 'test', 'journal'))).sort()));
    assert.deepEqual(after, before);
  });

  it('keep-last 1 deletes backup A and the segments at or before backup B\'s revision on both sites, keeps the rest, and the kept journal reads without a problem', async () => {
    const revisionB = parseBackupName(backupB)!.revision;
    const before = await readSiteJournal(sites[0]!.root, 'test');
    assert.ok(before.segments.every((s) => s.manifest.baseBackup === backupA), 'one chain, based on A');
    const old = before.segments.filter((s) => s.manifest.lastRevision <= revisionB).map((s) => s.manifest.name);
    const kept = before.segments.filter((s) => s.manifest.lastRevision > revisionB).map((s) => s.manifest.name);
    assert.ok(old.length > 0 && kept.length > 0, `segments on both sides of B (r${revisionB}): ${before.segments.map((s) => s.manifest.name).join(', ')}`);

    const report = await runCommand('prune', settingsFrom({ ...inputs, 'keep-last': '1', 'keep-within': '0' }), commandDeps());
    assert.equal(report.outcome, 'success', report.summary);
    assert.match(report.summary, new RegExp(`\\+ ${old.length * 2} journal files deleted`), report.summary);
    for (const site of sites) {
      const clusterFiles = await readdir(path.join(site.root, 'test'));
      assert.ok(!clusterFiles.some((f) => f.startsWith(backupA)), `${site.name}: backup A is gone`);
      assert.ok(clusterFiles.includes(`${backupB}.json`), `${site.name}: backup B is kept`);
      const journal = await readSiteJournal(site.root, 'test');
      assert.deepEqual(journal.segments.map((s) => s.manifest.name), kept, `${site.name} keeps exactly the segments after r${revisionB}`);
      assert.ok(!journal.files.some((f) => old.some((o) => f.startsWith(o))), `${site.name}: no file of a deleted segment is left`);
      assert.ok(journal.files.includes('test-progress.json') || journal.segments.length > 0);
    }
    const stores = storesFromSettings(settingsFrom(siteInputs(sites)));
    try {
      const index = await readJournalIndex(stores, 'test');
      assert.deepEqual(index.problems, [], index.problems.join('; '));
      const window = index.windows.find((w) => w.journal);
      assert.ok(window, `a journal window: ${JSON.stringify(index.windows)}`);
      assert.equal(window.fromRevision, revisionB);
      assert.equal(window.toRevision, Math.max(...index.segments.map((s) => s.manifest.lastRevision), index.progress?.revision ?? 0));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
