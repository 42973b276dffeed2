/**
 * The watchdog: a scheduled check, independent of the backup job, that the newest backup on every site
 * is recent and that the sites agree. It catches what a failure alarm cannot: a backup job that stopped
 * running at all (disabled workflow, dead runner, expired secret before the job even starts). Pure.
 */
import { InputError } from '../errors.ts';
import { formatDuration, parseDuration } from '../base/duration.ts';

export const DEFAULT_MAX_AGE_MS = 30 * 60 * 1000;

/**
 * Parses the watchdog's `max-age` (or the disagreement threshold) with the shared duration syntax of
 * catalog/policy.ts (`30m`, `2h`, `1d12h`); an empty input takes `fallbackMs`. Zero is rejected: every
 * backup would be stale.
 */
export function parseMaxAge(text: string | undefined, inputName = 'max-age', fallbackMs = DEFAULT_MAX_AGE_MS): number {
  if (text === undefined || text.trim() === '') return fallbackMs;
  const ms = parseDuration(text, inputName);
  if (ms <= 0) throw new InputError(`${inputName} must be longer than 0, got ${JSON.stringify(text)}`);
  return ms;
}

/** Durations in messages, rounded to whole seconds (`45m`, `1h30m`). */
function human(ms: number): string {
  const rounded = Math.round(Math.abs(ms) / 1000) * 1000;
  return rounded === 0 ? '0s' : formatDuration(rounded);
}

export interface SiteFreshness {
  readonly storeId: string;
  readonly newestBackupTime?: Date;
  readonly newestBackupName?: string;
  /** Set when the site could not be listed. */
  readonly error?: string;
}

export interface FreshnessInput {
  readonly cluster: string;
  readonly sites: readonly SiteFreshness[];
  /** The newest backup on each reachable site must be at most this old. */
  readonly maxAgeMs: number;
  /** The sites' newest backups may differ by at most this much. Default: maxAgeMs. */
  readonly maxDisagreementMs?: number;
  readonly now: Date;
}

export interface FreshnessReport {
  readonly outcome: 'success' | 'failed';
  /** One sentence per problem, naming the site. Empty on success. */
  readonly problems: string[];
  /** The newest backup on any reachable site (what a restore of `latest` would use). */
  readonly newest?: { readonly storeId: string; readonly name?: string; readonly time: Date };
}

function label(site: SiteFreshness): string {
  return site.newestBackupName !== undefined ? `${site.newestBackupName}` : 'its newest backup';
}

/** Assesses whether the cluster's backups are fresh and consistent across sites. Pure. */
export function assessFreshness(input: FreshnessInput): FreshnessReport {
  const { cluster, now, maxAgeMs } = input;
  const maxDisagreementMs = input.maxDisagreementMs ?? maxAgeMs;
  const problems: string[] = [];
  if (input.sites.length === 0) {
    problems.push(`cluster ${cluster}: no backup sites are configured`);
  }
  const dated: Array<{ site: SiteFreshness; time: Date }> = [];
  for (const site of input.sites) {
    if (site.error !== undefined) {
      problems.push(`${site.storeId} is unreachable: ${site.error}`);
      continue;
    }
    if (site.newestBackupTime === undefined) {
      problems.push(`${site.storeId} holds no backup of cluster ${cluster}`);
      continue;
    }
    dated.push({ site, time: site.newestBackupTime });
    const age = now.getTime() - site.newestBackupTime.getTime();
    if (age > maxAgeMs) {
      problems.push(
        `${site.storeId}: newest backup ${label(site)} is ${human(age)} old (taken ${site.newestBackupTime.toISOString()}), more than the max-age of ${human(maxAgeMs)}`,
      );
    }
  }
  let newest: FreshnessReport['newest'];
  if (dated.length > 0) {
    const sorted = [...dated].sort((a, b) => b.time.getTime() - a.time.getTime());
    const first = sorted[0]!;
    const last = sorted[sorted.length - 1]!;
    newest = {
      storeId: first.site.storeId,
      time: first.time,
      ...(first.site.newestBackupName !== undefined ? { name: first.site.newestBackupName } : {}),
    };
    const gap = first.time.getTime() - last.time.getTime();
    if (gap > maxDisagreementMs) {
      problems.push(
        `sites disagree: ${last.site.storeId}'s newest backup (${label(last.site)}) is ${human(gap)} behind ${first.site.storeId}'s (${label(first.site)}), more than the allowed ${human(maxDisagreementMs)}`,
      );
    }
  }
  return {
    outcome: problems.length === 0 ? 'success' : 'failed',
    problems,
    ...(newest !== undefined ? { newest } : {}),
  };
}

export interface JournalFreshnessInput {
  readonly cluster: string;
  /** The newest `completeThrough.at` of any segment manifest or progress mark on any site; undefined: no journal. */
  readonly newestCompleteAt?: Date;
  readonly newestCompleteRevision?: number;
  /** `journal-max-age`; undefined: the journal is not watched. */
  readonly maxAgeMs?: number;
  readonly now: Date;
}

/**
 * The journal's freshness: a follower that stopped writing (no writer, every site refusing it) leaves its newest
 * segment or progress mark behind while the backups may still be fresh, so it has its own threshold. A cluster
 * without any journal on the sites is not checked (the journal is optional). Pure.
 */
export function assessJournalFreshness(input: JournalFreshnessInput): string[] {
  const { maxAgeMs, newestCompleteAt, now } = input;
  if (maxAgeMs === undefined || newestCompleteAt === undefined) return [];
  const age = now.getTime() - newestCompleteAt.getTime();
  if (age <= maxAgeMs) return [];
  const through = input.newestCompleteRevision !== undefined ? ` (complete through revision ${input.newestCompleteRevision})` : '';
  return [
    `cluster ${input.cluster}: the journal's newest segment or progress mark is ${human(age)} old${through}, as of ${newestCompleteAt.toISOString()}, more than the journal-max-age of ${human(maxAgeMs)}`,
  ];
}
