/**
 * The daily drill's proof of the journal: replay from one full backup up to the revision of the next full
 * backup, and compare the result with that next backup restored on its own, key by key (value, create and
 * mod revision, version, lease). Two independent routes to the same revision must give the same keyspace;
 * any difference means the journal cannot be trusted for a point-in-time restore, and fails the drill (which
 * raises the alarm). A journal with problems (a hole, a broken hash chain) fails it too.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Etcd3 } from 'etcd3';
import { join } from 'node:path';
import { connect } from '../etcd/connection.ts';
import { messageOf } from '../errors.ts';
import { hasJournal, readJournalIndex, readRevisions, type JournalIndex } from '../journal/reader.ts';
import { leaseGrants, type BackupPoint } from '../journal/readerChain.ts';
import { findBackup, type CatalogEntry } from '../repository/listing.ts';
import { waitServing } from './check.ts';
import { fetchSnapshot, type RestoreToolkit } from './fetch.ts';
import { withReplayedEtcd } from './replay.ts';
import { compareKeyspaces, type KeyspaceComparison } from './replayCompare.ts';
import { runSnapshotRestore } from './snapshotRestore.ts';
import { DRILL_MEMBER, drillPeerUrl, startThrowawayEtcd } from './throwawayEtcd.ts';

export interface JournalDrillInput extends RestoreToolkit {
  readonly cluster: string;
  readonly tempDir: string;
  /** Already read (e.g. by the caller for other reasons); read here when absent. */
  readonly index?: JournalIndex;
}

export type JournalDrillResult =
  | { readonly checked: false; readonly reason: string }
  | {
      readonly checked: true;
      readonly passed: boolean;
      readonly from: BackupPoint;
      readonly to: BackupPoint;
      /** The revision both routes reached. */
      readonly revision: number;
      readonly revisionsReplayed: number;
      readonly comparison: KeyspaceComparison;
      /** Set when the check could not be made to the end (a bad segment, a replay refused): a failure. */
      readonly error?: string;
    };

/** Pairs (older, newer) of full backups the journal joins, newest first. */
function pairs(index: JournalIndex): Array<{ from: BackupPoint; to: BackupPoint }> {
  const found: Array<{ from: BackupPoint; to: BackupPoint }> = [];
  for (const window of index.windows) {
    if (!window.journal) continue;
    const sorted = [...window.backups].sort((a, b) => a.revision - b.revision);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.revision > sorted[i - 1]!.revision) found.push({ from: sorted[i - 1]!, to: sorted[i]! });
    }
  }
  return found.sort((a, b) => b.to.revision - a.to.revision);
}

/** Restores a backup into a throwaway etcd (no bump: its history stays readable) and runs `use` on it. */
async function withRestoredBackup<T>(
  entry: CatalogEntry,
  input: JournalDrillInput,
  scratch: string,
  use: (clientUrl: string) => Promise<T>,
): Promise<T> {
  const dataDir = join(scratch, 'data');
  let peerUrl = '';
  const fetched = await fetchSnapshot(entry, input.stores, input.identities, join(scratch, 'snapshot.db'), input.log, async (file) => {
    peerUrl = await drillPeerUrl();
    const member = { name: DRILL_MEMBER, initialCluster: `${DRILL_MEMBER}=${peerUrl}`, initialAdvertisePeerUrls: peerUrl, initialClusterToken: 'etcd-dr-journal-drill' };
    await runSnapshotRestore(input.run, input.tools, file, dataDir, member, undefined);
  });
  await rm(fetched.file, { force: true });
  const etcd = await startThrowawayEtcd(input.tools, dataDir, peerUrl);
  try {
    await waitServing({ endpoints: [etcd.clientUrl], callTimeoutMs: 10_000 }, etcd.clientUrl, { timeoutMs: 60_000, sleep: input.sleep, dead: () => etcd.exitedWith() });
    return await use(etcd.clientUrl);
  } finally {
    await etcd.stop();
  }
}

async function entryOf(input: JournalDrillInput, backup: BackupPoint): Promise<CatalogEntry> {
  const { entry } = await findBackup(input.stores, input.cluster, { kind: 'named', name: backup.name });
  if (!entry?.manifest || entry.copies.length === 0) throw new Error(`full backup ${backup.name} has no usable copy`);
  return entry;
}

/** Checks the newest stretch of journal between two full backups. */
export async function runJournalDrill(input: JournalDrillInput): Promise<JournalDrillResult> {
  // One listing per site first: a cluster without a journal must not pay for reading every backup manifest.
  if (!input.index && !(await hasJournal(input.stores, input.cluster))) return { checked: false, reason: `cluster ${input.cluster} has no journal` };
  const index = input.index ?? (await readJournalIndex(input.stores, input.cluster));
  if (index.segments.length === 0 && index.problems.length === 0) return { checked: false, reason: `cluster ${input.cluster} has no journal` };
  const candidates = pairs(index);
  if (index.problems.length > 0 && candidates.length === 0) {
    return { checked: false, reason: `the journal has problems: ${index.problems.join('; ')}` };
  }
  if (candidates.length === 0) return { checked: false, reason: 'no two full backups are joined by the journal yet' };
  const scratch = await mkdtemp(join(input.tempDir, 'etcd-dr-journal-drill-'));
  try {
    // The newest pair the journal reaches past: the newest backup may be newer than the journal's end.
    for (const { from, to } of candidates.slice(0, 3)) {
      const [fromEntry, toEntry] = await Promise.all([entryOf(input, from), entryOf(input, to)]);
      const attempt = join(scratch, `${from.revision}-${to.revision}`);
      await mkdir(join(attempt, 'to'), { recursive: true });
      await mkdir(join(attempt, 'replay'), { recursive: true });
      const outcome = await withRestoredBackup(toEntry, input, join(attempt, 'to'), async (toUrl) => {
        const toClient = await connect({ endpoints: [toUrl], callTimeoutMs: 30_000 });
        try {
          const revision = Number((await toClient.maintenance.status()).header.revision);
          const reach = index.windows.find((w) => w.backups.some((b) => b.name === from.name))?.toRevision ?? 0;
          if (revision > reach) return undefined;
          const work = join(attempt, 'replay');
          try {
            return await fetchAndReplay(fromEntry, input, index, from, revision, work, new Date(to.time), async (replayed, revisionsReplayed) => {
              const comparison = await compareKeyspaces(
                { client: replayed, name: `the journal replayed from ${from.name}`, revision },
                { client: toClient, name: `full backup ${to.name}`, revision },
              );
              return { checked: true as const, passed: comparison.differences === 0 && index.problems.length === 0, from, to, revision, revisionsReplayed, comparison };
            });
          } catch (error) {
            const empty: KeyspaceComparison = { keys: 0, differences: 0, examples: [] };
            return { checked: true as const, passed: false, from, to, revision, revisionsReplayed: 0, comparison: empty, error: messageOf(error) };
          }
        } finally {
          toClient.close();
        }
      });
      await rm(attempt, { recursive: true, force: true });
      if (outcome) return outcome;
      input.log.info(`full backup ${to.name} is past the journal's end; checking the pair before it`);
    }
    return { checked: false, reason: 'the newest full backups are past the end of the journal' };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function fetchAndReplay<T>(
  entry: CatalogEntry,
  input: JournalDrillInput,
  index: JournalIndex,
  from: BackupPoint,
  revision: number,
  work: string,
  time: Date,
  use: (client: Etcd3, revisionsReplayed: number) => Promise<T>,
): Promise<T> {
  let result: T | undefined;
  const fetched = await fetchSnapshot(entry, input.stores, input.identities, join(work, 'base.db'), input.log, async (file) => {
    const replayDir = join(work, 'replayed');
    await mkdir(replayDir);
    try {
      result = await withReplayedEtcd(
        {
          snapshotFile: file,
          records: readRevisions(index, from.revision + 1, revision, { identities: input.identities, scratchDir: replayDir, log: input.log }),
          leases: leaseGrants(
            index.segments.map((s) => s.manifest),
            revision,
          ),
          // Lease TTLs do not enter the comparison; the newer backup's time is the natural target.
          target: { revision, time },
          // Both routes must land on exactly `revision`: no lease is revoked at the end.
          expireLeases: false,
          tools: input.tools,
          run: input.run,
          scratchDir: replayDir,
          log: input.log,
          sleep: input.sleep,
        },
        (etcd, report) => use(etcd.client, report.revisionsApplied),
      );
    } finally {
      await rm(replayDir, { recursive: true, force: true });
    }
  });
  await rm(fetched.file, { force: true });
  return result!;
}
