/**
 * The `journal` command: a follower that records every etcd change between snapshots on every site
 * (src/journal/follower.ts). Every node runs one; one writes, the others stand by. It runs until
 * `journal-max-runtime` (or SIGTERM/SIGINT: a systemd stop), then hands over cleanly.
 *
 * A gap (etcd compacted past the journal, or no site reachable for longer than the spool holds) raises
 * the alarm at once (GitHub issue, status.json) and triggers a full backup; a site down makes the run
 * degraded (alarmed at the end of the run, and healed by the follower when the site is back).
 */
import { journalOptions } from '../config/journal.ts';
import { backupOptions } from '../config/backup.ts';
import { Outputs } from '../config/names.ts';
import type { SettingSource } from '../config/source.ts';
import { closeAll, storesFromSettings } from '../config/stores.ts';
import { runBackup } from '../backup/backup.ts';
import { messageOf } from '../errors.ts';
import { runFollower, type FollowerResult } from '../journal/follower.ts';
import type { BaseBackup } from '../journal/position.ts';
import { checkRecipients } from '../snapshot/codec.ts';
import type { Store } from '../stores/store.ts';
import { afterRun } from './aftermath.ts';
import type { CommandDeps } from './context.ts';
import { table, withNotes, type CommandReport } from './report.ts';

export async function journalCommand(source: SettingSource, deps: CommandDeps, signal?: AbortSignal): Promise<CommandReport> {
  // Every setting is validated before anything touches etcd or a store.
  const options = journalOptions(source);
  const backup = backupOptions(source);
  await checkRecipients(options.recipients);
  const stores = storesFromSettings(source);
  const stop = new AbortController();
  const onSignal = (): void => {
    deps.log.info('journal: stop requested: flushing and handing over');
    stop.abort();
  };
  signal?.addEventListener('abort', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const alarm = async (problem: string): Promise<void> => {
      const report: CommandReport = { outcome: 'failed', outputs: {}, summary: `## etcd journal: failed\n\n**Problem:** ${problem}`, failure: `journal failed: ${problem}` };
      await afterRun(source, stores, { cluster: options.cluster, operation: 'journal', report, sites: stores.map((s) => ({ store: s.id, ok: true })) }, deps).catch(
        (error: unknown) => deps.log.warning(`journal: raising the alarm: ${messageOf(error)}`),
      );
    };
    const fullBackup = async (reason: string): Promise<BaseBackup | undefined> => {
      deps.log.warning(`journal: taking a full backup now: ${reason}`);
      const result = await runBackup(backup, { stores, ...deps });
      if (result.status === 'failed' || !result.manifest) {
        deps.log.error(`journal: the full backup failed: ${result.problem ?? 'unknown'}`);
        return undefined;
      }
      deps.log.info(`journal: full backup ${result.manifest.name} at revision ${result.manifest.revision}`);
      return { name: result.manifest.name, revision: result.manifest.revision, snapshotSha256: result.manifest.snapshotSha256 };
    };
    const result = await runFollower(options, { stores, ...deps, fullBackup, alarm }, stop.signal);
    const report = journalReport(result);
    // A standby that never wrote has nothing to record; a writer reports its tenure (and closes a
    // previous alarm when it ran clean).
    if (!result.wrote && result.outcome === 'success') return report;
    const notes = await afterRun(source, stores, { cluster: options.cluster, operation: 'journal', report, sites: siteStates(stores, result) }, deps);
    return withNotes(report, notes);
  } finally {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    signal?.removeEventListener('abort', onSignal);
    await closeAll(stores);
  }
}

function siteStates(stores: readonly Store[], result: FollowerResult): { store: string; ok: boolean; error?: string }[] {
  return stores.map((s) => {
    const problem = result.problems.find((p) => p.includes(s.id));
    return problem ? { store: s.id, ok: false, error: problem } : { store: s.id, ok: true };
  });
}

export function journalReport(result: FollowerResult): CommandReport {
  const lines = [`## etcd journal: ${result.outcome}${result.wrote ? '' : ' (standby: another follower wrote)'}`, ''];
  lines.push(
    table(
      ['segments published', 'revisions', 'journal through revision', 'gaps'],
      [[String(result.segments), String(result.revisions), result.lastRevision !== undefined ? String(result.lastRevision) : '-', String(result.gaps.length)]],
    ),
    '',
  );
  for (const gap of result.gaps) {
    lines.push(
      `> ❌ gap from revision ${gap.fromRevision}${gap.toRevision !== null ? ` to ${gap.toRevision}` : ''}: ${gap.reason}; ` +
        (gap.restartedFrom ? `restarted from full backup ${gap.restartedFrom}` : 'the full backup to restart from failed'),
      '',
    );
  }
  for (const problem of result.problems) lines.push(`> ⚠️ ${problem}`, '');
  const failure =
    result.outcome === 'success' ? undefined : `journal ${result.outcome}: ${[...result.gaps.map((g) => `gap from revision ${g.fromRevision}`), ...result.problems].join('; ') || 'see the summary'}`;
  return {
    outcome: result.outcome,
    outputs: { [Outputs.Status]: result.outcome, ...(result.lastRevision !== undefined ? { [Outputs.Revision]: String(result.lastRevision) } : {}) },
    summary: lines.join('\n'),
    ...(failure ? { failure } : {}),
  };
}
