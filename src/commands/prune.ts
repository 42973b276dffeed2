/** The `prune` command, and the retention step that follows every successful backup. */
import { prune, type PruneOptions, type PruneResult } from '../catalog/prune.ts';
import { applyJournalRetention } from '../journal/retention.ts';
import type { RetentionPolicy } from '../catalog/policy.ts';
import { clusterName } from '../config/backup.ts';
import { Inputs, Outputs } from '../config/names.ts';
import { bool, type SettingSource } from '../config/source.ts';
import { retentionPolicy } from '../config/retention.ts';
import { isPermissionDenied } from '../base/failures.ts';
import type { Store } from '../stores/store.ts';
import type { CommandDeps } from './context.ts';
import { table, type CommandReport } from './report.ts';
import { withSites } from './skeleton.ts';

export async function pruneCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  const cluster = clusterName(source);
  const policy = retentionPolicy(source);
  const dryRun = bool(source, Inputs.PruneDryRun, false);
  return withSites({ source, deps, cluster, forRetention: true, record: { operation: 'prune', status: true } }, async (stores) => {
    const result = await applyRetention(stores, cluster, policy, deps.now(), { dryRun });
    const problems = pruneProblems(result, `give ${Inputs.PruneSshPrivateKey} a key whose site account may delete`);
    const outcome = problems.length > 0 ? 'degraded' : 'success';
    const report: CommandReport = {
      outcome,
      outputs: { [Outputs.Pruned]: String(prunedCount(result)), [Outputs.Status]: outcome },
      summary: `## etcd retention${dryRun ? ' (dry run: nothing deleted)' : ''}\n\n${pruneSummary(result)}`,
      ...(problems.length > 0 ? { failure: `prune: ${problems.join('; ')}` } : {}),
    };
    const sites = result.perStore.map((s) => ({ store: s.storeId, ok: !s.skipped, ...(s.skipped ? { error: s.skipped } : {}) }));
    return { report, sites };
  });
}

/** Why retention did not run on a site whose account refused to delete (StorePruneResult.skipped). */
export const DELETE_DENIED = 'the site account may not delete (permission denied)';

/**
 * Retention on every store. A site account that may not delete (the nodes' append-only key, see
 * docs/security) refuses the first deletion; retention on that site then stops there, and the site is
 * reported as skipped for that reason (DELETE_DENIED) rather than as one error per file.
 */
export async function applyRetention(
  stores: readonly Store[],
  cluster: string,
  policy: RetentionPolicy,
  now: Date,
  options: PruneOptions & { readonly dryRun: boolean },
): Promise<PruneResult> {
  const denied = new Set<string>();
  const guarded = stores.map((store) => stopsWhenDenied(store, denied));
  const pruned = await prune(guarded, cluster, policy, now, options);
  // The journal follows the backups: segments no kept backup can replay through go (journal/retention.ts).
  const result: PruneResult = {
    ...pruned,
    perStore: await Promise.all(pruned.perStore.map(async (s) => {
      const store = guarded.find((g) => g.id === s.storeId);
      if (s.skipped || !store) return s;
      const journal = await applyJournalRetention(store, cluster, s.kept.map((d) => d.backup.stored.revision), options);
      return { ...s, deleted: [...s.deleted, ...journal.deleted.map((f) => `journal/${f}`)], errors: [...s.errors, ...journal.errors] };
    })),
  };
  return {
    ...result,
    perStore: result.perStore.map((s) =>
      denied.has(s.storeId) && s.deleted.length === 0
        ? { storeId: s.storeId, deleted: [], kept: [], dropped: [], errors: [], skipped: DELETE_DENIED }
        : s,
    ),
  };
}

/** `store`, whose removals fail at once (with no round trip) once one was refused for lack of rights. */
function stopsWhenDenied(store: Store, denied: Set<string>): Store {
  const remove = async (folder: string, name: string): Promise<void> => {
    if (denied.has(store.id)) throw new Error(`${store.id}: not removing ${folder}/${name}: ${DELETE_DENIED}`);
    try {
      await store.remove(folder, name);
    } catch (error) {
      if (isPermissionDenied(error)) denied.add(store.id);
      throw error;
    }
  };
  // A Proxy rather than a copy: every other method (whatever the Store interface holds) stays the store's own.
  return new Proxy(store, {
    get: (target, property) => {
      if (property === 'remove') return remove;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export function prunedCount(result: PruneResult): number {
  return result.perStore.reduce((n, s) => n + s.dropped.length, 0);
}

/** One sentence per problem; `deniedHint` says what to do about a site whose account may not delete. */
export function pruneProblems(result: PruneResult, deniedHint = 'prune runs with the delete-capable key'): string[] {
  return result.perStore.flatMap((s) => [
    ...(s.skipped === DELETE_DENIED ? [`retention skipped on ${s.storeId}: ${DELETE_DENIED}; ${deniedHint}`] : []),
    ...(s.skipped && s.skipped !== DELETE_DENIED ? [`${s.storeId} skipped: ${s.skipped}`] : []),
    ...s.errors.map((e) => `${s.storeId}: ${e}`),
  ]);
}

export function pruneSummary(result: PruneResult): string {
  const verb = result.dryRun ? 'would delete' : 'deleted';
  const rows = result.perStore.map((s) => [
    s.storeId,
    s.skipped ? `skipped (${s.skipped})` : `${s.kept.length} kept, ${s.dropped.length} ${verb}${journalNote(s.deleted, verb)}`,
    s.dropped.map((d) => d.backup.name).join(', ') || '-',
  ]);
  return `${table(['store', 'result', `${verb}`], rows)}\n`;
}

/** The journal files retention removed with the backups (journal/retention.ts), counted for the summary. */
function journalNote(deleted: readonly string[], verb: string): string {
  const count = deleted.filter((f) => f.startsWith('journal/')).length;
  return count > 0 ? ` (+ ${count} journal file${count === 1 ? '' : 's'} ${verb})` : '';
}
