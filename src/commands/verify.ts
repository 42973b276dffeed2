/** The `verify` command: a restore drill of a backup (latest by default) that never touches the live cluster. */
import { clusterName, tempDir } from '../config/backup.ts';
import { Outputs } from '../config/names.ts';
import { backupChoice, identities, pointInTimeTarget, toolSettings } from '../config/restore.ts';
import type { SettingSource } from '../config/source.ts';
import { runDrill, type DrillResult } from '../restore/drill.ts';
import { execRunner } from '../restore/service.ts';
import { journalDrill, pointInTimeSource, withJournalCheck, withPointInTime, type PointInTimeSource } from './pointInTime.ts';
import type { CommandDeps } from './context.ts';
import { table, type CommandReport } from './report.ts';
import { withSites, type CommandShape } from './skeleton.ts';
import { resolveBackup } from './resolve.ts';
import { etcdToolsFor } from './tools.ts';

export async function verifyCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  const cluster = clusterName(source);
  const choice = backupChoice(source, cluster, 'latest');
  const target = pointInTimeTarget(source);
  const keys = identities(source);
  const tools = toolSettings(source);
  const scratch = tempDir(source);
  const shape: CommandShape = {
    source,
    deps,
    cluster,
    record: { operation: 'verify', status: true },
    failure: { title: 'etcd restore drill', what: 'restore drill' },
    // A drill reads the sites and changes nothing there: each one is recorded as fine.
    sites: (stores) => stores.map((s) => ({ store: s.id, ok: true })),
  };
  return withSites(shape, async (stores) => {
    let pitr: PointInTimeSource | undefined;
    try {
      // to-time / to-revision: drill the journal replayed onto its full backup instead of a backup alone.
      pitr = await pointInTimeSource({ cluster, ...(target ? { target } : {}), backup: choice, identities: keys, tools, tempDir: scratch }, stores, deps);
      const entry = pitr?.entry ?? (await resolveBackup(stores, cluster, choice));
      const etcd = pitr?.tools ?? (await etcdToolsFor(entry.manifest!, tools, deps));
      const result = await runDrill({ entry, stores: pitr?.stores ?? stores, identities: pitr?.identities ?? keys, tools: etcd, tempDir: scratch, run: execRunner(), ...deps });
      // The daily drill also proves the journal (replay between two full backups, compared key by key).
      const journal = pitr ? undefined : await journalDrill({ cluster, stores, identities: keys, tools: etcd, tempDir: scratch, run: execRunner(), ...deps });
      return {
        report: withJournalCheck(withPointInTime(drillReport(result), pitr), journal),
        backup: { name: result.name, revision: result.revision },
        newestGoodBackup: result.name,
      };
    } finally {
      await pitr?.cleanup();
    }
  });
}

function drillReport(result: DrillResult): CommandReport {
  return {
    outcome: 'success',
    outputs: {
      [Outputs.Status]: 'success',
      [Outputs.BackupName]: result.name,
      [Outputs.Revision]: String(result.revision),
      [Outputs.Keys]: String(result.keys),
      [Outputs.RestoreSeconds]: result.restoreSeconds.toFixed(1),
    },
    summary: [
      '## etcd restore drill: passed',
      '',
      table(
        ['backup', 'from', 'revision', 'keys', 'restore time'],
        [[result.name, result.from, String(result.revision), String(result.keys), `${result.restoreSeconds.toFixed(1)} s`]],
      ),
      '',
      ...result.warnings.map((w) => `> ⚠️ ${w}`),
    ].join('\n'),
  };
}
