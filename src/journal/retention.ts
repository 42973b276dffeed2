/**
 * Retention of the journal (issue 12): a segment is worth keeping while some kept full backup can be
 * replayed forward through it. A chain based on backup A also carries the revisions after a newer backup B,
 * so a segment is judged by its revisions, not by its baseBackup: every segment holding a revision after the
 * OLDEST KEPT backup's revision is kept (whatever backup its chain started from), and only segments lying
 * entirely at or before that revision go -- no kept backup can ever need them (a replay starts at a backup's
 * revision + 1). Chains start at base.revision + 1, so such a segment's own base is never a kept backup.
 *
 * Planned per store from that store's own listing and kept backups (like planPrune), pure: no clock, no I/O.
 * Deleted in order: oldest segment first, each manifest before its object (repository deletionOrder), so an
 * interrupted prune leaves a shorter journal whose remaining head is still readable, never a listed segment
 * without its object. Gap records wholly at or before the oldest kept backup go too. The progress mark is one
 * file replaced in place and is what the watchdog's journal-max-age reads: never deleted here.
 */
import type { Store, StoredFile } from '../stores/store.ts';
import { carryOutDeletions, deletionOrder } from '../repository/publish.ts';
import { messageOf } from '../errors.ts';
import { classifyJournalFile, journalFolder, parseGapRecord, type GapRecord } from './segment.ts';

export interface JournalRetentionInput {
  readonly cluster: string;
  /** The files of `<cluster>/journal/` on this store. */
  readonly files: readonly StoredFile[];
  /** The revisions of the backups retention keeps on this store (any state: a kept backup is kept). */
  readonly keptBackupRevisions: readonly number[];
  /** The gap records of this store that could be read, by file name. */
  readonly gaps: ReadonlyMap<string, GapRecord>;
}

export interface JournalRetentionAction {
  /** Removed in this order from the journal folder; when one fails, the rest of the action is not attempted. */
  readonly files: readonly string[];
  readonly reason: string;
}

export interface JournalRetentionPlan {
  /** The oldest kept backup's revision; undefined when no backup is kept (then nothing is deleted). */
  readonly oldestKeptRevision?: number;
  readonly actions: readonly JournalRetentionAction[];
}

/** Plans the journal deletions on one store. Pure. */
export function planJournalRetention(input: JournalRetentionInput): JournalRetentionPlan {
  // No kept backup (should not happen: retention keeps the newest good one): then nothing is known to be unneeded.
  if (input.keptBackupRevisions.length === 0) return { actions: [] };
  const oldestKept = Math.min(...input.keptBackupRevisions);
  const manifests = new Map<string, { first: number; last: number }>();
  const objects = new Map<string, string[]>();
  const gapFiles: string[] = [];
  for (const file of input.files) {
    const kind = classifyJournalFile(file.name);
    if (kind.kind === 'segment-manifest' && kind.segment.cluster === input.cluster) {
      manifests.set(kind.segment.name, { first: kind.segment.firstRevision, last: kind.segment.lastRevision });
    } else if (kind.kind === 'segment-object' && kind.segment.cluster === input.cluster) {
      objects.set(kind.segment.name, [...(objects.get(kind.segment.name) ?? []), file.name]);
      if (!manifests.has(kind.segment.name)) manifests.set(kind.segment.name, { first: kind.segment.firstRevision, last: kind.segment.lastRevision });
    } else if (kind.kind === 'gap' && kind.cluster === input.cluster) {
      gapFiles.push(file.name);
    }
  }
  const manifestNames = new Set(input.files.map((f) => f.name));
  const actions: JournalRetentionAction[] = [];
  const old = [...manifests].filter(([, r]) => r.last <= oldestKept).sort((a, b) => a[1].first - b[1].first);
  for (const [name, range] of old) {
    const manifest = manifestNames.has(`${name}.json`) ? `${name}.json` : undefined;
    const objectFiles = objects.get(name) ?? [];
    // The segment's revisions come from its name, which its manifest's parser checks against the content.
    const files = manifest !== undefined && objectFiles.length === 1 ? deletionOrder(manifest, objectFiles[0]!) : [...(manifest ? [manifest] : []), ...objectFiles];
    actions.push({
      files,
      reason: `journal segment of revisions ${range.first}..${range.last}, at or before the oldest kept backup's revision ${oldestKept}`,
    });
  }
  for (const file of gapFiles.sort()) {
    const gap = input.gaps.get(file);
    // A gap of unknown end (or an unreadable record) may reach past the oldest kept backup: kept.
    if (gap === undefined || gap.toRevision === null || gap.toRevision > oldestKept) continue;
    actions.push({ files: [file], reason: `gap record of revisions ${gap.fromRevision}..${gap.toRevision}, at or before the oldest kept backup's revision ${oldestKept}` });
  }
  return { oldestKeptRevision: oldestKept, actions };
}

export interface JournalRetentionResult {
  /** Files deleted from the journal folder (or, in a dry run, that would be), in order. */
  readonly deleted: readonly string[];
  /** Deletions (or the listing) that failed, with context. */
  readonly errors: readonly string[];
}

/**
 * Lists the journal folder of one store, plans (planJournalRetention) and deletes. A store whose account
 * may not delete fails at its first removal and the rest of that action is not attempted (removeInOrder);
 * the caller's permission handling reports the site as skipped.
 */
export async function applyJournalRetention(
  store: Store,
  cluster: string,
  keptBackupRevisions: readonly number[],
  options: { readonly dryRun: boolean },
): Promise<JournalRetentionResult> {
  const folder = journalFolder(cluster);
  let files: StoredFile[];
  try {
    files = await store.list(folder);
  } catch (error) {
    return { deleted: [], errors: [`listing ${folder} on ${store.id} for journal retention: ${messageOf(error)}`] };
  }
  if (files.length === 0) return { deleted: [], errors: [] };
  const gaps = new Map<string, GapRecord>();
  for (const file of files) {
    const kind = classifyJournalFile(file.name);
    if (kind.kind !== 'gap' || kind.cluster !== cluster) continue;
    try {
      gaps.set(file.name, parseGapRecord((await store.readFile(folder, file.name)).toString('utf8'), file.name));
    } catch {
      // Unreadable: planJournalRetention keeps a gap record it has no content for.
    }
  }
  const plan = planJournalRetention({ cluster, files, keptBackupRevisions, gaps });
  // The oldest segments go first: once one stays, deleting newer ones would leave a hole in the journal.
  return carryOutDeletions(store, folder, plan.actions, { dryRun: options.dryRun, stopAtFirstFailure: true });
}
