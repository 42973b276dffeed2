/**
 * The one shape of a command that works on the sites: open the stores (every retry logged), do the work,
 * record the run (status record on the sites, the GitHub issue), add the notes of that to the report, close
 * the stores. Every command that opens stores runs through here, so they all open, report, notify and close
 * the same way.
 *
 * An InputError found only after the settings were parsed (a backup name not in the catalog, an identity
 * that cannot decrypt it) is still bad input: the run is recorded as failed like any failure, and the error
 * is then thrown, so the CLI exits 2 as for any other bad input and nothing more is attempted.
 */
import { InputError, messageOf } from '../errors.ts';
import type { Operation } from '../notify/alarm.ts';
import type { SiteStatus } from '../notify/status.ts';
import type { SettingSource } from '../config/source.ts';
import { closeAll, storesFromSettings } from '../config/stores.ts';
import { Outputs } from '../config/names.ts';
import type { Store } from '../stores/store.ts';
import { afterRun } from './aftermath.ts';
import type { CommandDeps } from './context.ts';
import { withNotes, type CommandReport } from './report.ts';

/** What the work hands back: its report, and what the status record and the alarm should say about the run. */
export interface CommandWork {
  readonly report: CommandReport;
  /** The backup made or used. */
  readonly backup?: { readonly name: string; readonly revision: number };
  /** How each site looked; default: none (the record keeps no per-site state for this run). */
  readonly sites?: readonly SiteStatus[];
  readonly newestGoodBackup?: string;
}

export interface CommandShape {
  readonly source: SettingSource;
  readonly deps: CommandDeps;
  readonly cluster: string;
  /**
   * How the run is recorded: with `status` the status record is written to the sites and the alarm raised or
   * cleared; `alarm` only the alarm (a run that says nothing about the sites' backups); absent: neither (list).
   */
  readonly record?: { readonly operation: Operation; readonly status: boolean };
  /** How each site looked when the work did not say (it failed): default none. */
  readonly sites?: (stores: readonly Store[]) => readonly SiteStatus[];
  /** Opens the stores with the key that may delete (retention). */
  readonly forRetention?: boolean;
  /**
   * When set, a failure of the work becomes a failed report (`## <title>: FAILED`, `<what> failed: <why>`)
   * that is recorded like any other; otherwise it is thrown as it is.
   */
  readonly failure?: { readonly title: string; readonly what: string };
}

export async function withSites(shape: CommandShape, work: (stores: readonly Store[]) => Promise<CommandWork>): Promise<CommandReport> {
  const { source, deps } = shape;
  const stores = storesFromSettings(source, { ...(shape.forRetention ? { forRetention: true } : {}), log: deps.log });
  try {
    let done: CommandWork;
    let inputError: InputError | undefined;
    try {
      done = await work(stores);
    } catch (error) {
      if (!shape.failure) throw error;
      if (error instanceof InputError) inputError = error;
      done = { report: failedReport(shape.failure, error) };
    }
    const notes = shape.record
      ? await afterRun(
          source,
          shape.record.status ? stores : undefined,
          {
            cluster: shape.cluster,
            operation: shape.record.operation,
            report: done.report,
            ...(done.backup ? { backup: done.backup } : {}),
            sites: done.sites ?? shape.sites?.(stores) ?? [],
            ...(done.newestGoodBackup ? { newestGoodBackup: done.newestGoodBackup } : {}),
          },
          deps,
        )
      : [];
    if (inputError) throw inputError;
    return withNotes(done.report, notes);
  } finally {
    await closeAll(stores);
  }
}

function failedReport(failure: { readonly title: string; readonly what: string }, error: unknown): CommandReport {
  return {
    outcome: 'failed',
    outputs: { [Outputs.Status]: 'failed' },
    summary: `## ${failure.title}: FAILED\n\n${messageOf(error)}\n`,
    failure: `${failure.what} failed: ${messageOf(error)}`,
  };
}
