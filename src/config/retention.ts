/**
 * Retention settings (restic's keep-* flags) read into a validated policy. Inputs arrive as strings
 * (workflow inputs or CLI flags); parsing is strict: a malformed value is an InputError naming the input and
 * quoting the value, never silently replaced by a default. An absent or empty input (GitHub passes unset
 * inputs as '') takes the default.
 */
import { parseDuration } from '../base/duration.ts';
import { DEFAULT_RETENTION_POLICY, type RetentionPolicy } from '../catalog/policy.ts';
import { InputError } from '../errors.ts';
import { Inputs } from './names.ts';
import { text, type SettingSource } from './source.ts';

/** The input names, as in action.yml and as CLI flags (`--keep-last`). */
export const RETENTION_INPUTS = [
  Inputs.KeepWithin,
  Inputs.KeepLast,
  Inputs.KeepHourly,
  Inputs.KeepDaily,
  Inputs.KeepWeekly,
  Inputs.KeepMonthly,
] as const;

/** Larger than any sensible count; rejects typos like 30000000000. */
const MAX_COUNT = 1_000_000;

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
  const within = given(inputs, Inputs.KeepWithin);
  return Object.freeze({
    keepWithinMs: within === undefined ? d.keepWithinMs : parseDuration(within, Inputs.KeepWithin),
    keepLast: count(Inputs.KeepLast, d.keepLast, 1),
    keepHourly: count(Inputs.KeepHourly, d.keepHourly, 0),
    keepDaily: count(Inputs.KeepDaily, d.keepDaily, 0),
    keepWeekly: count(Inputs.KeepWeekly, d.keepWeekly, 0),
    keepMonthly: count(Inputs.KeepMonthly, d.keepMonthly, 0),
  });
}

export function retentionPolicy(source: SettingSource): RetentionPolicy {
  const values: Record<string, string | undefined> = {};
  for (const name of RETENTION_INPUTS) values[name] = text(source, name);
  return parseRetentionPolicy(values);
}
