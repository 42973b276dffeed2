/**
 * Point-in-time restore, acceptance (issue 13): a real 3-member etcd cluster (3.4, and 3.5 with age
 * encryption), two real OpenSSH sites, full backups by the backup engine, and the journal written by the
 * real journal follower while the cluster is used. Then an accidental `del --prefix` of 300 keys (one
 * revision with more deletes than etcd's default --max-txn-ops), later writes, and restores of every member
 * through the restore command, as an operator would run them.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import type { Etcd3 } from 'etcd3';
import { runCommand, type CommandReport } from '../../src/commands/index.ts';
import { closeAll, storesFromSettings } from '../../src/config/stores.ts';
import { connect } from '../../src/etcd/connection.ts';
import { runFollower, type FollowerResult } from '../../src/journal/follower.ts';
import { readJournalIndex } from '../../src/journal/reader.ts';
import { journalFolder } from '../../src/journal/segment.ts';
import type { Manifest } from '../../src/repository/manifest.ts';
import type { Store } from '../../src/stores/store.ts';
import { accessFor, recordingLog, successfulBackup } from '../harness/engine.ts';
import { startCluster, type EtcdCluster, type EtcdMember, type EtcdVersion } from '../harness/etcd.ts';
import { commandDeps, memberRestoreInputs, prodInputs, settingsFrom, type InputValues } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';
import { treeDigest } from '../harness/tree.ts';

interface KeyState {
  readonly value: string;
  readonly create: string;
  readonly mod: string;
  readonly version: string;
  readonly lease: string;
}

/** Every user key (not etcd-dr's own) with its value and revisions, at `revision` (latest when omitted). */
async function keyspace(client: Etcd3, revision?: number): Promise<Map<string, KeyState>> {
  const { kvs } = await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), ...(revision ? { revision } : {}) });
  return new Map(
    kvs
      .filter((kv) => !kv.key.toString().startsWith('/etcd-dr/'))
      .map((kv) => [kv.key.toString(), { value: kv.value.toString(), create: kv.create_revision, mod: kv.mod_revision, version: kv.version, lease: kv.lease }]),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * What a refused command says: the failed report's summary, or the InputError it ends with (the command
 * layer rethrows bad input after recording the failure, so the front end exits as for any input error).
 */
async function refusal(run: Promise<CommandReport>): Promise<string> {
  try {
    const report = await run;
    assert.equal(report.outcome, 'failed', report.summary);
    return report.summary;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const CASES: Array<{ version: EtcdVersion; encrypted: boolean }> = [
  { version: '3.4', encrypted: false },
  { version: '3.5', encrypted: true },
];

for (const { version, encrypted } of CASES) {
  describe(`point-in-time restore of a 3-member etcd ${version} cluster${encrypted ? ', age-encrypted' : ''}`, () => {
    let cluster: EtcdCluster;
    let dc1: SftpSite;
    let dc2: SftpSite;
    let stores: Store[];
    let inputs: InputValues;
    let first: Manifest;
    let second: Manifest;
    let beforeDelete: number;
    let deleteRevision: number;
    let middle: number;
    let final: number;
    let deleteTime: Date;
    let longLease: string;
    let longLeaseGrantedBy: number;
    let atBeforeDelete: Map<string, KeyState>;
    let atMiddle: Map<string, KeyState>;
    let follower: { result: Promise<FollowerResult>; stop: AbortController };

    const restoreInputs = (member: EtcdMember, extra: InputValues): InputValues => ({
      ...inputs,
      backup: 'latest',
      confirm: 'prod',
      ...memberRestoreInputs(cluster, member),
      ...extra,
    });
    const restore = (member: EtcdMember, extra: InputValues) => runCommand('restore', settingsFrom(restoreInputs(member, extra)), commandDeps({ realSleep: true }));

    /** Restores every member to the target, starts them, and waits for a healthy cluster with one leader. */
    async function restoreCluster(extra: InputValues): Promise<string[]> {
      await Promise.all(cluster.members.map((m) => m.stop()));
      const summaries: string[] = [];
      for (const member of cluster.members) {
        const report = await restore(member, extra);
        assert.equal(report.outcome, 'success', report.summary);
        summaries.push(report.summary);
      }
      await Promise.all(cluster.members.map((m) => m.start()));
      await cluster.waitHealthy();
      const leaders = new Set<string>();
      for (const member of cluster.members) {
        const client = await connect({ endpoints: [member.clientUrl], callTimeoutMs: 10_000 });
        try {
          for (let i = 0; ; i++) {
            const status = await client.maintenance.status();
            if (status.leader !== '0' || i > 50) {
              leaders.add(status.leader);
              break;
            }
            await sleep(200);
          }
        } finally {
          client.close();
        }
      }
      assert.equal(leaders.size, 1, `one leader, every member agrees: ${[...leaders].join(', ')}`);
      assert.ok(!leaders.has('0'));
      return summaries;
    }

    before(async () => {
      const clientKey = await makeClientKey(await tempDir('etcd-dr-pitr-key-'));
      [cluster, dc1, dc2] = await Promise.all([
        startCluster({ version, name: `pitr-${version.replace('.', '')}` }),
        startSftpSite('dc1', { clientKey }),
        startSftpSite('dc2', { clientKey }),
      ]);
      const identity = await generateX25519Identity();
      const recipients = encrypted ? [await identityToRecipient(identity)] : [];
      inputs = prodInputs(cluster, [dc1, dc2], encrypted ? identity : undefined);
      stores = storesFromSettings(settingsFrom(inputs));
      const client = await connect(accessFor(cluster));
      const backup = (): Promise<Manifest> => successfulBackup(cluster, stores, { cluster: 'prod', recipients });
      try {
        for (let i = 0; i < 40; i++) await client.put(`/registry/configmaps/app/cm-${i}`).value(`config ${i}`);
        first = await backup();
        const log = recordingLog();
        const stop = new AbortController();
        const root = await tempDir('etcd-dr-pitr-spool-');
        follower = {
          stop,
          result: runFollower(
            {
              cluster: 'prod',
              etcd: accessFor(cluster),
              compression: 'zstd',
              recipients,
              flushMs: 500,
              maxSegmentBytes: 4 << 20,
              maxRuntimeMs: 15 * 60_000,
              lockTtlSeconds: 5,
              holder: 'pitr-test',
              member: cluster.endpoints[0]!,
              spoolDir: path.join(root, 'spool'),
              spoolLimitBytes: 64 << 20,
            },
            { stores, now: () => new Date(), sleep, log, fullBackup: async () => undefined, alarm: async () => undefined },
            stop.signal,
          ),
        };
        // Keys on a long lease (alive at the target) and on a short one (expired well before it).
        longLease = (await client.leaseClient.leaseGrant({ TTL: 600 })).ID;
        longLeaseGrantedBy = Date.now();
        for (let i = 0; i < 3; i++) await client.put(`/registry/leases/long-${i}`).value('held').lease(longLease);
        const shortLease = (await client.leaseClient.leaseGrant({ TTL: 2 })).ID;
        for (let i = 0; i < 3; i++) await client.put(`/registry/leases/short-${i}`).value('brief').lease(shortLease);
        for (let start = 0; start < 300; start += 100) {
          await client.kv.txn({
            success: Array.from({ length: 100 }, (_, j) => ({
              request_put: { key: Buffer.from(`/registry/pods/team-a/pod-${String(start + j).padStart(3, '0')}`), value: Buffer.from(`pod ${start + j}`) },
            })),
          });
        }
        second = await backup();
        for (let i = 0; i < 10; i++) await client.put(`/registry/configmaps/app/cm-${i}`).value(`config ${i}, edited`);
        middle = Number((await client.maintenance.status()).header.revision) - 4;
        await client.if('/registry/configmaps/app/cm-0', 'Version', '>', 0).then(client.put('/registry/configmaps/app/txn-a').value('a'), client.delete().key('/registry/configmaps/app/cm-39')).commit();
        // The short lease expires (etcd deletes its keys: one more revision), then quiet for a while, so
        // that one second before the mistake no revision is pending; then the mistake, then life goes on.
        for (let i = 0; (await client.get('/registry/leases/short-0').string()) !== null; i++) {
          if (i > 100) throw new Error('the short lease did not expire');
          await sleep(100);
        }
        await sleep(2500);
        beforeDelete = Number((await client.maintenance.status()).header.revision);
        atBeforeDelete = await keyspace(client, beforeDelete);
        atMiddle = await keyspace(client, middle);
        // "One second before the mistake" must find every earlier revision already received: wait until the
        // journal on the sites holds the last one (a loaded machine can deliver it late), then a second more.
        for (let i = 0; ; i++) {
          const index = await readJournalIndex(stores, 'prod');
          if ((index.windows[index.windows.length - 1]?.toRevision ?? 0) >= beforeDelete) break;
          if (i > 60) throw new Error(`the journal did not reach revision ${beforeDelete} before the mistake`);
          await sleep(500);
        }
        await sleep(1500);
        deleteTime = new Date();
        deleteRevision = Number((await client.delete().prefix('/registry/pods/team-a/').exec()).header.revision);
        for (let i = 0; i < 20; i++) await client.put(`/registry/configmaps/after/x-${i}`).value('written after the mistake');
        final = Number((await client.maintenance.status()).header.revision);
      } finally {
        client.close();
      }
      // The journal reaches the last write on the sites.
      for (let i = 0; ; i++) {
        const index = await readJournalIndex(stores, 'prod');
        const end = index.windows[index.windows.length - 1]?.toRevision ?? 0;
        if (end >= final) break;
        if (i > 60) throw new Error(`the journal reached only ${end}, not ${final}`);
        await sleep(500);
      }
      follower.stop.abort();
      const result = await follower.result;
      assert.notEqual(result.outcome, 'failed', result.problems.join('; '));
    });
    after(async () => {
      follower?.stop.abort();
      await follower?.result.catch(() => undefined);
      await closeAll(stores ?? []);
      await Promise.all([cluster?.stop(), dc1?.destroy(), dc2?.destroy()]);
    });

    it('the journal holds the 300-key delete as one revision, and the short lease\'s expiry', async () => {
      const index = await readJournalIndex(stores, 'prod');
      assert.deepEqual(index.problems, []);
      assert.equal(index.windows.length, 1);
      assert.equal(index.windows[0]!.fromRevision, first.revision);
      assert.ok(index.windows[0]!.backups.some((b) => b.name === second.name));
      assert.ok(!atBeforeDelete.has('/registry/leases/short-0'), 'the short lease had expired before the target');
      assert.ok(atBeforeDelete.has('/registry/leases/long-0'));
      assert.equal([...atBeforeDelete.keys()].filter((k) => k.startsWith('/registry/pods/team-a/')).length, 300);
      assert.equal(deleteRevision, beforeDelete + 1);
    });

    it('a target in a gap or outside the recoverable window is refused, listing the windows, and etcd is untouched', async () => {
      const member = cluster.members[0]!;
      await member.stop();
      const digest = await treeDigest(member.dataDir);
      const parent = path.dirname(member.dataDir);
      const before = (await readdir(parent)).sort();
      try {
        const cases: Array<[InputValues, RegExp]> = [
          [{ 'to-revision': String(final + 1000) }, /after the end of the journal\. recoverable: revisions \d+\.\.\d+/],
          [{ 'to-time': new Date(Date.parse(first.createdAt) - 3_600_000).toISOString() }, /before the oldest full backup/],
        ];
        for (const [extra, expected] of cases) assert.match(await refusal(restore(member, extra)), expected, JSON.stringify(extra));
        // Input that is wrong in itself is refused while the settings are read, before any I/O.
        await assert.rejects(restore(member, { 'to-time': 'yesterday' }), /to-time "yesterday" is not an RFC 3339 UTC time/);
        await assert.rejects(restore(member, { 'to-time': '2026-02-30T01:00:00Z' }), /is not a valid date and time/);
        await assert.rejects(restore(member, { 'to-time': deleteTime.toISOString(), 'to-revision': '5' }), /give to-time or to-revision, not both/);
        // A gap: the segments holding the revisions around the middle target are gone from both sites.
        const index = await readJournalIndex(stores, 'prod');
        const holding = index.segments.find((s) => s.manifest.firstRevision <= middle && middle <= s.manifest.lastRevision)!;
        const hidden = path.join(await tempDir('etcd-dr-pitr-hidden-'));
        const moved: Array<[string, string]> = [];
        for (const site of [dc1, dc2]) {
          const dir = path.join(site.root, journalFolder('prod'));
          await mkdir(path.join(hidden, site.name));
          for (const file of [holding.manifest.object.file, `${holding.manifest.name}.json`]) {
            moved.push([path.join(dir, file), path.join(hidden, site.name, file)]);
          }
        }
        for (const [from, to] of moved) await rename(from, to);
        try {
          const reachable =
            holding.manifest.firstRevision - 1 === first.revision
              ? `revision ${first.revision} only`
              : `revisions ${first.revision}\\.\\.${holding.manifest.firstRevision - 1}`;
          assert.match(await refusal(restore(member, { 'to-revision': String(middle) })), new RegExp(`cannot restore to revision ${middle}: it falls in a gap of the journal\\. recoverable: ${reachable}`));
        } finally {
          for (const [from, to] of moved) await rename(to, from);
        }
        assert.equal(await treeDigest(member.dataDir), digest, 'the data directory did not change');
        assert.deepEqual((await readdir(parent)).sort(), before, 'nothing was staged or moved aside');
      } finally {
        await member.start();
        await cluster.waitHealthy();
      }
    });

    it('accidental deletion: every member restored to one second before the delete has the deleted keys back with their original values and revisions, no later write, and one leader', async () => {
      const target = new Date(deleteTime.getTime() - 1000);
      const summaries = await restoreCluster({ 'to-time': target.toISOString() });
      for (const summary of summaries) {
        assert.match(summary, new RegExp(`reached revision \\| ${beforeDelete} `));
        assert.match(summary, /s before the requested time \(the last revision received at or before it\)/);
        assert.match(summary, new RegExp(`base full backup \\| ${second.name}`));
      }
      const client = await connect(accessFor(cluster));
      try {
        const now = await keyspace(client);
        assert.deepEqual(
          [...now.entries()].filter(([k]) => !k.startsWith('/registry/leases/')),
          [...atBeforeDelete.entries()].filter(([k]) => !k.startsWith('/registry/leases/')),
          'every key, value, create/mod revision and version as at the target',
        );
        assert.equal([...now.keys()].filter((k) => k.startsWith('/registry/pods/team-a/')).length, 300, 'the deleted keys are back');
        assert.ok(![...now.keys()].some((k) => k.startsWith('/registry/configmaps/after/')), 'no write after the target');
        // Leases: the long one lives with at most the TTL it had left at the target; the short one left no key.
        assert.deepEqual(now.get('/registry/leases/long-0'), atBeforeDelete.get('/registry/leases/long-0'));
        const live = await client.leaseClient.leaseTimeToLive({ ID: longLease, keys: true });
        const leftAtTarget = 600 - (target.getTime() - longLeaseGrantedBy) / 1000;
        assert.ok(Number(live.TTL) > 0, 'the lease is alive');
        assert.ok(Number(live.grantedTTL) <= leftAtTarget, `granted ${live.grantedTTL} s, at most the ${leftAtTarget.toFixed(1)} s it had left at the target`);
        assert.equal(live.keys.length, 3);
        assert.ok(!now.has('/registry/leases/short-0'));
        const revision = Number((await client.maintenance.status()).header.revision);
        if (version === '3.5') assert.ok(revision >= beforeDelete + 1_000_000_000, `bumped revision ${revision}`);
      } finally {
        client.close();
      }
    });

    it('to-revision lands on exactly that revision\'s content', async () => {
      await restoreCluster({ 'to-revision': String(middle) });
      const client = await connect(accessFor(cluster));
      try {
        const now = await keyspace(client);
        assert.deepEqual(
          [...now.entries()].filter(([k]) => !k.startsWith('/registry/leases/')),
          [...atMiddle.entries()].filter(([k]) => !k.startsWith('/registry/leases/')),
        );
        assert.ok(!now.has('/registry/configmaps/app/txn-a'), 'the transaction after it is not there');
      } finally {
        client.close();
      }
    });
  });
}
