/**
 * The point-in-time part of `restore` and `verify` (to-time / to-revision): plan against the journal,
 * refuse a target outside the recoverable windows, replay, and hand the commands a backup-shaped source
 * for the unchanged member restore or drill. Without a target the commands do exactly what they did.
 */
import { Outputs } from '../config/names.ts';
import { messageOf } from '../errors.ts';
import type { TargetRequest } from '../journal/readerChain.ts';
import { hasJournal, readJournalIndex } from '../journal/reader.ts';
import type { BackupChoice, Catalog, CatalogEntry } from '../repository/listing.ts';
import type { EtcdTools } from '../restore/etcdTools.ts';
import type { SiteReader } from '../restore/fetch.ts';
import { planPointInTime, pointInTimeRows, preparePointInTime, type PointInTimePlan, type PreparedPointInTime } from '../restore/pointInTime.ts';
import { runJournalDrill, type JournalDrillInput, type JournalDrillResult } from '../restore/replayDrill.ts';
import { SnapshotPastTarget } from '../restore/replay.ts';
import { execRunner } from '../restore/service.ts';
import type { Store } from '../stores/store.ts';
import type { ToolSettings } from '../config/restore.ts';
import type { CommandDeps } from './context.ts';
import { table, type CommandReport } from './report.ts';
import { etcdToolsFor } from './tools.ts';

export interface PointInTimeSource extends SiteReader {
  /** The replayed snapshot, as a backup whose only copy is on `stores[0]` (unencrypted). */
  readonly entry: CatalogEntry;
  /**
   * What every member derives its default cluster token from: the base backup and the revision, so all
   * members restoring the same point agree without coordination.
   */
  readonly tokenSeed: string;
  readonly plan: PointInTimePlan;
  readonly prepared: PreparedPointInTime;
  cleanup(): Promise<void>;
}

export interface PointInTimeRequest {
  readonly cluster: string;
  readonly target?: TargetRequest;
  readonly backup: BackupChoice;
  readonly identities: readonly string[];
  readonly tools: ToolSettings;
  readonly tempDir: string;
}

/** Undefined without a target. Everything here happens before the node is touched. */
export async function pointInTimeSource(request: PointInTimeRequest, stores: readonly Store[], deps: CommandDeps): Promise<PointInTimeSource | undefined> {
  if (!request.target) return undefined;
  const exclude: string[] = [];
  for (;;) {
    const plan = await planPointInTime(stores, request.cluster, request.target, request.backup, {
      identities: request.identities,
      scratchDir: request.tempDir,
      log: deps.log,
      exclude,
    });
    deps.log.info(
      `point in time: revision ${plan.revision} (received ${plan.reachedAt}), from full backup ${plan.base.name} (revision ${plan.base.revision}) plus the journal`,
    );
    const tools = await etcdToolsFor(plan.entry.manifest!, request.tools, deps);
    let prepared: PreparedPointInTime;
    try {
      prepared = await preparePointInTime(plan, {
        stores,
        identities: request.identities,
        tools,
        run: execRunner(),
        tempDir: request.tempDir,
        log: deps.log,
        sleep: deps.sleep,
      });
    } catch (error) {
      // A snapshot taken while writes landed can hold a few revisions past its manifest's, and past the
      // target: the next older full backup of the window is the base then (unless one was named).
      if (request.backup.kind === 'latest' && pastTarget(error) && exclude.length < 3) {
        deps.log.warning(`${plan.base.name} holds revisions past ${plan.revision}: trying the full backup before it`);
        exclude.push(plan.base.name);
        continue;
      }
      throw error;
    }
    return sourceOf(plan, prepared, tools);
  }
}

function pastTarget(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) if (e instanceof SnapshotPastTarget) return true;
  return false;
}

function sourceOf(plan: PointInTimePlan, prepared: PreparedPointInTime, tools: EtcdTools): PointInTimeSource {
  return {
    entry: prepared.entry,
    stores: [prepared.store],
    identities: [],
    tools,
    tokenSeed: `${plan.base.name}@r${plan.revision}`,
    plan,
    prepared,
    cleanup: () => prepared.cleanup(),
  };
}

/** Adds what the point-in-time restore reached to a command's summary. */
export function withPointInTime(report: CommandReport, source: PointInTimeSource | undefined): CommandReport {
  if (!source) return report;
  const lines = [
    '',
    '### Point in time',
    '',
    table(['', ''], pointInTimeRows(source.plan, source.prepared)),
    '',
    ...source.prepared.warnings.map((w) => `> ⚠️ ${w}`),
  ];
  return { ...report, summary: `${report.summary}\n${lines.join('\n')}\n` };
}

export type JournalCheck = JournalDrillResult | { readonly checked: 'failed'; readonly error: string };

/** The drill's journal check; an error while checking is a failed check, not a lost drill result. */
export async function journalDrill(input: JournalDrillInput): Promise<JournalCheck> {
  try {
    return await runJournalDrill(input);
  } catch (error) {
    return { checked: 'failed', error: messageOf(error) };
  }
}

/** Adds the journal check to a drill's report; a failed check fails the drill (and so raises the alarm). */
export function withJournalCheck(report: CommandReport, journal: JournalCheck | undefined): CommandReport {
  if (!journal) return report;
  if (journal.checked === false) return { ...report, summary: `${report.summary}\nJournal: not checked (${journal.reason}).\n` };
  let failure: string | undefined;
  let line: string;
  if (journal.checked === 'failed') {
    failure = `journal check failed: ${journal.error}`;
    line = failure;
  } else {
    const route = `the journal replayed from ${journal.from.name} to revision ${journal.revision} (${journal.revisionsReplayed} revisions) against full backup ${journal.to.name}`;
    if (journal.passed) {
      line = `Journal check passed: ${route}: ${journal.comparison.keys} keys identical (value, create/mod revision, version, lease).`;
    } else {
      const why = journal.error ?? `${journal.comparison.differences} of ${journal.comparison.keys} keys differ: ${journal.comparison.examples.join('; ')}`;
      failure = `journal check failed: ${route}: ${why}`;
      line = failure;
    }
  }
  const summary = `${report.summary}\n${failure ? `**${line}**` : line}\n`;
  if (!failure) return { ...report, summary };
  return { ...report, outcome: 'failed', outputs: { ...report.outputs, [Outputs.Status]: 'failed' }, summary, failure: report.failure ?? failure };
}

function utc(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The list command's view of the journal: the recoverable windows (a point-in-time restore can reach any
 * revision and time inside one), gaps and problems. Empty when the cluster has no journal.
 */
export async function journalSection(stores: readonly Store[], cluster: string, catalog: Catalog): Promise<string> {
  if (!(await hasJournal(stores, cluster))) return '';
  const index = await readJournalIndex(stores, cluster, catalog);
  const rows = index.windows.map((w) => [
    String(w.fromRevision),
    utc(w.fromTime),
    String(w.toRevision),
    utc(w.toTime),
    w.journal ? `${w.backups.length} (oldest ${w.backups[0]!.name})` : `${w.backups[0]!.name} alone (no journal after it)`,
  ]);
  const segments = index.segments.length;
  const lines = [
    '### Point-in-time recovery windows',
    '',
    'restore or verify with to-time (UTC) or to-revision anywhere inside a window; times are the journal follower\'s clock.',
    '',
    table(['from revision', 'from (UTC)', 'to revision', 'to (UTC)', 'full backups'], rows.length > 0 ? rows : [['none', '', '', '', 'no usable full backup']]),
    '',
    `Journal: ${segments} segment(s)${segments > 0 ? `, revisions ${index.segments[0]!.manifest.firstRevision}..${index.segments[segments - 1]!.manifest.lastRevision}` : ''}` +
      `${index.progress ? `, complete through ${index.progress.revision} as of ${utc(index.progress.at)}` : ''}.`,
    ...index.gaps.map(
      (g) => `- gap from revision ${g.fromRevision}${g.toRevision ? ` to ${g.toRevision}` : ''} (${g.reason}; detected ${utc(g.detectedAt)}${g.restartedFrom ? `; chain restarted from ${g.restartedFrom}` : ''})`,
    ),
    ...index.problems.map((p) => `- **problem: ${p}**`),
    ...index.notes.map((n) => `- ${n}`),
  ];
  return `${lines.join('\n')}\n`;
}
