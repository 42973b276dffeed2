/** The `list` command: every backup across the stores, which sites hold it, whether the copies match. */
import { formatCatalogTable } from '../catalog/catalog.ts';
import { listCatalog, type Catalog } from '../repository/listing.ts';
import { clusterName } from '../config/backup.ts';
import { Outputs } from '../config/names.ts';
import type { SettingSource } from '../config/source.ts';
import type { CommandDeps } from './context.ts';
import type { CommandReport } from './report.ts';
import { journalSection } from './pointInTime.ts';
import { withSites } from './skeleton.ts';

export async function listCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  const cluster = clusterName(source);
  return withSites({ source, deps, cluster }, async (stores) => {
    const catalog = await listCatalog(stores, cluster);
    const report = listReport(catalog);
    // Point-in-time recovery: the windows the journal makes recoverable (nothing when there is no journal).
    const journal = await journalSection(stores, cluster, catalog);
    return { report: journal ? { ...report, summary: `${report.summary}\n${journal}` } : report };
  });
}

/** The JSON form of the catalog for the `backups` output: plain values, newest first. */
export function catalogJson(catalog: Catalog): string {
  return JSON.stringify(
    catalog.entries.map((e) => ({
      name: e.name,
      time: e.time.toISOString(),
      revision: e.revision,
      size: e.size ?? null,
      sourceMember: e.sourceMember,
      keys: e.manifest?.keyCount ?? null,
      sites: e.copies.map((c) => c.storeId),
      consistent: e.consistent,
      damaged: e.damaged,
    })),
  );
}

function listReport(catalog: Catalog): CommandReport {
  const down = catalog.failedStores.map((f) => `${f.storeId} (${f.error})`);
  return {
    outcome: down.length > 0 ? 'degraded' : 'success',
    outputs: { [Outputs.Backups]: catalogJson(catalog) },
    summary: `## etcd backups of ${catalog.cluster}\n\n${formatCatalogTable(catalog)}\n`,
    ...(down.length > 0 ? { failure: `could not list ${down.join('; ')}` } : {}),
  };
}
