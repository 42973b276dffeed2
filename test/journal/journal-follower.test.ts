/**
 * The journal follower against real etcd (3.4 and 3.5), in-process, publishing to two sites: every
 * revision after the full backup appears exactly once, in order, on both sites, with a verifying hash chain.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runBackup } from '../../src/backup/backup.ts';
import { connect } from '../../src/etcd/connection.ts';
import { runFollower, type FollowerDeps, type FollowerOptions } from '../../src/journal/follower.ts';
import { LocalStore } from '../../src/stores/local.ts';
import type { Store } from '../../src/stores/store.ts';
import { readJournalIndex } from '../../src/journal/reader.ts';
import { accessFor, backupOptionsFor, deps as backupDeps, recordingLog } from '../harness/engine.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { tempDir } from '../harness/tmp.ts';
import { readSiteJournal, verifiedRevisions } from './journal-sites.ts';
import { kubernetesLikeLoad } from './load.ts';
import { until } from '../harness/until.ts';

/** A site that refuses everything while `outage.down` (a data centre cut off). */
function unreachableWhile(store: Store, outage: { down: boolean }): Store {
  const guard = <T>(run: () => Promise<T>): Promise<T> => (outage.down ? Promise.reject(new Error(`${store.id} is unreachable (test)`)) : run());
  return {
    id: store.id,
    write: (folder, name, content) => {
      if (outage.down) content.destroy();
      return guard(() => store.write(folder, name, content));
    },
    rename: (folder, from, to, options) => guard(() => store.rename(folder, from, to, options)),
    download: (folder, name) => guard(() => store.download(folder, name)),
    readFile: (folder, name) => guard(() => store.readFile(folder, name)),
    list: (folder) => guard(() => store.list(folder)),
    remove: (folder, name) => guard(() => store.remove(folder, name)),
    open: () => guard(() => store.open()),
    close: () => store.close(),
  };
}

/** A site that takes `ms` longer to write each file (a slow link to the other data centre). */
function slowWrites(store: Store, ms: number): Store {
  return {
    id: store.id,
    write: async (folder, name, content) => {
      await new Promise((r) => setTimeout(r, ms));
      return store.write(folder, name, content);
    },
    rename: (folder, from, to, options) => store.rename(folder, from, to, options),
    download: (folder, name) => store.download(folder, name),
    readFile: (folder, name) => store.readFile(folder, name),
    list: (folder) => store.list(folder),
    remove: (folder, name) => store.remove(folder, name),
    open: () => store.open(),
    close: () => store.close(),
  };
}

for (const version of ETCD_VERSIONS) {
  describe(`journal follower on etcd ${version}`, () => {
    let cluster: EtcdCluster;
    before(async () => {
      cluster = await startCluster({ version, name: `jf${version.replace('.', '')}` });
    });
    after(async () => cluster?.stop());

    it('catches up over a backlog larger than gRPC\'s default 4 MiB message (24 values of 1 MiB written before it started) without stalling; with slow sites it stops reading etcd while over 16 MiB wait, and goes on when they caught up', async () => {
      const root = await tempDir('etcd-dr-journal-big-');
      const dirs = [path.join(root, 'dc1'), path.join(root, 'dc2')];
      const fast = dirs.map((d, i) => new LocalStore(d, `file://dc${i + 1}`));
      const backup = await runBackup(backupOptionsFor(cluster), backupDeps(fast));
      const stores = fast.map((s) => slowWrites(s, 150));
      assert.equal(backup.status, 'success', backup.problem);
      // Written before the follower starts, so etcd sends them as one catch-up watch response of ~24 MiB.
      const client = await connect(accessFor(cluster));
      let lastRevision = 0;
      try {
        for (let i = 0; i < 24; i++) {
          const put = await client.put(`/registry/configmaps/big/cm-${i}`).value(Buffer.alloc(1 << 20, i)).exec();
          lastRevision = Number(put.header.revision);
        }
      } finally {
        client.close();
      }
      const log = recordingLog();
      const result = await runFollower(
        {
          cluster: 'test',
          etcd: accessFor(cluster),
          compression: 'zstd',
          recipients: [],
          flushMs: 1000,
          // Each 1 MiB value is a segment of its own (1.4 MiB of base64): 24 segments, 34 MiB, for sites that take 150 ms per file.
          maxSegmentBytes: 1 << 20,
          maxRuntimeMs: 14_000,
          lockTtlSeconds: 5,
          holder: 'test-follower-big',
          member: cluster.endpoints[0]!,
          spoolDir: path.join(root, 'spool'),
          spoolLimitBytes: 256 << 20,
        },
        {
          stores,
          now: () => new Date(),
          sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
          log,
          fullBackup: async () => undefined,
          alarm: async () => undefined,
        },
      );
      assert.equal(result.outcome, 'success', `${result.problems.join('; ')}\n${log.lines.join('\n')}`);
      assert.ok(!log.lines.some((l) => /RESOURCE_EXHAUSTED/.test(l)), log.lines.join('\n'));
      const paused = log.lines.findIndex((l) => /the sites are behind \(over 16777216 bytes waiting\): reading from etcd paused/.test(l));
      assert.ok(paused >= 0, log.lines.join('\n'));
      assert.ok(log.lines.slice(paused).some((l) => /the sites caught up: reading from etcd again/.test(l)), log.lines.join('\n'));
      for (const dir of dirs) {
        const journal = await readSiteJournal(dir, 'test');
        const revisions = verifiedRevisions(journal, backup.manifest!.revision, backup.manifest!.snapshotSha256);
        assert.equal(revisions[0]!.rev, backup.manifest!.revision + 1);
        assert.ok(revisions[revisions.length - 1]!.rev >= lastRevision, `journal ends at ${revisions[revisions.length - 1]!.rev}, the writes at ${lastRevision}`);
      }
    });

    it('while no site takes anything, the segments waiting behind the first wait in the spool, not in memory; once the sites are back every revision is on both, once, and the spool is empty', async () => {
      const root = await tempDir('etcd-dr-journal-down-');
      const dirs = [path.join(root, 'dc1'), path.join(root, 'dc2')];
      const fast = dirs.map((d, i) => new LocalStore(d, `file://dc${i + 1}`));
      const backup = await runBackup(backupOptionsFor(cluster), backupDeps(fast));
      assert.equal(backup.status, 'success', backup.problem);
      const outage = { down: false };
      const stores = fast.map((s) => unreachableWhile(s, outage));
      const spoolDir = path.join(root, 'spool');
      const log = recordingLog();
      const following = runFollower(
        {
          cluster: 'test',
          etcd: accessFor(cluster),
          compression: 'zstd',
          recipients: [],
          flushMs: 500,
          maxSegmentBytes: 64 << 10,
          maxRuntimeMs: 14_000,
          lockTtlSeconds: 5,
          holder: 'test-follower-down',
          member: cluster.endpoints[0]!,
          spoolDir,
          spoolLimitBytes: 256 << 20,
        },
        { stores, now: () => new Date(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), log, fullBackup: async () => undefined, alarm: async () => undefined },
      );
      const journalDir = path.join(dirs[0]!, 'test', 'journal');
      const client = await connect(accessFor(cluster));
      let lastRevision = 0;
      const parkedSeen = new Set<string>();
      try {
        // Recording first (a segment on the sites), then the outage.
        await until('the first segment', async () => {
          await client.put('/registry/pods/down/first').value('x').exec();
          return (await readdir(journalDir).catch(() => [] as string[])).some((f) => /-j\d+-\d+\.json$/.test(f));
        }, 20_000, 100);
        outage.down = true;
        for (let i = 0; i < 12; i++) {
          for (let k = 0; k < 20; k++) {
            const put = await client.put(`/registry/pods/down/p-${i}-${k}`).value(Buffer.alloc(2048, i)).exec();
            lastRevision = Number(put.header.revision);
          }
          await new Promise((r) => setTimeout(r, 150));
          for (const f of await readdir(spoolDir).catch(() => [] as string[])) if (f.endsWith('.ndjson.parked')) parkedSeen.add(f);
        }
        await until('segments parked in the spool', async () => {
          for (const f of await readdir(spoolDir).catch(() => [] as string[])) if (f.endsWith('.ndjson.parked')) parkedSeen.add(f);
          return parkedSeen.size >= 2;
        }, 20_000, 100);
        outage.down = false;
      } finally {
        client.close();
      }
      const result = await following;
      assert.notEqual(result.outcome, 'failed', `${result.problems.join('; ')}\n${log.lines.join('\n')}`);
      assert.deepEqual(result.gaps, []);
      for (const dir of dirs) {
        const journal = await readSiteJournal(dir, 'test');
        const revisions = verifiedRevisions(journal, backup.manifest!.revision, backup.manifest!.snapshotSha256);
        assert.equal(revisions[0]!.rev, backup.manifest!.revision + 1);
        assert.ok(revisions[revisions.length - 1]!.rev >= lastRevision, `journal ends at ${revisions[revisions.length - 1]!.rev}, the writes at ${lastRevision}`);
      }
      assert.deepEqual((await readdir(spoolDir)).filter((f) => f.endsWith('.parked')), []);
    });

    it('under a Kubernetes-like load, every revision after the full backup is on both sites exactly once, in order, hash-chained', async () => {
      const root = await tempDir('etcd-dr-journal-');
      const dirs = [path.join(root, 'dc1'), path.join(root, 'dc2')];
      const stores = dirs.map((d, i) => new LocalStore(d, `file://dc${i + 1}`));
      const backup = await runBackup(backupOptionsFor(cluster), backupDeps(stores));
      assert.equal(backup.status, 'success', backup.problem);
      const log = recordingLog();
      const options: FollowerOptions = {
        cluster: 'test',
        etcd: accessFor(cluster),
        compression: 'zstd',
        recipients: [],
        flushMs: 1000,
        maxSegmentBytes: 4 << 20,
        maxRuntimeMs: 9000,
        lockTtlSeconds: 5,
        holder: 'test-follower',
        member: cluster.endpoints[0]!,
        spoolDir: path.join(root, 'spool'),
        spoolLimitBytes: 64 << 20,
      };
      const followerDeps: FollowerDeps = {
        stores,
        now: () => new Date(),
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        log,
        fullBackup: async () => undefined,
        alarm: async () => undefined,
      };
      const following = runFollower(options, followerDeps);
      const client = await connect(accessFor(cluster));
      let load;
      try {
        load = await kubernetesLikeLoad(client, { durationMs: 5000, ratePerSecond: 100 });
      } finally {
        client.close();
      }
      const result = await following;
      assert.equal(result.outcome, 'success', `${result.problems.join('; ')}\n${log.lines.join('\n')}`);
      assert.ok(load.writes > 100, `load wrote ${load.writes}`);
      for (const dir of dirs) {
        const journal = await readSiteJournal(dir, 'test');
        const revisions = verifiedRevisions(journal, backup.manifest!.revision, backup.manifest!.snapshotSha256);
        assert.equal(revisions[0]!.rev, backup.manifest!.revision + 1);
        assert.ok(revisions[revisions.length - 1]!.rev >= load.lastRevision, `journal ends at ${revisions[revisions.length - 1]!.rev}, load at ${load.lastRevision}`);
        const leases = journal.segments.flatMap((s) => s.manifest.leases);
        assert.ok(leases.some((l) => l.grantedTtl === 2), 'lease TTLs recorded');
        const deletes = revisions.flatMap((r) => r.events).filter((e) => e.type === 'delete' && Buffer.from(e.key, 'base64').toString().includes('/leases/'));
        assert.ok(deletes.length > 0, 'lease expiry deletions are in the journal');
      }
      // The product's reader (src/journal/reader.ts) agrees: one window from the backup to the journal's end, no problem.
      const index = await readJournalIndex(stores, 'test');
      assert.deepEqual(index.problems, [], index.problems.join('; '));
      const window = index.windows.find((w) => w.journal);
      assert.ok(window, `a journal window: ${JSON.stringify(index.windows)}`);
      assert.equal(window.fromRevision, backup.manifest!.revision);
      assert.ok(window.toRevision >= load.lastRevision, `the window reaches ${window.toRevision}, load ${load.lastRevision}`);
    });
  });
}
