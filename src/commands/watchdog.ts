/**
 * The `watchdog` command: needs only store access (no etcd), so it can run on a GitHub-hosted runner
 * in another failure domain and notice when scheduled backups silently stopped.
 */
import { listCatalog, type Catalog } from '../repository/listing.ts';
import { clusterName } from '../config/backup.ts';
import { Inputs, Outputs } from '../config/names.ts';
import { text, type SettingSource } from '../config/source.ts';
import { assessFreshness, assessJournalFreshness, parseMaxAge, type SiteFreshness } from '../notify/watchdog.ts';
import { readJournalIndex, type JournalIndex } from '../journal/reader.ts';
import { messageOf } from '../errors.ts';
import type { CommandDeps } from './context.ts';
import { table, type CommandReport } from './report.ts';
import { withSites } from './skeleton.ts';

export async function watchdogCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  const cluster = clusterName(source);
  const maxAgeMs = parseMaxAge(text(source, Inputs.MaxAge));
  // Empty: the journal is not watched (it is optional); set, a cluster that has a journal must keep it fresh.
  const journalMaxAgeText = text(source, Inputs.JournalMaxAge);
  const journalMaxAgeMs = journalMaxAgeText?.trim() ? parseMaxAge(journalMaxAgeText, Inputs.JournalMaxAge) : undefined;
  // The watchdog says nothing about the sites' backups of its own: it raises or clears the alarm only.
  return withSites({ source, deps, cluster, record: { operation: 'watchdog', status: false } }, async (stores) => {
    const catalog = await listCatalog(stores, cluster);
    const sites = siteFreshness(catalog, stores.map((s) => s.id));
    const now = deps.now();
    const backupAssessment = assessFreshness({ cluster, sites, maxAgeMs, now });
    const journal = journalMaxAgeMs === undefined ? undefined : await journalFreshness(stores, cluster, catalog);
    const journalProblems = journal?.error !== undefined
      ? [`cluster ${cluster}: the journal could not be read: ${journal.error}`]
      : assessJournalFreshness({ cluster, now, ...(journalMaxAgeMs !== undefined ? { maxAgeMs: journalMaxAgeMs } : {}), ...(journal?.newest ? { newestCompleteAt: journal.newest.at, newestCompleteRevision: journal.newest.revision } : {}) });
    const problems = [...backupAssessment.problems, ...journalProblems];
    const assessment = { ...backupAssessment, problems, outcome: problems.length === 0 ? ('success' as const) : ('failed' as const) };
    const rows = sites.map((s) => [s.storeId, s.error ? `unreachable: ${s.error}` : (s.newestBackupName ?? 'none'), s.newestBackupTime?.toISOString() ?? '-']);
    const report: CommandReport = {
      outcome: assessment.outcome,
      outputs: {
        [Outputs.Status]: assessment.outcome,
        ...(assessment.newest?.name ? { [Outputs.BackupName]: assessment.newest.name } : {}),
      },
      summary: [
        `## etcd backup watchdog for ${cluster}: ${assessment.outcome === 'success' ? 'fresh' : 'ALARM'}`,
        '',
        table(['site', 'newest backup', 'taken'], rows),
        ...(journal?.newest ? ['', `journal complete through revision ${journal.newest.revision} as of ${journal.newest.at.toISOString()}`] : []),
        ...(journalMaxAgeMs !== undefined && journal?.newest === undefined && journal?.error === undefined ? ['', 'no journal on the sites: journal-max-age not checked'] : []),
        '',
        ...assessment.problems.map((p) => `- ${p}`),
      ].join('\n'),
      ...(assessment.outcome !== 'success' ? { failure: `watchdog: ${assessment.problems.join('; ')}` } : {}),
    };
    return { report, ...(assessment.newest?.name ? { newestGoodBackup: assessment.newest.name } : {}) };
  });
}

/** The newest usable backup on each site; a site that could not be listed carries its error. */
export function siteFreshness(catalog: Catalog, storeIds: readonly string[]): SiteFreshness[] {
  return storeIds.map((storeId) => {
    const failed = catalog.failedStores.find((f) => f.storeId === storeId);
    if (failed) return { storeId, error: failed.error };
    const listing = catalog.stores.find((s) => s.storeId === storeId);
    const newest = listing?.backups.find((b) => b.problem === undefined);
    return newest ? { storeId, newestBackupTime: newest.time, newestBackupName: newest.name } : { storeId };
  });
}

interface JournalFreshness {
  readonly newest?: { readonly revision: number; readonly at: Date };
  readonly error?: string;
}

/** The newest completeThrough of any segment manifest or progress mark (the layout's freshness rule). */
async function journalFreshness(stores: Parameters<typeof readJournalIndex>[0], cluster: string, catalog: Catalog): Promise<JournalFreshness> {
  let index: JournalIndex;
  try {
    index = await readJournalIndex(stores, cluster, catalog);
  } catch (error) {
    return { error: messageOf(error) };
  }
  const points = [...index.segments.map((s) => s.manifest.completeThrough), ...(index.progress ? [index.progress] : [])];
  const newest = points.sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0];
  return newest ? { newest: { revision: newest.revision, at: new Date(newest.at) } } : {};
}
