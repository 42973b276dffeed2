/**
 * A restore drill: proves a backup restorable without touching the live cluster. Download, verify,
 * restore into a scratch directory, start a throwaway etcd on loopback, compare with the manifest, clean up.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { checkRestored, waitServing } from './check.ts';
import { fetchSnapshot, type RestoreSource } from './fetch.ts';
import { runSnapshotRestore } from './snapshotRestore.ts';
import { DRILL_MEMBER, drillPeerUrl, startThrowawayEtcd } from './throwawayEtcd.ts';

export interface DrillInput extends RestoreSource {
  readonly tempDir: string;
}

export interface DrillResult {
  readonly name: string;
  readonly revision: number;
  readonly keys: number;
  /** From the start of the download to a throwaway etcd serving the restored data. */
  readonly restoreSeconds: number;
  readonly from: string;
  readonly warnings: readonly string[];
}

export async function runDrill(input: DrillInput): Promise<DrillResult> {
  const started = input.now().getTime();
  const scratch = await mkdtemp(join(input.tempDir, 'etcd-dr-drill-'));
  try {
    const dataDir = join(scratch, 'data');
    // The peer port is picked just before etcd's restore, which records it: the shorter the wait until the
    // throwaway etcd binds it, the smaller the chance something else takes it meanwhile.
    let peerUrl = '';
    const snapshot = await fetchSnapshot(input.entry, input.stores, input.identities, join(scratch, 'snapshot.db'), input.log, async (file) => {
      peerUrl = await drillPeerUrl();
      const member = { name: DRILL_MEMBER, initialCluster: `${DRILL_MEMBER}=${peerUrl}`, initialAdvertisePeerUrls: peerUrl, initialClusterToken: 'etcd-dr-drill' };
      await runSnapshotRestore(input.run, input.tools, file, dataDir, member, undefined);
    });
    await rm(snapshot.file, { force: true });
    const etcd = await startThrowawayEtcd(input.tools, dataDir, peerUrl);
    try {
      const access = { endpoints: [etcd.clientUrl], callTimeoutMs: 10_000 };
      await waitServing(access, etcd.clientUrl, { timeoutMs: 60_000, sleep: input.sleep, dead: () => etcd.exitedWith() });
      const restoreSeconds = (input.now().getTime() - started) / 1000;
      const state = await checkRestored(access, etcd.clientUrl, snapshot.manifest, { bumpRevision: 0, historyKept: true });
      return {
        name: snapshot.manifest.name,
        revision: state.revision,
        keys: state.keys,
        restoreSeconds,
        from: snapshot.from,
        warnings: [...snapshot.skipped.map((s) => `skipped ${s}`), ...state.warnings],
      };
    } finally {
      await etcd.stop();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
