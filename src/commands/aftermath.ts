/**
 * What happens after every run, whatever the command: the status record on each reachable site, and
 * the GitHub issue (opened or updated on failure, closed on recovery). Neither can change the run's
 * own outcome: a failure here is a warning.
 */
import { Inputs } from '../config/names.ts';
import { bool, list, secretText, text, type SettingSource } from '../config/source.ts';
import { holderName } from '../config/backup.ts';
import { messageOf } from '../errors.ts';
import type { AlarmResult, Operation } from '../notify/alarm.ts';
import { nextStatus, readNewestStatus, writeStatus, type SiteStatus } from '../notify/status.ts';
import type { Store } from '../stores/store.ts';
import { writeTextfile } from '../notify/textfile.ts';
import { runUrl, type CommandDeps } from './context.ts';
import type { CommandReport } from './report.ts';

export interface RunFacts {
  readonly cluster: string;
  readonly operation: Operation;
  readonly report: CommandReport;
  /** The backup made or used. */
  readonly backup?: { readonly name: string; readonly revision: number };
  readonly sites: readonly SiteStatus[];
  readonly newestGoodBackup?: string;
}

/**
 * Writes `<cluster>/status.json` on every store, and the Prometheus textfile when `status-file` is set;
 * returns warnings for what it could not write.
 */
export async function recordStatus(
  stores: readonly Store[],
  facts: RunFacts,
  env: NodeJS.ProcessEnv,
  now: Date,
  textfile?: string,
): Promise<string[]> {
  const previous = await readNewestStatus(stores, facts.cluster);
  const url = runUrl(env);
  const record = nextStatus(
    previous.record,
    {
      cluster: facts.cluster,
      operation: facts.operation,
      outcome: facts.report.outcome,
      ...(facts.backup ? { backup: facts.backup } : {}),
      ...(facts.report.failure ? { error: facts.report.failure } : {}),
      runner: holderName(env),
      ...(url ? { runUrl: url } : {}),
      sites: facts.sites,
    },
    now,
  );
  const written = await writeStatus(stores, facts.cluster, record);
  const warnings = written.errors.map((e) => `status.json not written to ${e.store}: ${e.error}`);
  if (textfile) await writeTextfile(textfile, record, now).catch((error: unknown) => warnings.push(messageOf(error)));
  return warnings;
}

/**
 * Opens, updates or closes the cluster's GitHub issue. Skipped (with a note) when there is no token or
 * repository, e.g. the CLI run by hand; never throws.
 */
export async function raiseAlarm(source: SettingSource, facts: RunFacts, deps: CommandDeps): Promise<AlarmResult | undefined> {
  if (!bool(source, Inputs.OpenIssueOnFailure, true)) return undefined;
  const token = secretText(source, Inputs.GithubToken) ?? source.env['GITHUB_TOKEN'];
  const repository = source.env['GITHUB_REPOSITORY'];
  if (!token || !repository) {
    if (facts.report.outcome !== 'success') {
      deps.log.warning('no GitHub token or repository: the failure is not reported as an issue');
    }
    return undefined;
  }
  try {
    // Octokit is loaded only when there is something to report: it is a large part of the bundle, and a
    // backup's memory is better spent on the snapshot pipeline.
    const { DEFAULT_ALARM_LABELS, reportOutcome } = await import('../notify/alarm.ts');
    const { createOctokit, githubApiUrl, parseRepository } = await import('../notify/github.ts');
    const { owner, repo } = parseRepository(repository);
    const octokit = createOctokit({ token, baseUrl: githubApiUrl(source.env), log: deps.log });
    const url = runUrl(source.env);
    return await reportOutcome(
      { octokit, owner, repo, sleep: deps.sleep, log: deps.log },
      {
        cluster: facts.cluster,
        operation: facts.operation,
        outcome: facts.report.outcome,
        summary: facts.report.failure ? `${facts.report.failure}\n\n${facts.report.summary}` : facts.report.summary,
        runner: holderName(source.env),
        ...(url ? { runUrl: url } : {}),
        ...(facts.newestGoodBackup ? { newestGoodBackup: facts.newestGoodBackup } : {}),
        labels: list(text(source, Inputs.IssueLabels) ?? DEFAULT_ALARM_LABELS.join(',')),
      },
    );
  } catch (error) {
    deps.log.warning(`could not report to GitHub: ${messageOf(error)}`);
    return undefined;
  }
}

/** Both steps, returning warnings to add to the summary. */
export async function afterRun(
  source: SettingSource,
  stores: readonly Store[] | undefined,
  facts: RunFacts,
  deps: CommandDeps,
): Promise<string[]> {
  const notes = stores ? await recordStatus(stores, facts, source.env, deps.now(), text(source, Inputs.StatusFile)) : [];
  notes.forEach((n) => deps.log.warning(n));
  const alarm = await raiseAlarm(source, facts, deps);
  if (alarm && !alarm.ok) notes.push(`GitHub issue not updated: ${alarm.error}`);
  else if (alarm && alarm.action !== 'none') notes.push(`GitHub issue #${alarm.issueNumber ?? '?'} ${alarm.action}`);
  return notes;
}
