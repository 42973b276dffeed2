/**
 * Alarms as GitHub issues: one open issue per cluster while its runs fail, a comment per further
 * failure, and a "recovered" comment plus close on the next success. The issue is found by its label and
 * identified by a hidden marker in its body (`<!-- etcd-dr:cluster=<cluster> -->`), so a human can retitle
 * it freely. Reporting never throws: GitHub being unreachable is logged as a warning and returned as
 * `ok: false`; the run's own outcome is the caller's and stays what it was.
 */
import type { Octokit } from '@octokit/rest';
import { messageOf } from '../errors.ts';
import type { Outcome } from '../base/outcome.ts';
import { withGitHubRetry, type NotifyLog, type RetryPolicy, type Sleep } from './github.ts';

export type Operation = 'backup' | 'restore' | 'verify' | 'prune' | 'watchdog' | 'journal';

export const DEFAULT_ALARM_LABELS: readonly string[] = ['etcd-backup'];

/** GitHub caps an issue or comment body at 65536 characters; we keep well below. */
const MAX_SUMMARY_CHARS = 60_000;

export interface AlarmEvent {
  readonly cluster: string;
  readonly operation: Operation;
  readonly outcome: Outcome;
  /** Markdown: what failed (or, on success, what succeeded). */
  readonly summary: string;
  /** Which runner/host ran it. */
  readonly runner?: string;
  /** Link to the workflow run. */
  readonly runUrl?: string;
  /** Name of the newest backup known good, so the reader knows what a restore would get. */
  readonly newestGoodBackup?: string;
  /** Labels put on a new issue; the first one is used to find the open issue. Default ['etcd-backup']. */
  readonly labels?: readonly string[];
}

export interface AlarmDeps {
  readonly octokit: Octokit;
  readonly owner: string;
  readonly repo: string;
  readonly sleep: Sleep;
  readonly log: NotifyLog;
  readonly retryPolicy?: RetryPolicy;
}

export type AlarmAction = 'opened' | 'commented' | 'closed' | 'none';

export type AlarmResult =
  | { readonly ok: true; readonly action: AlarmAction; readonly issueNumber?: number }
  /** `action` is what was done before the failure (e.g. 'commented' when the close then failed). */
  | { readonly ok: false; readonly action: AlarmAction; readonly issueNumber?: number; readonly error: string };

/**
 * One alarm issue per cluster and operation: a passing drill or watchdog must not close the issue of a
 * failing backup, so each operation only ever updates and closes its own.
 */
export function clusterMarker(cluster: string, operation: Operation): string {
  return `<!-- etcd-dr:cluster=${cluster} operation=${operation} -->`;
}

const TITLES: Record<Operation, string> = {
  backup: 'backups failing',
  prune: 'retention failing',
  verify: 'restore drill failing',
  restore: 'restore failed',
  watchdog: 'backups are stale',
  journal: 'journal of changes has a gap or is failing',
};

export function issueTitle(cluster: string, operation: Operation): string {
  return `etcd-dr: ${cluster} ${TITLES[operation]}`;
}

function truncate(text: string): string {
  return text.length <= MAX_SUMMARY_CHARS ? text : `${text.slice(0, MAX_SUMMARY_CHARS)}\n\n… (truncated)`;
}

function details(event: AlarmEvent): string[] {
  return [
    `- **Operation:** ${event.operation}`,
    `- **Outcome:** ${event.outcome}`,
    `- **Runner:** ${event.runner ?? 'unknown'}`,
    `- **Run:** ${event.runUrl !== undefined ? `[${event.runUrl}](${event.runUrl})` : 'unknown'}`,
    `- **Newest good backup:** ${event.newestGoodBackup !== undefined ? `\`${event.newestGoodBackup}\`` : 'none known'}`,
  ];
}

/** Body of a new alarm issue. Pure. */
export function issueBody(event: AlarmEvent): string {
  return [
    clusterMarker(event.cluster, event.operation),
    `etcd-dr **${event.operation}** for cluster \`${event.cluster}\` ended **${event.outcome}**.`,
    ...whatFailed(event),
    '---',
    'Further failures are added as comments. This issue is closed automatically by the next successful run.',
    '',
  ].join('\n');
}

/** Comment for a further failure on an open alarm. Pure. */
export function failureComment(event: AlarmEvent): string {
  return [
    `etcd-dr **${event.operation}** for cluster \`${event.cluster}\` ended **${event.outcome}** again.`,
    ...whatFailed(event),
  ].join('\n');
}

/** The run's details and its summary, as an issue and its comments show them. */
function whatFailed(event: AlarmEvent): string[] {
  return ['', ...details(event), '', '### What failed', '', truncate(event.summary), ''];
}

/** Comment posted before closing an alarm. Pure. */
export function recoveredComment(event: AlarmEvent): string {
  return [
    `Recovered: etcd-dr **${event.operation}** for cluster \`${event.cluster}\` succeeded.`,
    '',
    ...details(event),
    '',
    truncate(event.summary),
    '',
    'Closing this issue.',
    '',
  ].join('\n');
}

interface IssueLite {
  readonly number: number;
  readonly body?: string | null;
  readonly pull_request?: unknown;
}

/** Finds the open alarm issue of `cluster` (the oldest, should there be several). */
async function findOpenIssue(deps: AlarmDeps, cluster: string, operation: Operation, label: string): Promise<number | undefined> {
  const marker = clusterMarker(cluster, operation);
  const perPage = 100;
  const found: number[] = [];
  for (let page = 1; page <= 10; page++) {
    const response = await withGitHubRetry(
      `listing open issues labelled ${label} in ${deps.owner}/${deps.repo}`,
      () =>
        deps.octokit.rest.issues.listForRepo({
          owner: deps.owner,
          repo: deps.repo,
          labels: label,
          state: 'open',
          per_page: perPage,
          page,
        }),
      retryDeps(deps),
    );
    const issues: readonly IssueLite[] = response.data;
    for (const issue of issues) {
      if (issue.pull_request === undefined && (issue.body ?? '').includes(marker)) found.push(issue.number);
    }
    if (issues.length < perPage) break;
  }
  return found.length === 0 ? undefined : Math.min(...found);
}

function retryDeps(deps: AlarmDeps): { sleep: Sleep; log: NotifyLog; policy?: RetryPolicy } {
  return deps.retryPolicy !== undefined
    ? { sleep: deps.sleep, log: deps.log, policy: deps.retryPolicy }
    : { sleep: deps.sleep, log: deps.log };
}

/**
 * Reflects a run's outcome on GitHub. Failed/degraded: opens the cluster's alarm issue, or comments on
 * the open one. Success: comments "recovered" on the open one and closes it; without one, does nothing.
 * Never throws.
 */
export async function reportOutcome(deps: AlarmDeps, event: AlarmEvent): Promise<AlarmResult> {
  const labels = event.labels !== undefined && event.labels.length > 0 ? [...event.labels] : [...DEFAULT_ALARM_LABELS];
  const where = `${deps.owner}/${deps.repo}`;
  const rd = retryDeps(deps);
  let action: AlarmAction = 'none';
  let issueNumber: number | undefined;
  try {
    issueNumber = await findOpenIssue(deps, event.cluster, event.operation, labels[0]!);
    if (event.outcome === 'success') {
      if (issueNumber === undefined) return { ok: true, action: 'none' };
      const n = issueNumber;
      await withGitHubRetry(
        `commenting "recovered" on issue #${n} in ${where}`,
        () => deps.octokit.rest.issues.createComment({ owner: deps.owner, repo: deps.repo, issue_number: n, body: recoveredComment(event) }),
        rd,
      );
      action = 'commented';
      await withGitHubRetry(
        `closing issue #${n} in ${where}`,
        () => deps.octokit.rest.issues.update({ owner: deps.owner, repo: deps.repo, issue_number: n, state: 'closed', state_reason: 'completed' }),
        rd,
      );
      deps.log.info(`GitHub: ${event.cluster} recovered; closed alarm issue #${n} in ${where}`);
      return { ok: true, action: 'closed', issueNumber: n };
    }
    if (issueNumber === undefined) {
      const created = await withGitHubRetry(
        `opening an alarm issue in ${where}`,
        () =>
          deps.octokit.rest.issues.create({
            owner: deps.owner,
            repo: deps.repo,
            title: issueTitle(event.cluster, event.operation),
            body: issueBody(event),
            labels,
          }),
        rd,
      );
      issueNumber = created.data.number;
      deps.log.info(`GitHub: opened alarm issue #${issueNumber} for ${event.cluster} in ${where}`);
      return { ok: true, action: 'opened', issueNumber };
    }
    const n = issueNumber;
    await withGitHubRetry(
      `commenting on alarm issue #${n} in ${where}`,
      () => deps.octokit.rest.issues.createComment({ owner: deps.owner, repo: deps.repo, issue_number: n, body: failureComment(event) }),
      rd,
    );
    deps.log.info(`GitHub: added a comment to alarm issue #${n} for ${event.cluster} in ${where}`);
    return { ok: true, action: 'commented', issueNumber: n };
  } catch (error) {
    const message = `could not report ${event.operation} ${event.outcome} of ${event.cluster} to GitHub: ${messageOf(error)}`;
    deps.log.warning(message);
    return issueNumber !== undefined ? { ok: false, action, issueNumber, error: message } : { ok: false, action, error: message };
  }
}
