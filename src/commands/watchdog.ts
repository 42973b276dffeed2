/**
 * The `watchdog` command: needs only store access (no etcd), so it can run on a GitHub-hosted runner
 * in another failure domain and notice when scheduled backups silently stopped.
 */
import { listCatalog, type Catalog } from '../repository/listing.ts';
import { clusterName } from '../config/backup.ts';
import { Inputs, Outputs } from '../config/names.ts';
import { text, type SettingSource } from '../config/source.ts';
import { assessFreshness, parseMaxAge, type SiteFreshness } from '../notify/watchdog.ts';
import type { CommandDeps } from './context.ts';
import { table, type CommandReport } from './report.ts';
import { withSites } from './skeleton.ts';

export async function watchdogCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  const cluster = clusterName(source);
  const maxAgeMs = parseMaxAge(text(source, Inputs.MaxAge));
  // The watchdog says nothing about the sites' backups of its own: it raises or clears the alarm only.
  return withSites({ source, deps, cluster, record: { operation: 'watchdog', status: false } }, async (stores) => {
    const catalog = await listCatalog(stores, cluster);
    const sites = siteFreshness(catalog, stores.map((s) => s.id));
    const assessment = assessFreshness({ cluster, sites, maxAgeMs, now: deps.now() });
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
