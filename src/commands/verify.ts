import type { SettingSource } from '../config/source.ts';
import { InputError } from '../errors.ts';
import type { CommandDeps } from './context.ts';
import type { CommandReport } from './report.ts';

export async function verifyCommand(_source: SettingSource, _deps: CommandDeps): Promise<CommandReport> {
  throw new InputError('verify is not implemented yet');
}
