/**
 * Point-in-time restore, around the ordinary member restore. Two phases, both before anything on the node
 * is stopped or moved:
 *
 *   plan     read the journal's index, refuse a target outside the recoverable windows (listing them),
 *            resolve a time to the last revision received at or before it, pick the newest full backup at
 *            or before that revision;
 *   prepare  download that backup (first site with a good copy), replay the journal onto it up to the
 *            revision (replay.ts) and take the result as a snapshot.
 *
 * The prepared snapshot is then offered to the unchanged member restore (and drill) as a backup of its
 * own: a catalog entry whose only copy is on a local store in scratch space, with a manifest describing
 * the replayed snapshot (its revision, trailer sha256, size, key count). The member restore downloads it,
 * checks the trailer against that manifest, restores it with the revision bump, and goes on as for any
 * backup (staging, stop, move aside, start, check).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log } from '../base/log.ts';
import { InputError, IntegrityError, messageOf } from '../errors.ts';
import type { RevisionRecord } from '../journal/records.ts';
import { readJournalIndex, readRevisions, receivedAt, revisionAtTime, type JournalIndex } from '../journal/reader.ts';
import { backupFor, journalEnd, leaseGrants, TargetRefused, windowFor, type BackupPoint, type RecoverableWindow, type TargetRequest } from '../journal/readerChain.ts';
import { findBackup, type BackupChoice, type CatalogEntry } from '../repository/listing.ts';
import { objectFileName } from '../repository/layout.ts';
import type { Manifest } from '../repository/manifest.ts';
import { LocalStore } from '../stores/local.ts';
import type { Store } from '../stores/store.ts';
import { fetchSnapshot, type RestoreToolkit } from './fetch.ts';
import { replayToSnapshot, type ReplayReport } from './replay.ts';

export interface PointInTimePlan {
  readonly cluster: string;
  readonly requested: TargetRequest;
  /** The revision the restore lands on. */
  readonly revision: number;
  /** When that revision was received (follower's clock; a full backup's time when it is one). */
  readonly reachedAt: string;
  /** The moment the restored state stands for: the requested time, or the revision's receive time. */
  readonly targetTime: Date;
  readonly window: RecoverableWindow;
  readonly base: BackupPoint;
  readonly entry: CatalogEntry;
  readonly index: JournalIndex;
}

export interface PlanOptions {
  readonly identities: readonly string[];
  readonly scratchDir: string;
  readonly log: Log;
  /** Full backups not to use as the base (their snapshot turned out to hold revisions past the target). */
  readonly exclude?: readonly string[];
}

function refused(error: unknown): never {
  if (error instanceof TargetRefused) throw new InputError(`${error.message}; nothing was changed`, { cause: error });
  throw error;
}

/** Decides what a point-in-time restore will do, reading only manifests and at most one segment. */
export async function planPointInTime(
  stores: readonly Store[],
  cluster: string,
  requested: TargetRequest,
  choice: BackupChoice,
  options: PlanOptions,
): Promise<PointInTimePlan> {
  const index = await readJournalIndex(stores, cluster);
  for (const problem of index.problems) options.log.warning(`journal of ${cluster}: ${problem}`);
  let window: RecoverableWindow;
  try {
    window = windowFor(index.windows, requested, journalEnd(index.runs));
  } catch (error) {
    refused(error);
  }
  let revision: number;
  let reachedAt: string;
  if (requested.kind === 'time') {
    const found = await revisionAtTime(index, window, requested.time, options);
    revision = found.revision;
    reachedAt = found.at;
  } else {
    revision = requested.revision;
    reachedAt = (await receivedAt(index, revision, options)) ?? window.fromTime;
  }
  let base: BackupPoint;
  try {
    const usable = { ...window, backups: window.backups.filter((b) => !options.exclude?.includes(b.name)) };
    base = backupFor(usable, revision);
  } catch (error) {
    refused(error);
  }
  if (choice.kind === 'named') {
    const named = window.backups.find((b) => b.name === choice.name);
    if (!named || named.revision > revision) {
      throw new InputError(
        `backup ${choice.name} cannot be the base of a restore to revision ${revision}: ` +
          `the full backups at or before it in its window are ${window.backups.filter((b) => b.revision <= revision).map((b) => b.name).join(', ')}`,
      );
    }
    base = named;
  }
  const { entry } = await findBackup(stores, cluster, { kind: 'named', name: base.name });
  if (!entry?.manifest || entry.copies.length === 0) throw new Error(`full backup ${base.name} has no usable copy any more`);
  const targetTime = requested.kind === 'time' ? requested.time : new Date(reachedAt);
  return { cluster, requested, revision, reachedAt, targetTime, window, base, entry, index };
}

export interface PrepareOptions extends RestoreToolkit {
  readonly tempDir: string;
}

export interface PreparedPointInTime {
  /** A catalog entry for the replayed snapshot, whose only copy is on `store`. */
  readonly entry: CatalogEntry;
  readonly store: Store;
  readonly replay: ReplayReport;
  /** The site the base backup came from. */
  readonly baseFrom: string;
  readonly warnings: readonly string[];
  /** Removes the scratch space (the replayed snapshot). */
  cleanup(): Promise<void>;
}

/**
 * Notes when the replay first asks for a record (after the base snapshot was restored and its throwaway etcd
 * started), so a failure can tell the base snapshot's fault from the journal's.
 */
async function* noting(records: AsyncIterable<RevisionRecord>, seen: { asked: boolean }): AsyncGenerator<RevisionRecord> {
  seen.asked = true;
  yield* records;
}

/** Downloads the base backup, replays the journal onto it up to the plan's revision, and offers the result as a backup. */
export async function preparePointInTime(plan: PointInTimePlan, options: PrepareOptions): Promise<PreparedPointInTime> {
  const scratch = await mkdtemp(join(options.tempDir, 'etcd-dr-pitr-'));
  const cleanup = (): Promise<void> => rm(scratch, { recursive: true, force: true });
  try {
    const storeRoot = join(scratch, 'store');
    const baseManifest = plan.entry.manifest!;
    const objectFile = objectFileName(baseManifest.name, 'none', false);
    await mkdir(join(storeRoot, plan.cluster), { recursive: true, mode: 0o700 });
    const outFile = join(storeRoot, plan.cluster, objectFile);
    let replay: (ReplayReport & { snapshot: { size: number; sha256: string }; keyCount: number }) | undefined;
    let attempt = 0;
    const fetched = await fetchSnapshot(plan.entry, options.stores, options.identities, join(scratch, 'base.db'), options.log, async (file) => {
      const work = join(scratch, `replay-${attempt++}`);
      await mkdir(work);
      const seen = { asked: false };
      try {
        replay = await replayToSnapshot(
          {
            snapshotFile: file,
            records: noting(readRevisions(plan.index, plan.base.revision + 1, plan.revision, { identities: options.identities, scratchDir: work, log: options.log }), seen),
            leases: leaseGrants(
              plan.index.segments.map((s) => s.manifest),
              plan.revision,
            ),
            target: { revision: plan.revision, time: plan.targetTime },
            expireLeases: true,
            tools: options.tools,
            run: options.run,
            scratchDir: work,
            log: options.log,
            sleep: options.sleep,
          },
          outFile,
        );
      } catch (error) {
        await rm(work, { recursive: true, force: true });
        // Before the replay asks for a record, an IntegrityError is etcd's restore refusing this copy of the
        // base backup: the next site's copy is worth a try. After, the journal is at fault: no copy helps.
        if (error instanceof IntegrityError && !seen.asked) throw error;
        throw new Error(`replaying the journal from ${plan.base.name} to revision ${plan.revision}: ${messageOf(error)}`, { cause: error });
      }
      await rm(work, { recursive: true, force: true });
    });
    await rm(fetched.file, { force: true });
    const report = replay!;
    const manifest: Manifest = {
      ...baseManifest,
      revision: report.revision,
      dbSize: report.snapshot.size,
      keyCount: report.keyCount,
      // Leases with little time left can expire between the restore and its check: a different count is a warning.
      keyCountExact: false,
      snapshotSha256: report.snapshot.sha256,
      object: { file: objectFile, size: report.snapshot.size, sha256: report.snapshot.sha256 },
      compression: 'none',
      encryptedTo: [],
    };
    const store = new LocalStore(storeRoot, `point-in-time replay of ${plan.base.name} to revision ${plan.revision}`);
    const entry: CatalogEntry = {
      ...plan.entry,
      revision: report.revision,
      size: report.snapshot.size,
      manifest,
      copies: [{ storeId: store.id, objectFile, objectSize: report.snapshot.size, manifestSha256: report.snapshot.sha256 }],
      consistent: true,
      damaged: [],
    };
    return {
      entry,
      store,
      replay: report,
      baseFrom: fetched.from,
      warnings: [...fetched.skipped.map((s) => `base backup: skipped ${s}`), ...report.warnings],
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** How far the reached revision's receive time is from the requested time, in words. */
export function distanceFromRequest(plan: PointInTimePlan): string {
  if (plan.requested.kind === 'revision') return 'exactly the requested revision';
  const seconds = (plan.requested.time.getTime() - Date.parse(plan.reachedAt)) / 1000;
  return `${seconds.toFixed(3)} s before the requested time (the last revision received at or before it)`;
}

/** Summary rows shared by the restore and the drill. */
export function pointInTimeRows(plan: PointInTimePlan, prepared: PreparedPointInTime): string[][] {
  const r = prepared.replay;
  return [
    ['requested', plan.requested.kind === 'time' ? `time ${plan.requested.time.toISOString()}` : `revision ${plan.requested.revision}`],
    ['reached revision', String(plan.revision)],
    ['received at (journal clock)', `${plan.reachedAt} (${distanceFromRequest(plan)})`],
    ['base full backup', `${plan.base.name} (revision ${plan.base.revision}, from ${prepared.baseFrom})`],
    ['journal replayed', `${r.revisionsApplied} revisions, ${r.eventsApplied} events, onto snapshot revision ${r.baseRevision}`],
    ['leases re-created', `${r.leasesGranted}${r.leasesRevoked.length > 0 ? ` (${r.leasesRevoked.length} revoked as expired by the target)` : ''}`],
  ];
}
