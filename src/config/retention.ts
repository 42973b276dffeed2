/** Retention settings (restic's keep-* flags) read into a validated policy. */
import { parseRetentionPolicy, RETENTION_INPUTS, type RetentionPolicy } from '../catalog/policy.ts';
import type { Inputs } from './names.ts';
import { text, type SettingSource } from './source.ts';

export function retentionPolicy(source: SettingSource): RetentionPolicy {
  const values: Record<string, string | undefined> = {};
  for (const name of RETENTION_INPUTS) values[name] = text(source, name as Inputs);
  return parseRetentionPolicy(values);
}
