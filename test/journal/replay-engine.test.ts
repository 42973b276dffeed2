/**
 * The replay engine against real etcd 3.4 and 3.5: a workload is written, snapshotted, and written on while
 * a test recorder keeps every revision; the snapshot plus the recorded revisions, replayed, must equal the
 * source etcd at the target revision key by key (value, create/mod revision, version, lease).
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { silentLog } from '../../src/base/log.ts';
import { connect } from '../../src/etcd/connection.ts';
import type { RevisionRecord } from '../../src/journal/records.ts';
import type { EtcdTools } from '../../src/restore/etcdTools.ts';
import { replayToSnapshot, SnapshotPastTarget, withReplayedEtcd, type ReplayInput } from '../../src/restore/replay.ts';
import { compareKeyspaces } from '../../src/restore/replayCompare.ts';
import { ttlAtTarget } from '../../src/restore/replayLeases.ts';
import { execRunner } from '../../src/restore/service.ts';
import { runSnapshotRestore } from '../../src/restore/snapshotRestore.ts';
import { DRILL_MEMBER, drillPeerUrl, startThrowawayEtcd } from '../../src/restore/throwawayEtcd.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { tempDir } from '../harness/tmp.ts';
import { startRecorder, type TestRecorder } from './replay-recorder.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function revisionOf(client: Etcd3): Promise<number> {
  return Number((await client.maintenance.status()).header.revision);
}

async function* only(records: readonly RevisionRecord[]): AsyncGenerator<RevisionRecord> {
  yield* records;
}

for (const version of ETCD_VERSIONS) {
  describe(`journal replay onto a full backup, etcd ${version}`, () => {
    let cluster: EtcdCluster;
    let source: Etcd3;
    let recorder: TestRecorder;
    let work: string;
    let snapshotFile: string;
    let tools: EtcdTools;
    let afterTxn: number;
    let txnRevision: number;
    let bigDelete: number;
    let revokeRevision: number;
    let final: number;
    let liveLease: string;
    let baseLease: string;
    let scratchCount = 0;

    const scratch = async (): Promise<string> => {
      const dir = path.join(work, `scratch-${scratchCount++}`);
      await mkdir(dir);
      return dir;
    };
    const input = async (revision: number, extra: Partial<ReplayInput> = {}): Promise<ReplayInput> => ({
      snapshotFile,
      records: recorder.iterate(),
      leases: recorder.leases,
      target: { revision, time: new Date(recorder.at(revision).at) },
      expireLeases: true,
      tools,
      run: execRunner(),
      scratchDir: await scratch(),
      log: silentLog,
      sleep,
      ...extra,
    });

    before(async () => {
      cluster = await startCluster({ version, members: 1, name: `replay-${version.replace('.', '')}` });
      const b = cluster.binaries;
      tools = { version: b.version, etcd: b.etcd, etcdctl: b.etcdctl, ...(b.etcdutl ? { etcdutl: b.etcdutl } : {}), binDir: b.binDir, source: 'bin-dir' };
      work = await tempDir('etcd-dr-replay-');
      source = await connect({ endpoints: cluster.endpoints, callTimeoutMs: 15_000 });

      // Before the backup: pods, and a lease with keys that the journal keeps using afterwards.
      for (let i = 0; i < 60; i++) await source.put(`/registry/pods/ns-${i % 3}/pod-${i}`).value(JSON.stringify({ i, phase: 'Running' }));
      baseLease = (await source.leaseClient.leaseGrant({ TTL: 900 })).ID;
      for (let i = 0; i < 3; i++) await source.put(`/registry/leases/base-${i}`).value('held').lease(baseLease);
      // The recorder starts a few revisions before the snapshot: the replay must skip what the snapshot holds.
      recorder = await startRecorder(cluster.endpoints[0]!, (await revisionOf(source)) - 5);
      snapshotFile = path.join(work, 'base.db');
      await cluster.etcdctl(['snapshot', 'save', snapshotFile]);

      // After the backup: updates, deletes, a transaction with several operations, keys on leases.
      for (let i = 0; i < 20; i++) await source.put(`/registry/pods/ns-${i % 3}/pod-${i}`).value(JSON.stringify({ i, phase: 'Succeeded' }));
      for (let i = 20; i < 25; i++) await source.delete().key(`/registry/pods/ns-${i % 3}/pod-${i}`);
      await source.put('/registry/leases/base-0').value('renewed').lease(baseLease);
      const txn = await source
        .if('/registry/pods/ns-0/pod-0', 'Version', '>', 0)
        .then(
          source.put('/registry/configmaps/ns-0/a').value('A'),
          source.put('/registry/pods/ns-1/pod-1').value('moved by txn'),
          source.delete().key('/registry/pods/ns-2/pod-2'),
        )
        .commit();
      txnRevision = Number(txn.header.revision);
      liveLease = (await source.leaseClient.leaseGrant({ TTL: 600 })).ID;
      for (let i = 0; i < 5; i++) await source.put(`/registry/events/live-${i}`).value(`event ${i}`).lease(liveLease);
      afterTxn = await revisionOf(source);
      // 300 keys deleted by one `del --prefix`: one revision with more deletes than etcd's default 128 ops.
      for (let start = 0; start < 300; start += 100) {
        await source.kv.txn({
          success: Array.from({ length: 100 }, (_, j) => ({
            request_put: { key: Buffer.from(`/registry/replicasets/bulk/rs-${String(start + j).padStart(3, '0')}`), value: Buffer.from('x'.repeat(200)) },
          })),
        });
      }
      bigDelete = Number((await source.delete().prefix('/registry/replicasets/bulk/').exec()).header.revision);
      // A lease with 150 keys revoked: its deletes are one revision too.
      const doomed = (await source.leaseClient.leaseGrant({ TTL: 600 })).ID;
      for (let i = 0; i < 150; i++) await source.put(`/registry/events/doomed-${i}`).value('soon gone').lease(doomed);
      revokeRevision = Number((await source.leaseClient.leaseRevoke({ ID: doomed })).header.revision);
      for (let i = 0; i < 10; i++) await source.put(`/registry/pods/ns-0/late-${i}`).value('after the revoke');
      final = await revisionOf(source);
      await recorder.waitFor(final);
    });
    after(async () => {
      await recorder?.stop();
      source?.close();
      await cluster?.stop();
    });

    it('the recorded journal holds the big revisions whole', () => {
      assert.equal(recorder.at(bigDelete).events.length, 300);
      assert.ok(recorder.at(bigDelete).events.every((e) => e.type === 'delete'));
      assert.equal(recorder.at(revokeRevision).events.length, 150);
      assert.equal(recorder.at(txnRevision).events.length, 3);
    });

    for (const which of ['after the transaction', 'at the end'] as const) {
      it(`replayed to a revision ${which}, every key, value, create/mod revision, version and lease equals the source at that revision`, async () => {
        const target = which === 'at the end' ? final : afterTxn;
        await withReplayedEtcd(await input(target), async (etcd, report) => {
          assert.equal(report.revision, target);
          assert.equal(await revisionOf(etcd.client), target);
          assert.ok(report.baseRevision < txnRevision, 'the snapshot predates the transaction');
          assert.equal(report.revisionsApplied, target - report.baseRevision);
          assert.deepEqual(report.leasesRevoked, []);
          const diff = await compareKeyspaces({ client: etcd.client, name: 'the replay' }, { client: source, revision: target, name: 'the source' });
          assert.deepEqual(diff.examples, []);
          assert.equal(diff.differences, 0);
          assert.ok(diff.keys >= 60, `compared ${diff.keys} keys`);
        });
      });
    }

    it('a revision with more operations than etcd\'s default --max-txn-ops replays as one revision: the throwaway etcd is restarted with limits that fit', async () => {
      const target = bigDelete + 1;
      await withReplayedEtcd(await input(target, { limits: { maxTxnOps: 128, maxRequestBytes: 1_572_864 } }), async (etcd, report) => {
        assert.ok(report.limitRaises >= 1, 'the limits were raised');
        assert.ok(report.limits.maxTxnOps >= 300);
        assert.equal(report.revision, target);
        // Exactly one revision held all 300 deletes: the keys were there one revision before, gone at it.
        const before = await etcd.client.kv.range({ key: Buffer.from('/registry/replicasets/bulk/'), range_end: Buffer.from('/registry/replicasets/bulk0'), revision: bigDelete - 1, count_only: true });
        const at = await etcd.client.kv.range({ key: Buffer.from('/registry/replicasets/bulk/'), range_end: Buffer.from('/registry/replicasets/bulk0'), revision: bigDelete, count_only: true });
        assert.equal(Number(before.count), 300);
        assert.equal(Number(at.count), 0);
        const diff = await compareKeyspaces({ client: etcd.client, name: 'the replay' }, { client: source, revision: target, name: 'the source' });
        assert.deepEqual(diff.examples, []);
      });
    });

    it('keys keep their lease: a lease is re-created with its id and the TTL it had left at the target', async () => {
      const targetTime = new Date(recorder.at(final).at);
      await withReplayedEtcd(await input(final), async (etcd) => {
        const live = await etcd.client.leaseClient.leaseTimeToLive({ ID: liveLease, keys: true });
        const expected = ttlAtTarget(recorder.leases.get(liveLease)!, undefined, targetTime);
        assert.ok(expected > 0 && expected <= 600, `expected TTL ${expected}`);
        assert.equal(Number(live.grantedTTL), expected, 'granted the TTL left at the target');
        assert.ok(Number(live.TTL) <= expected);
        assert.equal(live.keys.length, 5);
        const { kvs } = await etcd.client.kv.range({ key: Buffer.from('/registry/events/live-0') });
        assert.equal(kvs[0]?.lease, liveLease);
      });
    });

    it('a lease the journal\'s times say had expired by the target is revoked there, with a warning: its keys are gone', async () => {
      const later = new Date(Date.parse(recorder.at(final).at) + 3_600_000);
      await withReplayedEtcd(await input(final, { target: { revision: final, time: later } }), async (etcd, report) => {
        assert.ok(report.leasesRevoked.includes(liveLease), `revoked ${report.leasesRevoked.join(', ')}`);
        assert.equal(report.revision, final + report.leasesRevoked.length);
        assert.match(report.warnings.join('\n'), new RegExp(`lease ${liveLease} had expired by the target`));
        const { count } = await etcd.client.kv.range({ key: Buffer.from('/registry/events/live-'), range_end: Buffer.from('/registry/events/live.'), count_only: true });
        assert.equal(Number(count), 0);
      });
    });

    for (const when of ['at the target revision\'s receive time', 'with little TTL left (a shorter number in the lease record)'] as const) {
      it(`the replayed snapshot restores like a backup: with the revision bump, the keyspace is the source's at the target, and the base backup's lease has the TTL left ${when}`, async () => {
        const target = afterTxn;
        const grant = recorder.leases.get(baseLease)!;
        // Late: about 100 s left of the base lease's 900, so its TTL is written with a padded varint.
        const time = when.startsWith('at') ? new Date(recorder.at(target).at) : new Date(Date.parse(grant.askedAt) + (grant.remainingTtl - 100) * 1000);
        const dir = await scratch();
        const out = path.join(dir, 'replayed.db');
        // The late target would revoke the journal's own leases as expired: kept here, this test is about the base lease.
        const report = await replayToSnapshot(await input(target, { target: { revision: target, time }, expireLeases: false }), out);
        assert.equal(report.snapshot.size > 0, true);
        const peerUrl = await drillPeerUrl();
        const member = { name: DRILL_MEMBER, initialCluster: `${DRILL_MEMBER}=${peerUrl}`, initialAdvertisePeerUrls: peerUrl, initialClusterToken: 'replay-test' };
        const dataDir = path.join(dir, 'restored');
        await runSnapshotRestore(execRunner(), tools, out, dataDir, member, { bumpRevision: 1_000_000, markCompacted: true });
        const etcd = await startThrowawayEtcd(tools, dataDir, peerUrl);
        const client = await connect({ endpoints: [etcd.clientUrl], callTimeoutMs: 15_000 });
        try {
          for (let i = 0; ; i++) {
            try {
              await client.maintenance.status();
              break;
            } catch (error) {
              if (i > 100) throw error;
              await sleep(200);
            }
          }
          const diff = await compareKeyspaces({ client, name: 'the restored replay' }, { client: source, revision: target, name: 'the source' });
          assert.deepEqual(diff.examples, []);
          if (tools.etcdutl) assert.equal(await revisionOf(client), target + 1_000_000);
          // The base backup's lease comes back with the TTL it had left at the target, not its full 900 s.
          const expected = ttlAtTarget(grant, undefined, time);
          assert.ok(expected < 900 && expected > 0, `expected ${expected}`);
          if (!when.startsWith('at')) assert.ok(expected < 128, 'a one-byte number where 900 took two');
          assert.deepEqual(report.leasesToShorten.map((c) => c.id), [baseLease]);
          const lease = await client.leaseClient.leaseTimeToLive({ ID: baseLease, keys: true });
          assert.equal(Number(lease.grantedTTL), expected);
          assert.ok(Number(lease.TTL) > 0 && Number(lease.TTL) <= expected);
          assert.equal(lease.keys.length, 3);
        } finally {
          client.close();
          await etcd.stop();
        }
      });
    }

    it('a journal with a revision missing, a revision that does not continue the backup, or ending before the target fails, naming the revision', async () => {
      const all = recorder.records;
      const gap = all.filter((r) => r.rev !== txnRevision);
      await assert.rejects(withReplayedEtcd(await input(final, { records: only(gap) }), async () => undefined), new RegExp(`jumps from revision ${txnRevision - 1} to ${txnRevision + 1}`));
      const tampered = all.map((r) =>
        r.rev === txnRevision ? { ...r, events: r.events.map((e) => (e.type === 'put' ? { ...e, version: e.version + 1 } : e)) } : r,
      );
      await assert.rejects(withReplayedEtcd(await input(final, { records: only(tampered) }), async () => undefined), new RegExp(`revision ${txnRevision} does not continue`));
      // A target the snapshot is already past needs an older full backup (the restore then tries the one before).
      const early = all[0]!.rev;
      await assert.rejects(
        withReplayedEtcd(await input(early), async () => undefined),
        (e: Error) => e instanceof SnapshotPastTarget && /already holds revision \d+, past the target/.test(e.message),
      );
      const short = all.filter((r) => r.rev <= afterTxn);
      await assert.rejects(withReplayedEtcd(await input(final, { records: only(short) }), async () => undefined), new RegExp(`journal ends at revision ${afterTxn}, before the target ${final}`));
    });
  });
}
