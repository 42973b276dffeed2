/**
 * Which backups a retention policy keeps. Pure: no I/O, no clock (`now` is a parameter), inputs untouched.
 *
 * Semantics are restic's `forget`:
 *  - keep-within D: every backup with time > now - D (0 disables the rule);
 *  - keep-last N: the N newest backups;
 *  - keep-hourly/daily/weekly/monthly N: walking from the newest backup down, the newest backup of each
 *    of the N most recent UTC hours/days/ISO weeks/months that have backups;
 *  - a backup kept by any rule stays, and every reason that keeps it is reported.
 * Two safety rules override the policy:
 *  - the newest good backup is always kept, whatever the policy;
 *  - a backup that is not good (its manifest cannot be read, its object is missing...) is always kept:
 *    we never delete what we cannot read. Such backups do not take part in the rules above (they do not
 *    use up a keep-last slot or a bucket), so the policy always counts restorable backups.
 */
import { newestBackupFirst } from '../repository/layout.ts';
import { formatDuration } from '../base/duration.ts';
import { assertRetentionPolicy, describePolicy, type RetentionPolicy } from './policy.ts';

export interface BackupRef {
  readonly name: string;
  readonly time: Date;
  /** Manifest readable and object present. */
  readonly good: boolean;
  /** Why a backup is not good, used as its reason; defaults to 'manifest unreadable'. */
  readonly problem?: string;
}

export interface Decision<B extends BackupRef = BackupRef> {
  readonly backup: B;
  readonly keep: boolean;
  /** Why it is kept (every rule that keeps it), or why it is not. */
  readonly reasons: readonly string[];
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

export function hourBucket(time: Date): string {
  return `${time.getUTCFullYear()}-${pad(time.getUTCMonth() + 1)}-${pad(time.getUTCDate())}T${pad(time.getUTCHours())}`;
}

export function dayBucket(time: Date): string {
  return `${time.getUTCFullYear()}-${pad(time.getUTCMonth() + 1)}-${pad(time.getUTCDate())}`;
}

/** ISO-8601 week of the UTC date, e.g. `2026-W48` (the week-year can differ from the calendar year). */
export function weekBucket(time: Date): string {
  const day = new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), time.getUTCDate()));
  const weekday = day.getUTCDay() === 0 ? 7 : day.getUTCDay();
  // The Thursday of this week decides its year.
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const year = day.getUTCFullYear();
  const week = Math.ceil(((day.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return `${year}-W${pad(week)}`;
}

export function monthBucket(time: Date): string {
  return `${time.getUTCFullYear()}-${pad(time.getUTCMonth() + 1)}`;
}

interface BucketRule {
  readonly label: string;
  readonly count: number;
  readonly bucket: (time: Date) => string;
}

/**
 * Newest first; equal times by revision (for backup names), then by name, descending, so the order never
 * depends on the input order. See repository/layout.ts newestBackupFirst.
 */
export function newestFirst<B extends BackupRef>(a: B, b: B): number {
  return newestBackupFirst(a, b);
}

/** Decides, for each backup, whether `policy` keeps it at `now`. Returns one decision per backup, newest first. */
export function applyPolicy<B extends BackupRef>(
  backups: readonly B[],
  policy: RetentionPolicy,
  now: Date,
): Decision<B>[] {
  assertRetentionPolicy(policy);
  if (Number.isNaN(now.getTime())) throw new Error('applying the retention policy: `now` is not a valid date');
  const seen = new Set<string>();
  for (const backup of backups) {
    if (Number.isNaN(backup.time.getTime())) {
      throw new Error(`applying the retention policy: backup ${backup.name} has an invalid time`);
    }
    if (seen.has(backup.name)) {
      throw new Error(`applying the retention policy: backup ${backup.name} is listed twice`);
    }
    seen.add(backup.name);
  }

  const sorted = [...backups].sort(newestFirst);
  const reasons = new Map<B, string[]>(sorted.map((b) => [b, []]));
  const good = sorted.filter((b) => b.good);

  const withinLimit = now.getTime() - policy.keepWithinMs;
  const withinLabel = `within ${formatDuration(policy.keepWithinMs)}`;
  const buckets: BucketRule[] = [
    { label: 'hourly', count: policy.keepHourly, bucket: hourBucket },
    { label: 'daily', count: policy.keepDaily, bucket: dayBucket },
    { label: 'weekly', count: policy.keepWeekly, bucket: weekBucket },
    { label: 'monthly', count: policy.keepMonthly, bucket: monthBucket },
  ];
  const remaining = buckets.map((rule) => rule.count);
  const lastBucket: (string | undefined)[] = buckets.map(() => undefined);

  good.forEach((backup, index) => {
    const why = reasons.get(backup)!;
    if (index === 0) why.push('newest good backup');
    if (index < policy.keepLast) why.push(`last ${policy.keepLast}`);
    if (policy.keepWithinMs > 0 && backup.time.getTime() > withinLimit) why.push(withinLabel);
    buckets.forEach((rule, r) => {
      if (remaining[r]! <= 0) return;
      const key = rule.bucket(backup.time);
      if (key === lastBucket[r]) return;
      lastBucket[r] = key;
      remaining[r] = remaining[r]! - 1;
      why.push(`${rule.label} ${key}`);
    });
  });

  const dropped = `no rule keeps it (${describePolicy(policy)})`;
  return sorted.map((backup) => {
    if (!backup.good) return { backup, keep: true, reasons: [backup.problem ?? 'manifest unreadable'] };
    const why = reasons.get(backup)!;
    return why.length > 0 ? { backup, keep: true, reasons: why } : { backup, keep: false, reasons: [dropped] };
  });
}
