/**
 * The journal on a quiet cluster and at the end of a run (issue 12): progress marks say "complete through
 * revision X as of T" when nothing changes; a follower at its maximum run time flushes and releases the
 * lock so a standby continues at once; segments are encrypted exactly like backups. Real etcd 3.4 and
 * 3.5, two real OpenSSH sites, the `journal` command in-process.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { runCommand, type CommandReport } from '../../src/commands/index.ts';
import { storesFromSettings } from '../../src/config/stores.ts';
import { parseProgressMark, progressFileName } from '../../src/journal/segment.ts';
import { findBackup } from '../../src/repository/listing.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { commandDeps, etcdInputs, settingsFrom, siteInputs, type InputValues } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type ClientKey, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';
import { readSiteJournal, verifiedRevisions } from './journal-sites.ts';

for (const version of ETCD_VERSIONS) {
  describe(`journal on a quiet etcd ${version}`, { concurrency: false }, () => {
    let cluster: EtcdCluster;
    let clientKey: ClientKey;
    const sites: SftpSite[] = [];
    let dir: string;

    before(async () => {
      dir = await tempDir('etcd-dr-journal-idle-');
      [cluster, clientKey] = await Promise.all([startCluster({ version, members: 1, name: `ji${version.replace('.', '')}` }), makeClientKey(path.join(dir, 'key'))]);
    });
    after(async () => {
      await Promise.all([cluster?.stop(), ...sites.map((s) => s.destroy())]);
    });

    async function twoSites(name: string): Promise<SftpSite[]> {
      const pair = await Promise.all([startSftpSite(`${name}-dc1`, { clientKey }), startSftpSite(`${name}-dc2`, { clientKey })]);
      sites.push(...pair);
      return pair;
    }

    function run(command: 'backup' | 'journal', pair: readonly SftpSite[], extra: InputValues = {}): Promise<CommandReport> {
      const inputs: InputValues = { ...etcdInputs(cluster), ...siteInputs(pair), 'cluster-name': 'test', 'temp-dir': dir, 'journal-flush': '0.5', 'journal-lock-ttl': '4', 'open-issue-on-failure': 'false', ...extra };
      return runCommand(command, settingsFrom(inputs), commandDeps({ realSleep: true }));
    }

    async function newestBackup(pair: readonly SftpSite[]): Promise<{ revision: number; snapshotSha256: string }> {
      const stores = storesFromSettings(settingsFrom(siteInputs(pair)));
      try {
        const { entry } = await findBackup(stores, 'test', { kind: 'latest' });
        return { revision: entry!.manifest!.revision, snapshotSha256: entry!.manifest!.snapshotSha256 };
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    }

    it('with nothing changing, a progress mark on both sites says the journal is complete through the last revision, as of a time after it', async () => {
      const pair = await twoSites(`idle${version}`);
      assert.equal((await run('backup', pair)).outcome, 'success');
      const started = Date.now();
      const report = await run('journal', pair, { 'journal-max-runtime': '4s' });
      assert.equal(report.outcome, 'success', report.summary);
      for (const site of pair) {
        const journal = await readSiteJournal(site.root, 'test');
        const last = journal.segments.at(-1)!.manifest;
        const file = progressFileName('test');
        const mark = parseProgressMark(await readFile(path.join(site.root, 'test', 'journal', file), 'utf8'), file);
        assert.equal(mark.completeThrough.revision, last.lastRevision, `${site.name}: complete through the last revision`);
        assert.ok(Date.parse(mark.completeThrough.at) > Date.parse(last.lastReceivedAt), `${site.name}: confirmed after it was received`);
        assert.ok(Date.parse(mark.completeThrough.at) >= started + 1000, `${site.name}: the mark moves on while idle`);
      }
    });

    it('at its maximum run time the writer flushes and releases the lock; a standby continues at once with nothing missing', async () => {
      const pair = await twoSites(`hand${version}`);
      assert.equal((await run('backup', pair)).outcome, 'success');
      const base = await newestBackup(pair);
      const first = run('journal', pair, { 'journal-max-runtime': '3s', 'member-name': 'first' });
      await new Promise((r) => setTimeout(r, 800));
      const second = run('journal', pair, { 'journal-max-runtime': '8s', 'member-name': 'second' });
      let writes = 0;
      const writing = (async () => {
        const end = Date.now() + 6000;
        while (Date.now() < end) {
          await cluster.put(`/registry/configmaps/handover-${writes++}`, 'x');
        }
      })();
      const [a, b] = await Promise.all([first, second, writing]);
      assert.equal(a.outcome, 'success', a.summary);
      assert.equal(b.outcome, 'success', b.summary);
      for (const site of pair) {
        const journal = await readSiteJournal(site.root, 'test');
        verifiedRevisions(journal, base.revision, base.snapshotSha256);
        const segs = journal.segments.map((s) => s.manifest);
        const lastOfFirst = segs.filter((m) => m.writer.member === 'first').at(-1)!;
        const firstOfSecond = segs.find((m) => m.writer.member === 'second')!;
        assert.ok(lastOfFirst && firstOfSecond, `${site.name}: both wrote`);
        assert.equal(firstOfSecond.firstRevision, lastOfFirst.lastRevision + 1, `${site.name}: the standby continues right after`);
        // A clean handover does not wait for the lock's TTL: the standby receives its first revision well
        // within one lock TTL (4 s) of the last revision the first writer published.
        const handoverMs = Date.parse(firstOfSecond.firstReceivedAt) - Date.parse(lastOfFirst.lastReceivedAt);
        assert.ok(handoverMs < 4000, `${site.name}: handover took ${handoverMs} ms`);
      }
    });

    it('encrypts segments to the encrypt-to recipients exactly like backups (age), readable with the identity', async () => {
      const pair = await twoSites(`enc${version}`);
      const identity = await generateIdentity();
      const recipient = await identityToRecipient(identity);
      assert.equal((await run('backup', pair, { 'encrypt-to': recipient })).outcome, 'success');
      const base = await newestBackup(pair);
      await cluster.put('/registry/secrets/default/token', 'very secret');
      const report = await run('journal', pair, { 'journal-max-runtime': '2s', 'encrypt-to': recipient });
      assert.equal(report.outcome, 'success', report.summary);
      for (const site of pair) {
        const journal = await readSiteJournal(site.root, 'test', [identity]);
        assert.ok(journal.segments.every((s) => s.manifest.object.file.endsWith('.ndjson.zst.age') && s.manifest.encryptedTo[0] === recipient));
        const stored = await readFile(path.join(site.root, 'test', 'journal', journal.segments[0]!.manifest.object.file));
        assert.ok(!stored.includes(Buffer.from('very secret')) && !stored.includes(Buffer.from('L3JlZ2lzdHJ5L3NlY3JldHM')), 'no plaintext on the site');
        const events = verifiedRevisions(journal, base.revision, base.snapshotSha256).flatMap((r) => r.events);
        assert.ok(events.some((e) => e.type === 'put' && Buffer.from(e.value, 'base64').toString() === 'very secret'));
      }
    });
  });
}
