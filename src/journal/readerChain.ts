/**
 * What the journal's manifests say can be recovered: pure logic over what the reader listed (no I/O, no
 * clock), so every rule is stated once and tested without a site.
 *
 * Segments are put in revision order and linked into RUNS: a run is a sequence of segments where each
 * starts at the revision after the previous one's last and names its sha256 (the hash chain). Where that
 * does not hold, the run ends and the break is a PROBLEM, unless it is a journal gap the writer recorded (a
 * gap record in the hole, with the next segment starting a new chain from a full backup). Nothing in a
 * run's revisions is ever skipped: a revision is either in a run or outside every window.
 *
 * A full backup at revision b can be brought forward through the run that holds revision b + 1 up to that
 * run's end (its last segment's completeThrough, or the progress mark when it continues the run). The
 * RECOVERABLE WINDOWS are the union of [b .. reach(b)] over every usable backup.
 */
import type { LeaseGrant } from './records.ts';
import type { GapRecord, SegmentManifest } from './segment.ts';

/** A full backup as the windows need it. */
export interface BackupPoint {
  readonly name: string;
  /** The manifest's revision: the snapshot holds at least this one. */
  readonly revision: number;
  /** When the snapshot was taken (its manifest's createdAt, ISO-8601 UTC). */
  readonly time: string;
  readonly snapshotSha256: string;
}

export interface JournalRun {
  readonly segments: readonly SegmentManifest[];
  readonly firstRevision: number;
  /** Last revision held in a segment. */
  readonly lastRevision: number;
  /** The journal is complete through this revision (>= lastRevision: progress notifications)... */
  readonly throughRevision: number;
  /** ...as of this time (follower's clock). */
  readonly throughAt: string;
}

export interface RecoverableWindow {
  readonly fromRevision: number;
  readonly fromTime: string;
  readonly toRevision: number;
  readonly toTime: string;
  /** Full backups inside the window, oldest first. */
  readonly backups: readonly BackupPoint[];
  /** Whether journal segments cover the window (false: a lone full backup). */
  readonly journal: boolean;
}

export interface ProgressPoint {
  readonly revision: number;
  readonly at: string;
}

export interface ChainReport {
  readonly runs: readonly JournalRun[];
  /** Breaks that cost coverage and that no gap record explains. */
  readonly problems: readonly string[];
}

function startsChain(segment: SegmentManifest, backups: ReadonlyMap<string, BackupPoint>): boolean {
  const base = backups.get(segment.baseBackup);
  return base !== undefined && segment.firstRevision === base.revision + 1 && segment.previousSha256 === base.snapshotSha256;
}

function gapIn(gaps: readonly GapRecord[], from: number, to: number): GapRecord | undefined {
  return gaps.find((g) => g.fromRevision >= from && g.fromRevision <= to);
}

/**
 * Links segments (already merged across sites: one manifest per name) into runs. `progress` extends the
 * newest run when it continues it.
 */
export function linkSegments(
  segments: readonly SegmentManifest[],
  gaps: readonly GapRecord[],
  backups: readonly BackupPoint[],
  progress: ProgressPoint | undefined,
): ChainReport {
  const byName = new Map(backups.map((b) => [b.name, b]));
  const sorted = [...segments].sort((a, b) => a.firstRevision - b.firstRevision || a.lastRevision - b.lastRevision);
  const problems: string[] = [];
  const runs: SegmentManifest[][] = [];
  let current: SegmentManifest[] = [];
  for (const segment of sorted) {
    const previous = current[current.length - 1];
    if (!previous) {
      // The first link of a chain is the full backup it starts from: a segment claiming to start there must name its sha256.
      const base = byName.get(segment.baseBackup);
      if (base && segment.firstRevision === base.revision + 1 && segment.previousSha256 !== base.snapshotSha256) {
        problems.push(`hash chain broken at its start: ${segment.name} does not name the sha256 of its full backup ${base.name}: left out`);
        continue;
      }
      current.push(segment);
      continue;
    }
    if (segment.firstRevision <= previous.lastRevision) {
      problems.push(
        `segment ${segment.name} overlaps ${previous.name} (revisions ${segment.firstRevision}..${Math.min(segment.lastRevision, previous.lastRevision)} held twice): left out`,
      );
      continue;
    }
    const contiguous = segment.firstRevision === previous.lastRevision + 1;
    if (contiguous && segment.previousSha256 === previous.object.sha256) {
      current.push(segment);
      continue;
    }
    // A break: the run ends here. Explained only by a recorded gap and a new chain from a full backup.
    const newChain = startsChain(segment, byName);
    const gap = gapIn(gaps, previous.lastRevision + 1, segment.firstRevision);
    if (contiguous && !newChain) {
      problems.push(`hash chain broken: ${segment.name} does not name the sha256 of ${previous.name} before it`);
    } else if (!contiguous && !gap) {
      problems.push(
        `revisions ${previous.lastRevision + 1}..${segment.firstRevision - 1} are missing between ${previous.name} and ${segment.name}, and no gap record covers them`,
      );
    } else if (!contiguous && !newChain) {
      problems.push(`${segment.name} follows a gap but does not start a chain from its full backup ${segment.baseBackup} (revision or sha256 differ, or the backup is gone)`);
    }
    runs.push(current);
    current = [segment];
  }
  if (current.length > 0) runs.push(current);
  const result = runs.map((run, index): JournalRun => {
    const last = run[run.length - 1]!;
    let through = last.completeThrough;
    // The progress mark speaks for the newest run only, and only if no gap was recorded after it.
    if (index === runs.length - 1 && progress && progress.revision > through.revision && !gaps.some((g) => g.fromRevision > last.lastRevision)) {
      through = progress;
    }
    return {
      segments: run,
      firstRevision: run[0]!.firstRevision,
      lastRevision: last.lastRevision,
      throughRevision: through.revision,
      throughAt: through.at,
    };
  });
  return { runs: result, problems };
}

/** The union of [backup .. reach of backup] over every backup, oldest first. */
export function recoverableWindows(runs: readonly JournalRun[], backups: readonly BackupPoint[]): RecoverableWindow[] {
  const spans = backups.map((backup): RecoverableWindow => {
    const run = runs.find((r) => r.firstRevision <= backup.revision + 1 && backup.revision + 1 <= r.throughRevision + 1);
    return run && run.throughRevision > backup.revision
      ? { fromRevision: backup.revision, fromTime: backup.time, toRevision: run.throughRevision, toTime: run.throughAt, backups: [backup], journal: true }
      : { fromRevision: backup.revision, fromTime: backup.time, toRevision: backup.revision, toTime: backup.time, backups: [backup], journal: false };
  });
  spans.sort((a, b) => a.fromRevision - b.fromRevision || b.toRevision - a.toRevision);
  const merged: RecoverableWindow[] = [];
  for (const span of spans) {
    const last = merged[merged.length - 1];
    if (last && span.fromRevision <= last.toRevision) {
      const later = span.toRevision > last.toRevision;
      merged[merged.length - 1] = {
        ...last,
        toRevision: later ? span.toRevision : last.toRevision,
        toTime: later ? span.toTime : last.toTime,
        backups: [...last.backups, ...span.backups],
        journal: last.journal || span.journal,
      };
    } else {
      merged.push(span);
    }
  }
  return merged;
}

/** One line per window, for refusals and summaries. */
export function describeWindows(windows: readonly RecoverableWindow[]): string {
  if (windows.length === 0) return 'no recoverable window (no usable full backup)';
  return windows
    .map((w) =>
      w.journal
        ? `revisions ${w.fromRevision}..${w.toRevision} (${w.fromTime} .. ${w.toTime}, from ${w.backups.length} full backup(s))`
        : `revision ${w.fromRevision} only (full backup ${w.backups[0]!.name} at ${w.fromTime}, no journal after it)`,
    )
    .join('; ');
}

export type TargetRequest = { readonly kind: 'revision'; readonly revision: number } | { readonly kind: 'time'; readonly time: Date };

export class TargetRefused extends Error {
  override readonly name = 'TargetRefused';
}

function requested(target: TargetRequest): string {
  return target.kind === 'revision' ? `revision ${target.revision}` : `time ${target.time.toISOString()}`;
}

/**
 * The window holding the target, or TargetRefused saying why not (before the oldest full backup, after the
 * end of the journal, inside a gap) and listing the windows. A time is checked against the windows' times;
 * the revision it resolves to is found later, from the segments' records.
 */
export function windowFor(windows: readonly RecoverableWindow[], target: TargetRequest, journalEnd?: ProgressPoint): RecoverableWindow {
  const inside = (w: RecoverableWindow): boolean =>
    target.kind === 'revision'
      ? w.fromRevision <= target.revision && target.revision <= w.toRevision
      : Date.parse(w.fromTime) <= target.time.getTime() && target.time.getTime() <= Date.parse(w.toTime);
  const found = windows.find(inside);
  if (found) return found;
  const list = `recoverable: ${describeWindows(windows)}`;
  const first = windows[0];
  const last = windows[windows.length - 1];
  const before = first && (target.kind === 'revision' ? target.revision < first.fromRevision : target.time.getTime() < Date.parse(first.fromTime));
  const pastWindows = last && (target.kind === 'revision' ? target.revision > last.toRevision : target.time.getTime() > Date.parse(last.toTime));
  // Segments past the last window that no full backup reaches (after a hole) are a gap, not the end.
  const beforeJournalEnd =
    journalEnd !== undefined && (target.kind === 'revision' ? target.revision <= journalEnd.revision : target.time.getTime() <= Date.parse(journalEnd.at));
  const after = pastWindows && !beforeJournalEnd;
  const why = !first
    ? 'there is nothing to restore from'
    : before
      ? 'it is before the oldest full backup'
      : after
        ? 'it is after the end of the journal'
        : 'it falls in a gap of the journal';
  throw new TargetRefused(`cannot restore to ${requested(target)}: ${why}. ${list}`);
}

/** Where the journal ends (the newest run's end), whatever a full backup can reach. */
export function journalEnd(runs: readonly JournalRun[]): ProgressPoint | undefined {
  const last = [...runs].sort((a, b) => b.throughRevision - a.throughRevision)[0];
  return last ? { revision: last.throughRevision, at: last.throughAt } : undefined;
}

/** The newest full backup of the window at or before `revision`. */
export function backupFor(window: RecoverableWindow, revision: number): BackupPoint {
  const candidates = window.backups.filter((b) => b.revision <= revision).sort((a, b) => b.revision - a.revision);
  const chosen = candidates[0];
  if (!chosen) throw new TargetRefused(`no full backup at or before revision ${revision} in the window from ${window.fromRevision}`);
  return chosen;
}

/**
 * Every lease grant the segments up to `revision` record. A lease can be recorded twice (a writer that took
 * over sees it for the first time too): the latest answer that found it alive is the best estimate.
 */
export function leaseGrants(segments: readonly SegmentManifest[], revision: number): Map<string, LeaseGrant> {
  const grants = new Map<string, LeaseGrant>();
  for (const segment of [...segments].sort((a, b) => a.firstRevision - b.firstRevision)) {
    if (segment.firstRevision > revision) break;
    for (const grant of segment.leases) {
      const known = grants.get(grant.id);
      if (!known || grant.remainingTtl >= 0 || known.remainingTtl < 0) grants.set(grant.id, grant);
    }
  }
  return grants;
}
