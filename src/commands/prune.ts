/** The `prune` command, and the retention step that follows every successful backup. */
import { prune, type PruneResult } from '../catalog/prune.ts';
import { clusterName } from '../config/backup.ts';
import { Inputs, Outputs } from '../config/names.ts';
import { bool, type SettingSource } from '../config/source.ts';
import { retentionPolicy } from '../config/retention.ts';
import { closeAll, storesFromSettings } from '../config/stores.ts';
import type { CommandDeps } from './context.ts';
import { table, withNotes, type CommandReport } from './report.ts';
import { afterRun } from './aftermath.ts';

export async function pruneCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  const cluster = clusterName(source);
  const policy = retentionPolicy(source);
  const dryRun = bool(source, Inputs.PruneDryRun, false);
  const stores = storesFromSettings(source);
  try {
    const result = await prune(stores, cluster, policy, deps.now(), { dryRun });
    const problems = pruneProblems(result);
    const outcome = problems.length > 0 ? 'degraded' : 'success';
    const report: CommandReport = {
      outcome,
      outputs: { [Outputs.Pruned]: String(prunedCount(result)), [Outputs.Status]: outcome },
      summary: `## etcd retention${dryRun ? ' (dry run: nothing deleted)' : ''}\n\n${pruneSummary(result)}`,
      ...(problems.length > 0 ? { failure: `prune: ${problems.join('; ')}` } : {}),
    };
    const sites = result.perStore.map((s) => ({ store: s.storeId, ok: !s.skipped, ...(s.skipped ? { error: s.skipped } : {}) }));
    return withNotes(report, await afterRun(source, stores, { cluster, operation: 'prune', report, sites }, deps));
  } finally {
    await closeAll(stores);
  }
}

export function prunedCount(result: PruneResult): number {
  return result.perStore.reduce((n, s) => n + s.dropped.length, 0);
}

export function pruneProblems(result: PruneResult): string[] {
  return result.perStore.flatMap((s) => [
    ...(s.skipped ? [`${s.storeId} skipped: ${s.skipped}`] : []),
    ...s.errors.map((e) => `${s.storeId}: ${e}`),
  ]);
}

export function pruneSummary(result: PruneResult): string {
  const verb = result.dryRun ? 'would delete' : 'deleted';
  const rows = result.perStore.map((s) => [
    s.storeId,
    s.skipped ? `skipped (${s.skipped})` : `${s.kept.length} kept, ${s.dropped.length} ${verb}`,
    s.dropped.map((d) => d.backup.name).join(', ') || '-',
  ]);
  return `${table(['store', 'result', `${verb}`], rows)}\n`;
}
