/**
 * The `backup` command: snapshot and ship (backup/backup.ts), then heal sites that missed backups,
 * apply retention, write the status record and raise or clear the alarm.
 */
import { latest, listCatalog } from '../repository/listing.ts';
import { heal, planHealing, type HealResult } from '../catalog/healing.ts';
import type { RetentionPolicy } from '../catalog/policy.ts';
import type { PruneResult } from '../catalog/prune.ts';
import { backupOptions } from '../config/backup.ts';
import { Inputs, Outputs } from '../config/names.ts';
import { retentionPolicy } from '../config/retention.ts';
import { bool, secretText, type SettingSource } from '../config/source.ts';
import { closeAll, storesFromSettings } from '../config/stores.ts';
import { runBackup, type BackupResult } from '../backup/backup.ts';
import { messageOf } from '../errors.ts';
import type { Store } from '../stores/store.ts';
import type { CommandDeps } from './context.ts';
import { applyRetention, pruneProblems, prunedCount, pruneSummary } from './prune.ts';
import { table, type CommandReport } from './report.ts';
import { withSites } from './skeleton.ts';
import { formatSize } from '../catalog/catalog.ts';
import { checkRecipients } from '../snapshot/codec.ts';

export async function backupCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  // Every setting is validated before anything touches etcd or a store.
  const options = backupOptions(source);
  const policy = retentionPolicy(source);
  const doHeal = bool(source, Inputs.Heal, true);
  const doPrune = bool(source, Inputs.Prune, true);
  const pruneDryRun = bool(source, Inputs.PruneDryRun, false);
  await checkRecipients(options.recipients);
  return withSites({ source, deps, cluster: options.cluster, record: { operation: 'backup', status: true } }, async (stores) => {
    const result = await runBackup(options, { stores, ...deps });
    const upkeep =
      result.status === 'failed'
        ? undefined
        : await maintain(stores, options.cluster, policy, deps, {
            doHeal,
            doPrune,
            pruneDryRun,
            ...(secretText(source, Inputs.PruneSshPrivateKey)
              ? { retentionStores: () => storesFromSettings(source, { forRetention: true, log: deps.log }) }
              : {}),
          });
    const report = backupReport(result, upkeep);
    const newestGood = result.manifest?.name ?? (await newestGoodBackup(stores, options.cluster));
    return {
      report,
      ...(result.manifest ? { backup: { name: result.manifest.name, revision: result.manifest.revision } } : {}),
      sites: result.stores.length > 0 ? result.stores : stores.map((s) => ({ store: s.id, ok: false, error: 'no backup was shipped' })),
      ...(newestGood ? { newestGoodBackup: newestGood } : {}),
    };
  });
}

interface Upkeep {
  readonly healed?: HealResult;
  readonly pruned?: PruneResult;
  /** Set when retention was not run at all (prune: false), saying so. */
  readonly pruneSkipped?: string;
  readonly problems: readonly string[];
}

/** Healing first, so each site is then pruned with every backup it should have. */
async function maintain(
  stores: readonly Store[],
  cluster: string,
  policy: RetentionPolicy,
  deps: CommandDeps,
  what: {
    doHeal: boolean;
    doPrune: boolean;
    pruneDryRun: boolean;
    /** The stores opened with prune-ssh-private-key (a key that may delete), when it is given. */
    retentionStores?: () => Store[];
  },
): Promise<Upkeep> {
  const problems: string[] = [];
  let healed: HealResult | undefined;
  let pruned: PruneResult | undefined;
  try {
    if (what.doHeal) {
      const catalog = await listCatalog(stores, cluster);
      healed = await heal(stores, cluster, planHealing(catalog, policy, deps.now()));
      for (const h of healed.healed) deps.log.info(`healed: copied ${h.name} from ${h.from} to ${h.to}`);
      problems.push(...healed.failed.map((f) => `healing ${f.name} to ${f.to} failed: ${f.error}`));
    }
    if (what.doPrune) {
      // Without the retention key, the nodes' key prunes: on an append-only site account that is skipped (a warning).
      const retentionStores = what.retentionStores?.() ?? stores;
      try {
        pruned = await applyRetention(retentionStores, cluster, policy, deps.now(), { dryRun: what.pruneDryRun });
      } finally {
        if (retentionStores !== stores) await closeAll(retentionStores);
      }
      problems.push(...pruneProblems(pruned));
    }
  } catch (error) {
    problems.push(`retention/healing: ${messageOf(error)}`);
  }
  problems.forEach((p) => deps.log.warning(p));
  const pruneSkipped = what.doPrune ? undefined : `skipped: ${Inputs.Prune} is false (retention runs elsewhere, e.g. the prune workflow)`;
  return { ...(healed ? { healed } : {}), ...(pruned ? { pruned } : {}), ...(pruneSkipped ? { pruneSkipped } : {}), problems };
}

async function newestGoodBackup(stores: readonly Store[], cluster: string): Promise<string | undefined> {
  try {
    return latest(await listCatalog(stores, cluster))?.name;
  } catch {
    return undefined;
  }
}

export function backupReport(result: BackupResult, upkeep?: Upkeep): CommandReport {
  const m = result.manifest;
  const storesOk = result.stores.filter((s) => s.ok).length;
  const outputs = {
    [Outputs.Status]: result.status,
    [Outputs.StoresOk]: String(storesOk),
    ...(m
      ? {
          [Outputs.BackupName]: m.name,
          [Outputs.Revision]: String(m.revision),
          [Outputs.Size]: String(m.object.size),
          [Outputs.Sha256]: m.object.sha256,
        }
      : {}),
    ...(upkeep?.pruned ? { [Outputs.Pruned]: String(prunedCount(upkeep.pruned)) } : {}),
    ...(upkeep?.healed ? { [Outputs.Healed]: String(upkeep.healed.healed.length) } : {}),
  };
  const lines = [`## etcd backup: ${result.status}`, ''];
  if (m) {
    lines.push(
      table(
        ['backup', 'revision', 'keys', 'size', 'source member', 'sha256'],
        [[m.name, String(m.revision), String(m.keyCount), formatSize(m.object.size), `${m.source.name}${m.source.wasLeader ? ' (leader)' : ' (not leader)'}`, m.object.sha256]],
      ),
      '',
    );
  }
  if (result.stores.length > 0) {
    lines.push(table(['store', 'result'], result.stores.map((s) => [s.store, s.ok ? 'ok' : `failed: ${s.error ?? ''}`])), '');
  }
  const unreachable = result.members.filter((p) => !p.reachable);
  if (unreachable.length > 0) lines.push(`Unreachable members: ${unreachable.map((p) => p.endpoint).join(', ')}`, '');
  if (upkeep?.healed && upkeep.healed.healed.length > 0) {
    lines.push('### Healed', '', table(['backup', 'from', 'to'], upkeep.healed.healed.map((h) => [h.name, h.from, h.to])), '');
  }
  if (upkeep?.pruned) lines.push(`### Retention${upkeep.pruned.dryRun ? ' (dry run)' : ''}`, '', pruneSummary(upkeep.pruned));
  if (upkeep?.pruneSkipped) lines.push('### Retention', '', upkeep.pruneSkipped, '');
  for (const warning of [...result.warnings, ...(upkeep?.problems ?? [])]) lines.push(`> ⚠️ ${warning}`, '');
  if (result.problem) lines.push(`**Problem:** ${result.problem}`);
  return {
    outcome: result.status,
    outputs,
    summary: lines.join('\n'),
    ...(result.status !== 'success' ? { failure: `backup ${result.status}: ${result.problem ?? 'see the summary'}` } : {}),
  };
}
