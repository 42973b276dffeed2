/**
 * Where settings come from. The action reads `INPUT_*` variables, the CLI reads flags; both hand the
 * engine the same validated values through these helpers. Parsing rejects bad values with an
 * InputError naming the setting; it never silently falls back to a default.
 */
import { InputError } from '../errors.ts';
import type { Inputs } from './names.ts';

export interface SettingSource {
  /** The raw value, or undefined when not given (an empty string counts as not given). */
  get(name: Inputs): string | undefined;
  /** Marks a value as secret so it never appears in logs. */
  secret(value: string): void;
  /** The environment (for ETCDCTL_* defaults). */
  readonly env: NodeJS.ProcessEnv;
}

export function text(source: SettingSource, name: Inputs, fallback?: string): string | undefined {
  const value = source.get(name)?.trim();
  return value === undefined || value === '' ? fallback : value;
}

export function required(source: SettingSource, name: Inputs, why = ''): string {
  const value = text(source, name);
  if (value === undefined) throw new InputError(`${name} is required${why ? `: ${why}` : ''}`);
  return value;
}

export function secretText(source: SettingSource, name: Inputs): string | undefined {
  const value = source.get(name);
  if (value === undefined || value.trim() === '') return undefined;
  source.secret(value);
  return value;
}

export function bool(source: SettingSource, name: Inputs, fallback: boolean): boolean {
  const value = text(source, name);
  if (value === undefined) return fallback;
  if (/^(true|yes|1)$/i.test(value)) return true;
  if (/^(false|no|0)$/i.test(value)) return false;
  throw new InputError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

export function wholeNumber(source: SettingSource, name: Inputs, fallback: number, min = 0): number {
  const value = text(source, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new InputError(`${name} must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

export function oneOf<T extends string>(source: SettingSource, name: Inputs, allowed: readonly T[], fallback: T): T {
  const value = text(source, name);
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new InputError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** Splits a list given one per line or comma separated. */
export function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[\n,]/)
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
