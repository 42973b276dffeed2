/** The `backup` command: settings -> engine -> report. Later stages (retention, healing, status, alarms) hook in here. */
import { backupOptions } from '../config/backup.ts';
import { Outputs } from '../config/names.ts';
import type { SettingSource } from '../config/source.ts';
import { closeAll, storesFromSettings } from '../config/stores.ts';
import { runBackup, type BackupResult } from '../engine/backup.ts';
import type { Log } from '../engine/log.ts';
import { formatBytes, table, type CommandReport } from './report.ts';

export interface CommandDeps {
  readonly log: Log;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
}

export async function backupCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  const options = backupOptions(source);
  const stores = storesFromSettings(source);
  try {
    const result = await runBackup(options, { stores, ...deps });
    return backupReport(result);
  } finally {
    await closeAll(stores);
  }
}

export function backupReport(result: BackupResult): CommandReport {
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
  };
  const lines = [`## etcd backup: ${result.status}`, ''];
  if (m) {
    lines.push(
      table(
        ['backup', 'revision', 'keys', 'size', 'source member', 'sha256'],
        [[m.name, String(m.revision), String(m.keyCount), formatBytes(m.object.size), `${m.source.name}${m.source.wasLeader ? ' (leader)' : ''}`, m.object.sha256.slice(0, 16)]],
      ),
      '',
    );
  }
  if (result.stores.length > 0) {
    lines.push(table(['store', 'result'], result.stores.map((s) => [s.store, s.ok ? 'ok' : `failed: ${s.error ?? ''}`])), '');
  }
  const unreachable = result.members.filter((p) => !p.reachable);
  if (unreachable.length > 0) lines.push(`Unreachable members: ${unreachable.map((p) => p.endpoint).join(', ')}`, '');
  for (const warning of result.warnings) lines.push(`> ⚠️ ${warning}`);
  if (result.problem) lines.push('', `**Problem:** ${result.problem}`);
  return {
    outcome: result.status,
    outputs,
    summary: lines.join('\n'),
    ...(result.status !== 'success' ? { failure: `backup ${result.status}: ${result.problem ?? 'see the summary'}` } : {}),
  };
}
