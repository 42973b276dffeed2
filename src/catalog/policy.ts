/**
 * The retention policy: its rules, defaults and checks. Semantics are restic's `forget` (see retention.ts).
 * Reading it from inputs is config/retention.ts's.
 */
import { formatDuration } from '../base/duration.ts';
import { InputError } from '../errors.ts';

export interface RetentionPolicy {
  /** Keep every backup younger than this many milliseconds; 0 disables the rule. */
  readonly keepWithinMs: number;
  /** Keep the N newest backups; always >= 1. */
  readonly keepLast: number;
  /** Keep the newest backup of each of the N most recent UTC hours that have backups; 0 disables. */
  readonly keepHourly: number;
  /** Likewise per UTC day. */
  readonly keepDaily: number;
  /** Likewise per ISO-8601 week (UTC). */
  readonly keepWeekly: number;
  /** Likewise per UTC month. */
  readonly keepMonthly: number;
}

export const DEFAULT_RETENTION_POLICY: RetentionPolicy = Object.freeze({
  keepWithinMs: 48 * 3_600_000,
  keepLast: 3,
  keepHourly: 0,
  keepDaily: 0,
  keepWeekly: 0,
  keepMonthly: 0,
});

/** `keep-within 2d, keep-last 3, keep-daily 7` (rules that are off are left out), for logs and summaries. */
export function describePolicy(policy: RetentionPolicy): string {
  const parts: string[] = [];
  if (policy.keepWithinMs > 0) parts.push(`keep-within ${formatDuration(policy.keepWithinMs)}`);
  parts.push(`keep-last ${policy.keepLast}`);
  if (policy.keepHourly > 0) parts.push(`keep-hourly ${policy.keepHourly}`);
  if (policy.keepDaily > 0) parts.push(`keep-daily ${policy.keepDaily}`);
  if (policy.keepWeekly > 0) parts.push(`keep-weekly ${policy.keepWeekly}`);
  if (policy.keepMonthly > 0) parts.push(`keep-monthly ${policy.keepMonthly}`);
  return parts.join(', ');
}

/**
 * Checks a policy built in code (parseRetentionPolicy's results always pass): whole, non-negative
 * numbers and keep-last >= 1, so no policy can ever select every backup for deletion.
 */
export function assertRetentionPolicy(policy: RetentionPolicy): RetentionPolicy {
  const counts: [string, number, number][] = [
    ['keep-last', policy.keepLast, 1],
    ['keep-hourly', policy.keepHourly, 0],
    ['keep-daily', policy.keepDaily, 0],
    ['keep-weekly', policy.keepWeekly, 0],
    ['keep-monthly', policy.keepMonthly, 0],
  ];
  for (const [name, value, min] of counts) {
    if (!Number.isSafeInteger(value) || value < min) {
      throw new InputError(`retention policy: ${name} must be a whole number >= ${min}, got ${String(value)}`);
    }
  }
  if (!Number.isSafeInteger(policy.keepWithinMs) || policy.keepWithinMs < 0) {
    throw new InputError(
      `retention policy: keep-within must be a whole number of milliseconds >= 0, got ${String(policy.keepWithinMs)}`,
    );
  }
  return policy;
}
