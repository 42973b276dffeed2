/**
 * Point-in-time restore falls back to an older full backup (issue 13): a full backup's manifest records
 * the revision read just before its snapshot started, and writes landing while the snapshot streams can
 * put later revisions in it. A target between the two is then "after" that backup by its manifest, but its
 * snapshot is already past the target: the restore must take the newest full backup whose snapshot is AT
 * OR BEFORE the target instead, and still land on exactly the target. Real etcd 3.4 and 3.5, real OpenSSH
 * sites, full backups by the backup engine, the journal published by the journal writer's own encoder.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { runCommand } from '../../src/commands/index.ts';
import { closeAll, storesFromSettings } from '../../src/config/stores.ts';
import { connect } from '../../src/etcd/connection.ts';
import { readJournalIndex } from '../../src/journal/reader.ts';
import { backupFor } from '../../src/journal/readerChain.ts';
import { manifestFileName } from '../../src/repository/layout.ts';
import type { Manifest } from '../../src/repository/manifest.ts';
import type { Store } from '../../src/stores/store.ts';
import { accessFor, successfulBackup } from '../harness/engine.ts';
import { startCluster, type EtcdCluster, type EtcdVersion } from '../harness/etcd.ts';
import { commandDeps, memberRestoreInputs, prodInputs, settingsFrom, type InputValues } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';
import { publishRecorded } from './reader-fixture.ts';
import { startRecorder, type TestRecorder } from './replay-recorder.ts';

/** Every user key with its value, create/mod revision and version, at `revision` (latest when omitted). */
async function keyspace(client: Etcd3, revision?: number): Promise<Map<string, string>> {
  const { kvs } = await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), ...(revision ? { revision } : {}) });
  return new Map(
    kvs
      .filter((kv) => !kv.key.toString().startsWith('/etcd-dr/'))
      .map((kv) => [kv.key.toString(), `${kv.value.toString()} c${kv.create_revision} m${kv.mod_revision} v${kv.version}`]),
  );
}

/** How many revisions the second backup's snapshot holds past what its manifest says (writes during the snapshot). */
const LANDED_DURING_SNAPSHOT = 8;

for (const version of ['3.4', '3.5'] as const satisfies readonly EtcdVersion[]) {
  describe(`point-in-time restore to a revision the newest full backup's snapshot is already past, etcd ${version}`, () => {
    let cluster: EtcdCluster;
    let dc1: SftpSite;
    let dc2: SftpSite;
    let stores: Store[];
    let recorder: TestRecorder;
    let inputs: InputValues;
    let first: Manifest;
    let second: Manifest;
    let target: number;
    let atTarget: Map<string, string>;

    before(async () => {
      const clientKey = await makeClientKey(await tempDir('etcd-dr-pitr-fallback-key-'));
      [cluster, dc1, dc2] = await Promise.all([
        startCluster({ version, members: 1, name: `fallback-${version.replace('.', '')}` }),
        startSftpSite('dc1', { clientKey }),
        startSftpSite('dc2', { clientKey }),
      ]);
      inputs = prodInputs(cluster, [dc1, dc2]);
      stores = storesFromSettings(settingsFrom(inputs));
      const client = await connect(accessFor(cluster));
      try {
        for (let i = 0; i < 30; i++) await client.put(`/registry/configmaps/app/cm-${i}`).value(`config ${i}`);
        recorder = await startRecorder(cluster.endpoints[0]!, 1);
        const backup = (): Promise<Manifest> => successfulBackup(cluster, stores, { cluster: 'prod' });
        first = await backup();
        for (let i = 0; i < 40; i++) {
          if (i % 9 === 8) await client.delete().key(`/registry/configmaps/app/cm-${i % 30}`);
          else await client.put(`/registry/configmaps/app/cm-${i % 35}`).value(`config ${i}, edited`);
        }
        second = await backup();
        for (let i = 0; i < 20; i++) await client.put(`/registry/configmaps/after/x-${i}`).value('after the second backup');
        await recorder.waitFor(Number((await client.maintenance.status()).header.revision));
        // The target: after the second backup by the revision its manifest will claim, before its snapshot's.
        target = second.revision - LANDED_DURING_SNAPSHOT / 2;
        atTarget = await keyspace(client, target);
      } finally {
        client.close();
      }
      await publishRecorded(stores, 'prod', first, recorder.records, recorder.leases, { revisionsPerSegment: 10 });
      // What writes landing during the snapshot leave behind: a manifest revision below the snapshot's own.
      // (The backup engine cannot be made to race deterministically, so its manifest is edited to match.)
      for (const site of [dc1, dc2]) {
        const file = path.join(site.root, 'prod', manifestFileName(second.name));
        const manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
        await writeFile(file, `${JSON.stringify({ ...manifest, revision: second.revision - LANDED_DURING_SNAPSHOT }, null, 2)}\n`);
      }
    });
    after(async () => {
      await recorder?.stop();
      await closeAll(stores ?? []);
      await Promise.all([cluster?.stop(), dc1?.destroy(), dc2?.destroy()]);
    });

    it('by their manifests, the newest full backup at or before the target is the second one', async () => {
      const index = await readJournalIndex(stores, 'prod');
      assert.deepEqual(index.problems, []);
      const window = index.windows.find((w) => w.fromRevision <= target && target <= w.toRevision)!;
      assert.ok(window, `a window holds revision ${target}`);
      assert.deepEqual(
        window.backups.map((b) => [b.name, b.revision]),
        [
          [first.name, first.revision],
          [second.name, second.revision - LANDED_DURING_SNAPSHOT],
        ],
      );
      assert.equal(backupFor(window, target).name, second.name);
    });

    it('the restore finds the second backup\'s snapshot past the target, falls back to the first, and lands on exactly the target revision\'s content', async () => {
      const member = cluster.members[0]!;
      await member.stop();
      const deps = commandDeps({ realSleep: true });
      const report = await runCommand(
        'restore',
        settingsFrom({ ...inputs, backup: 'latest', confirm: 'prod', ...memberRestoreInputs(cluster, member), 'to-revision': String(target) }),
        deps,
      );
      await member.start();
      await cluster.waitHealthy();
      assert.equal(report.outcome, 'success', report.summary);
      assert.match(report.summary, new RegExp(`reached revision \\| ${target} `));
      assert.match(report.summary, new RegExp(`base full backup \\| ${first.name} \\(revision ${first.revision},`), 'the first backup was the base');
      assert.ok(
        deps.lines.some((l) => l.startsWith('warning:') && l.includes(`${second.name} holds revisions past ${target}`)),
        `the fall-back is logged: ${deps.lines.filter((l) => l.startsWith('warning:')).join(' | ')}`,
      );
      const client = await connect(accessFor(cluster));
      try {
        const now = await keyspace(client);
        assert.deepEqual([...now.entries()], [...atTarget.entries()], 'every key, value, create/mod revision and version as at the target');
        assert.ok(![...now.keys()].some((k) => k.startsWith('/registry/configmaps/after/')), 'no write after the target');
      } finally {
        client.close();
      }
    });
  });
}
