/**
 * The retention policy and the parsing of its inputs (workflow inputs or CLI flags, both arrive as strings).
 * Semantics are restic's `forget` (see retention.ts); parsing is strict: a malformed value is an InputError
 * naming the input and quoting the value, never silently replaced by a default. An absent or empty input
 * (GitHub passes unset inputs as '') takes the default.
 */
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

/** The input names, as in action.yml and as CLI flags (`--keep-last`). */
export const RETENTION_INPUTS = [
  'keep-within',
  'keep-last',
  'keep-hourly',
  'keep-daily',
  'keep-weekly',
  'keep-monthly',
] as const;

const UNIT_MS = { w: 7 * 86_400_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
type Unit = keyof typeof UNIT_MS;
const UNIT_ORDER: readonly Unit[] = ['w', 'd', 'h', 'm', 's'];
/** Larger than any sensible retention (about 1000 years), small enough to stay exact in a double. */
const MAX_DURATION_MS = 1000 * 365 * 86_400_000;
/** Larger than any sensible count; rejects typos like 30000000000. */
const MAX_COUNT = 1_000_000;

/**
 * Parses a duration: one or more `<whole number><unit>` parts with units w (weeks), d (days), h (hours),
 * m (minutes), s (seconds), largest first, each unit at most once: `48h`, `30m`, `7d`, `2w`, `1d12h`.
 * A bare `0` means zero. Throws InputError naming `inputName`.
 */
export function parseDuration(text: string, inputName = 'duration'): number {
  const value = text.trim();
  const expected = `expected a duration like 48h, 30m, 7d, 2w or 1d12h (units w, d, h, m, s), or 0 to disable`;
  if (value === '0') return 0;
  if (!/^(\d+[wdhms])+$/.test(value)) {
    throw new InputError(`${inputName} must be a duration, got ${JSON.stringify(text)}: ${expected}`);
  }
  let total = 0;
  let lastUnitIndex = -1;
  for (const part of value.matchAll(/(\d+)([wdhms])/g)) {
    const amount = Number(part[1]);
    const unit = part[2] as Unit;
    const unitIndex = UNIT_ORDER.indexOf(unit);
    if (unitIndex <= lastUnitIndex) {
      throw new InputError(
        `${inputName} must be a duration, got ${JSON.stringify(text)}: each unit may appear once, largest first (e.g. 1d12h)`,
      );
    }
    lastUnitIndex = unitIndex;
    total += amount * UNIT_MS[unit];
  }
  if (!Number.isSafeInteger(total) || total > MAX_DURATION_MS) {
    throw new InputError(`${inputName} ${JSON.stringify(text)} is too long (at most about 1000 years)`);
  }
  return total;
}

/**
 * Formats milliseconds back as a duration the way people write them: hours below a week (`48h`, `1h30m`),
 * whole weeks as weeks (`2w`), days otherwise (`10d`, `8d12h`); `0` for zero.
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  const week = UNIT_MS.w;
  const units: readonly Unit[] = ms < week ? ['h', 'm', 's'] : ms % week === 0 ? ['w'] : ['d', 'h', 'm', 's'];
  let rest = ms;
  let text = '';
  for (const unit of units) {
    const amount = Math.floor(rest / UNIT_MS[unit]);
    if (amount > 0) {
      text += `${amount}${unit}`;
      rest -= amount * UNIT_MS[unit];
    }
  }
  return rest > 0 ? `${text}${rest}ms` : text;
}

function parseCount(text: string, inputName: string, min: number): number {
  const value = text.trim();
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new InputError(`${inputName} must be a whole number >= ${min}, got ${JSON.stringify(text)}`);
  }
  const count = Number(value);
  if (count > MAX_COUNT) {
    throw new InputError(`${inputName} must be at most ${MAX_COUNT}, got ${JSON.stringify(text)}`);
  }
  return count;
}

function given(inputs: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const value = inputs[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * Builds a policy from inputs keyed by their input names (`keep-within`, `keep-last`, ...). Other keys are
 * ignored (callers may pass all of a workflow's inputs). Absent or empty inputs take the defaults:
 * keep-within 48h, keep-last 3, the bucket rules 0.
 */
export function parseRetentionPolicy(inputs: Readonly<Record<string, string | undefined>>): RetentionPolicy {
  const d = DEFAULT_RETENTION_POLICY;
  const count = (name: string, fallback: number, min: number): number => {
    const value = given(inputs, name);
    return value === undefined ? fallback : parseCount(value, name, min);
  };
  const within = given(inputs, 'keep-within');
  return Object.freeze({
    keepWithinMs: within === undefined ? d.keepWithinMs : parseDuration(within, 'keep-within'),
    keepLast: count('keep-last', d.keepLast, 1),
    keepHourly: count('keep-hourly', d.keepHourly, 0),
    keepDaily: count('keep-daily', d.keepDaily, 0),
    keepWeekly: count('keep-weekly', d.keepWeekly, 0),
    keepMonthly: count('keep-monthly', d.keepMonthly, 0),
  });
}

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
