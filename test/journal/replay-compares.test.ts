/**
 * etcd counts a transaction's compares against --max-txn-ops as well as its operations, and the replay
 * compares an updated key twice (its version and its create revision). A revision updating more keys than
 * half the limit must still replay as one revision: the throwaway etcd is restarted with a limit that
 * fits the compares, not just the operations. Real etcd 3.4 and 3.5.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { silentLog } from '../../src/base/log.ts';
import { connect } from '../../src/etcd/connection.ts';
import type { EtcdTools } from '../../src/restore/etcdTools.ts';
import { withReplayedEtcd } from '../../src/restore/replay.ts';
import { compareKeyspaces } from '../../src/restore/replayCompare.ts';
import { execRunner } from '../../src/restore/service.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { tempDir } from '../harness/tmp.ts';
import { startRecorder, type TestRecorder } from './replay-recorder.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const KEYS = 100;

for (const version of ETCD_VERSIONS) {
  describe(`journal replay of a revision with more compares than operations, etcd ${version}`, () => {
    let cluster: EtcdCluster;
    let source: Etcd3;
    let recorder: TestRecorder;
    let work: string;
    let tools: EtcdTools;
    let snapshotFile: string;
    let updateAll: number;

    before(async () => {
      cluster = await startCluster({ version, members: 1, name: `compares-${version.replace('.', '')}` });
      const b = cluster.binaries;
      tools = { version: b.version, etcd: b.etcd, etcdctl: b.etcdctl, ...(b.etcdutl ? { etcdutl: b.etcdutl } : {}), binDir: b.binDir, source: 'bin-dir' };
      work = await tempDir('etcd-dr-replay-compares-');
      source = await connect({ endpoints: cluster.endpoints, callTimeoutMs: 15_000 });
      const all = (value: string) => ({
        success: Array.from({ length: KEYS }, (_, i) => ({ request_put: { key: Buffer.from(`/registry/configmaps/bulk/cm-${String(i).padStart(3, '0')}`), value: Buffer.from(value) } })),
      });
      await source.kv.txn(all('created'));
      recorder = await startRecorder(cluster.endpoints[0]!, 1);
      snapshotFile = path.join(work, 'base.db');
      await cluster.etcdctl(['snapshot', 'save', snapshotFile]);
      // One revision updating every key: 100 operations, 200 compares in its replay.
      updateAll = Number((await source.kv.txn(all('updated'))).header.revision);
      await recorder.waitFor(updateAll);
    });
    after(async () => {
      await recorder?.stop();
      source?.close();
      await cluster?.stop();
    });

    it('a revision of 100 updates replays as one revision under --max-txn-ops=128: the limit is raised to fit its 200 compares', async () => {
      assert.equal(recorder.at(updateAll).events.length, KEYS);
      const scratch = path.join(work, 'scratch');
      await mkdir(scratch);
      const input = {
        snapshotFile,
        records: recorder.iterate(),
        leases: recorder.leases,
        target: { revision: updateAll, time: new Date(recorder.at(updateAll).at) },
        expireLeases: false,
        tools,
        run: execRunner(),
        scratchDir: scratch,
        log: silentLog,
        sleep,
        limits: { maxTxnOps: 128, maxRequestBytes: 1_572_864 },
      };
      await withReplayedEtcd(input, async (etcd, report) => {
        assert.equal(report.revision, updateAll);
        assert.equal(report.limitRaises, 1);
        assert.ok(report.limits.maxTxnOps >= 2 * KEYS, `--max-txn-ops=${report.limits.maxTxnOps}`);
        const diff = await compareKeyspaces({ client: etcd.client, name: 'the replay' }, { client: source, revision: updateAll, name: 'the source' });
        assert.deepEqual(diff.examples, []);
        assert.equal(diff.keys, KEYS);
        const { kvs } = await etcd.client.kv.range({ key: Buffer.from('/registry/configmaps/bulk/cm-000') });
        assert.equal(kvs[0]?.value.toString(), 'updated');
        assert.equal(Number(kvs[0]?.mod_revision), updateAll);
        assert.equal(kvs[0]?.version, '2');
      });
    });
  });
}
