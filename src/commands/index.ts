/** The one dispatcher both front ends call: command name -> command implementation. */
import type { CliCommand, Command } from '../config/names.ts';
import type { SettingSource } from '../config/source.ts';
import { backupCommand } from './backup.ts';
import { checkClusterCommand } from './checkCluster.ts';
import { journalCommand } from './journal.ts';
import type { CommandDeps } from './context.ts';
import { importCommand } from './import.ts';
import { listCommand } from './list.ts';
import { pruneCommand } from './prune.ts';
import type { CommandReport } from './report.ts';
import { restoreCommand } from './restore.ts';
import { verifyCommand } from './verify.ts';
import { watchdogCommand } from './watchdog.ts';

export type { CommandDeps } from './context.ts';
export type { CommandReport } from './report.ts';

export function runCommand(command: Command, source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  switch (command) {
    case 'backup':
      return backupCommand(source, deps);
    case 'restore':
      return restoreCommand(source, deps);
    case 'verify':
      return verifyCommand(source, deps);
    case 'list':
      return listCommand(source, deps);
    case 'prune':
      return pruneCommand(source, deps);
    case 'watchdog':
      return watchdogCommand(source, deps);
    case 'check-cluster':
      return checkClusterCommand(source, deps);
    case 'journal':
      return journalCommand(source, deps);
  }
}

/** The CLI-only commands (CLI_COMMANDS): same settings and report as the others, no action entry. */
export function runCliCommand(command: CliCommand, source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  switch (command) {
    case 'import':
      return importCommand(source, deps);
  }
}
