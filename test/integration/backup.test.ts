/**
 * Backups of real etcd clusters (3.4 from Debian stable, 3.5 from unstable) into real stores: the
 * member choice, failures mid-snapshot, the lock, auth, and that a backup restores to exactly the data.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Decrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { runBackup } from '../../src/backup/backup.ts';
import { connect } from '../../src/etcd/connection.ts';
import { acquireLock, lockKey } from '../../src/etcd/lock.ts';
import { LocalStore } from '../../src/stores/local.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { accessFor, backupOptionsFor, deps, keysInSnapshot, loadMegabytes, recordingLog, unpackObject } from '../harness/engine.ts';
import { tempDir } from '../harness/tmp.ts';

async function twoLocalStores(): Promise<{ dirs: string[]; stores: LocalStore[] }> {
  const root = await tempDir('etcd-dr-stores-');
  const dirs = [path.join(root, 'dc1'), path.join(root, 'dc2')];
  return { dirs, stores: dirs.map((d, i) => new LocalStore(d, `file://dc${i + 1}`)) };
}

async function filesIn(dir: string): Promise<string[]> {
  return readdir(path.join(dir, 'test')).catch(() => []);
}

for (const version of ETCD_VERSIONS) {
  describe(`backup of an etcd ${version} cluster`, () => {
    let cluster: EtcdCluster;
    const written = new Map<string, string>();

    before(async () => {
      cluster = await startCluster({ version });
      for (let i = 0; i < 30; i++) {
        const key = `/registry/pods/ns-${i % 3}/pod-${i}`;
        written.set(key, JSON.stringify({ kind: 'Pod', i }));
        await cluster.put(key, written.get(key)!);
      }
    });
    after(async () => cluster?.stop());

    it('snapshots the leader, and the backup restores with etcd’s own tool to exactly the keys written before it', async () => {
      const { dirs, stores } = await twoLocalStores();
      const leader = await cluster.leader();
      const result = await runBackup(backupOptionsFor(cluster, { etcd: accessFor(cluster, [cluster.endpoints[2]!]) }), deps(stores));
      assert.equal(result.status, 'success', result.problem);
      assert.equal(result.manifest!.source.name, leader.name);
      assert.equal(result.manifest!.source.wasLeader, true);
      assert.equal(result.manifest!.keyCount, written.size);

      await cluster.put('/registry/pods/late/after-backup', 'not in the backup');
      const raw = await unpackObject(path.join(dirs[0]!, 'test', result.manifest!.object.file));
      const keys = await keysInSnapshot(cluster, raw);
      const userKeys = new Map([...keys].filter(([k]) => !k.startsWith('/etcd-dr/')));
      assert.deepEqual(userKeys, written);
      for (const dir of dirs) {
        assert.deepEqual((await filesIn(dir)).sort(), [result.manifest!.object.file, `${result.manifest!.name}.json`].sort());
      }
    });

    it("records the stored object's own size and sha256 in the manifest, whatever the compression (healing checks them)", async () => {
      for (const compression of ['zstd', 'gzip', 'none'] as const) {
        const { dirs, stores } = await twoLocalStores();
        const result = await runBackup(backupOptionsFor(cluster, { compression }), deps(stores));
        assert.equal(result.status, 'success', result.problem);
        for (const dir of dirs) {
          const stored = await readFile(path.join(dir, 'test', result.manifest!.object.file));
          assert.equal(result.manifest!.object.size, stored.length, compression);
          assert.equal(result.manifest!.object.sha256, createHash('sha256').update(stored).digest('hex'), compression);
        }
      }
    });

    it('with the leader stopped before the run, snapshots the newly elected leader', async () => {
      const { stores } = await twoLocalStores();
      const oldLeader = await cluster.leader();
      await oldLeader.stop();
      try {
        await cluster.leader();
        const log = recordingLog();
        const result = await runBackup(backupOptionsFor(cluster), deps(stores, log));
        assert.equal(result.status, 'success', result.problem);
        assert.notEqual(result.manifest!.source.name, oldLeader.name);
        assert.ok(result.warnings.some((w) => w.includes('unreachable')), 'the stopped member is named');
      } finally {
        await oldLeader.start();
        await cluster.waitHealthy();
      }
    });

    it('with quorum lost, snapshots the most up-to-date member and marks the backup degraded', async () => {
      const { dirs, stores } = await twoLocalStores();
      const [a, b, c] = cluster.members as [typeof cluster.members[0], typeof cluster.members[0], typeof cluster.members[0]];
      await Promise.all([a.stop(), b.stop()]);
      try {
        const result = await runBackup(backupOptionsFor(cluster, { etcd: accessFor(cluster, [c.clientUrl]) }), deps(stores));
        assert.equal(result.status, 'degraded', result.problem);
        assert.equal(result.manifest!.quality, 'degraded');
        assert.equal(result.manifest!.source.name, c.name);
        assert.match(result.problem!, /no leader/);
        assert.ok((await filesIn(dirs[0]!)).includes(`${result.manifest!.name}.json`), 'a degraded backup is still stored');
      } finally {
        await Promise.all([a.start(), b.start()]);
        await cluster.waitHealthy();
      }
    });

    it('with one store failing, the other still gets the backup and the run is degraded, naming the store', async () => {
      const { dirs, stores } = await twoLocalStores();
      // A store whose root lies under a regular file: every write to it fails (ENOTDIR), like a broken mount.
      await writeFile(path.join(path.dirname(dirs[1]!), 'not-a-dir'), '');
      const broken = new LocalStore(path.join(path.dirname(dirs[1]!), 'not-a-dir', 'dc2'), 'file://broken-dc2');
      const result = await runBackup(backupOptionsFor(cluster), deps([stores[0]!, broken]));
      assert.equal(result.status, 'degraded');
      assert.match(result.problem!, /file:\/\/broken-dc2/);
      assert.deepEqual(result.stores.map((s) => s.ok), [true, false]);
      assert.ok((await filesIn(dirs[0]!)).includes(`${result.manifest!.name}.json`));
    });

    it('with every store failing, fails and lists nothing anywhere', async () => {
      const { dirs } = await twoLocalStores();
      await writeFile(path.join(path.dirname(dirs[0]!), 'file'), '');
      const broken = [1, 2].map((i) => new LocalStore(path.join(path.dirname(dirs[0]!), 'file', `dc${i}`), `file://broken-${i}`));
      const result = await runBackup(backupOptionsFor(cluster), deps(broken));
      assert.equal(result.status, 'failed');
      assert.match(result.problem!, /no store accepted the backup/);
    });

    it('refuses to run while another run holds the lock, naming the holder', async () => {
      const { dirs, stores } = await twoLocalStores();
      const client = await connect(accessFor(cluster));
      const lock = await acquireLock(client, 'test', 'runner-on-node-2', 10, () => undefined);
      try {
        const result = await runBackup(backupOptionsFor(cluster), deps(stores));
        assert.equal(result.status, 'failed');
        assert.match(result.problem!, /runner-on-node-2/);
        assert.deepEqual(await filesIn(dirs[0]!), []);
      } finally {
        await lock.release();
        client.close();
      }
    });

    it('a lock left by a crashed run frees itself when its lease expires', async () => {
      const { stores } = await twoLocalStores();
      // The lock as a crashed run leaves it: the key on a lease that nobody renews any more.
      const crashed = await connect(accessFor(cluster));
      const leaseId = await crashed.lease(3, { autoKeepAlive: false }).grant();
      await crashed.put(lockKey('test')).value('{"holder":"crashed-runner"}').lease(leaseId);
      // Wait for etcd to expire the lease (3 s, a little later on a busy machine), then back up.
      const deadline = Date.now() + 20_000;
      while ((await crashed.get(lockKey('test')).string()) !== null) {
        assert.ok(Date.now() < deadline, 'etcd did not expire the crashed run\'s lease within 20 s');
        await new Promise((r) => setTimeout(r, 250));
      }
      crashed.close();
      const result = await runBackup(backupOptionsFor(cluster), deps(stores));
      assert.equal(result.status, 'success', result.problem);
    });

    it('encrypts to age recipients so that only the identity holder can read the snapshot', async () => {
      const { dirs, stores } = await twoLocalStores();
      const identity = await generateX25519Identity();
      const recipient = await identityToRecipient(identity);
      const result = await runBackup(backupOptionsFor(cluster, { recipients: [recipient], compression: 'gzip' }), deps(stores));
      assert.equal(result.status, 'success', result.problem);
      assert.match(result.manifest!.object.file, /\.db\.gz\.age$/);
      assert.deepEqual(result.manifest!.encryptedTo, [recipient]);
      const stored = await readFile(path.join(dirs[1]!, 'test', result.manifest!.object.file));
      assert.ok(stored.subarray(0, 30).toString().startsWith('age-encryption.org/v1'));
      const decrypter = new Decrypter();
      decrypter.addIdentity(identity);
      const plain = await decrypter.decrypt(stored);
      const rawPath = path.join(dirs[1]!, 'plain.db.gz');
      await writeFile(rawPath, plain);
      const keys = await keysInSnapshot(cluster, await unpackObject(rawPath));
      assert.equal(keys.get('/registry/pods/ns-0/pod-0'), written.get('/registry/pods/ns-0/pod-0'));
    });
  });
}

for (const version of ETCD_VERSIONS) describe(`a source member of etcd ${version} that dies mid-snapshot`, () => {
  let cluster: EtcdCluster;
  before(async () => {
    cluster = await startCluster({ version });
    await loadMegabytes(cluster, 160);
  });
  after(async () => cluster?.stop());

  it('is replaced by another member, and no partial backup is ever listed', async () => {
    const { dirs, stores } = await twoLocalStores();
    const spoolDir = await tempDir('etcd-dr-spool-');
    const leader = await cluster.leader();
    // Kill the leader as soon as its snapshot has started to land in the spool.
    let killed = false;
    const watcher = setInterval(async () => {
      if (killed) return;
      for (const sub of await readdir(spoolDir).catch(() => [])) {
        const files = await readdir(path.join(spoolDir, sub)).catch(() => []);
        if (files.some((f) => f.endsWith('.spool'))) {
          killed = true;
          leader.kill();
        }
      }
    }, 5);
    try {
      const result = await runBackup(backupOptionsFor(cluster, { tempDir: spoolDir, compression: 'none' }), deps(stores));
      assert.ok(killed, 'the leader was killed during the run');
      if (result.status === 'failed') {
        assert.deepEqual(await filesIn(dirs[0]!), [], 'a failed run lists nothing');
      } else {
        assert.notEqual(result.manifest!.source.name, leader.name);
        assert.ok(result.warnings.some((w) => /retrying from another member/.test(w)), result.warnings.join('\n'));
        for (const dir of dirs) {
          const files = await filesIn(dir);
          assert.deepEqual(files.sort(), [result.manifest!.object.file, `${result.manifest!.name}.json`].sort(), 'only the complete backup');
        }
      }
    } finally {
      clearInterval(watcher);
      await leader.start();
    }
  });
});

describe('etcd with TLS client certificates and auth enabled', () => {
  for (const version of ETCD_VERSIONS) {
    it(`backs up etcd ${version} with the user's credentials (etcd3's snapshot call alone would fail)`, async () => {
      const cluster = await startCluster({ version, tls: true, auth: true });
      try {
        await cluster.put('/registry/secrets/kube-system/token', 'secret');
        const { stores } = await twoLocalStores();
        const result = await runBackup(backupOptionsFor(cluster), deps(stores));
        assert.equal(result.status, 'success', result.problem);
        assert.equal(result.manifest!.keyCount, 1);
      } finally {
        await cluster.stop();
      }
    });
  }
});
