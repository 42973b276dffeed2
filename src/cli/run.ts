/**
 * The break-glass command line: the same commands as the action, for when GitHub or the runners are
 * down. Every action input is a flag of the same name (`--cluster-name`, `--stores`...). Secrets should
 * not be typed on a command line (they show in `ps`): any flag can instead be read from a file with
 * `--<name>-file PATH`, or from the environment as `ETCD_DR_<NAME>` (e.g. ETCD_DR_SSH_PRIVATE_KEY).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runCliCommand, runCommand } from '../commands/index.ts';
import { CLI_COMMANDS, COMMANDS, Inputs, type CliCommand, type Command } from '../config/names.ts';
import type { SettingSource } from '../config/source.ts';
import { tuneHeapFor } from '../engine/heap.ts';
import type { Log } from '../base/log.ts';
import { InputError, messageOf } from '../errors.ts';
import { TOOL_VERSION } from '../version.ts';
import { HELP } from './help.ts';
import { statusCommand } from './status.ts';

const INPUT_NAMES = Object.values(Inputs).filter((name) => name !== Inputs.Command);

export function cliSettings(argv: readonly string[], env: NodeJS.ProcessEnv): SettingSource {
  const options: Record<string, { type: 'string'; multiple: true }> = {};
  for (const name of INPUT_NAMES) {
    options[name] = { type: 'string', multiple: true };
    options[`${name}-file`] = { type: 'string', multiple: true };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true });
  } catch (error) {
    throw new InputError(`${messageOf(error)} (see etcd-dr --help)`);
  }
  const values = parsed.values as Record<string, string[] | undefined>;
  const get = (name: Inputs): string | undefined => {
    const direct = values[name];
    const fromFile = values[`${name}-file`];
    if (direct && fromFile) throw new InputError(`give --${name} or --${name}-file, not both`);
    // Repeated flags (e.g. several --stores) become one value per line, as in a workflow's `with:`.
    if (direct) return direct.join('\n');
    if (fromFile) return fromFile.map((path) => readSettingFile(name, path)).join('\n');
    return env[`ETCD_DR_${name.toUpperCase().replace(/-/g, '_')}`];
  };
  return { get, secret: () => undefined, env };
}

function readSettingFile(name: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new InputError(`--${name}-file: cannot read ${path}: ${messageOf(error)}`);
  }
}

const stderrLog: Log = {
  info: (message) => process.stderr.write(`${message}\n`),
  warning: (message) => process.stderr.write(`warning: ${message}\n`),
  error: (message) => process.stderr.write(`error: ${message}\n`),
};

/** Runs the CLI; returns the exit code (0 success, 1 failed or degraded, 2 bad usage). */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, log: Log = stderrLog): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version') {
    process.stdout.write(`${TOOL_VERSION}\n`);
    return 0;
  }
  if (command === 'status') {
    try {
      const result = await statusCommand(cliSettings(rest, env), new Date());
      process.stdout.write(result.output);
      if (result.failure) log.error(result.failure);
      return result.failure ? 1 : 0;
    } catch (error) {
      log.error(messageOf(error));
      return error instanceof InputError ? 2 : 1;
    }
  }
  const cliOnly = (CLI_COMMANDS as readonly string[]).includes(command);
  if (!cliOnly && !(COMMANDS as readonly string[]).includes(command)) {
    log.error(`unknown command ${JSON.stringify(command)}; commands: ${[...COMMANDS, ...CLI_COMMANDS].join(', ')} (see etcd-dr --help)`);
    return 2;
  }
  try {
    const source = cliSettings(rest, env);
    const deps = {
      log,
      now: () => new Date(),
      sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    };
    if (!cliOnly) tuneHeapFor(command as Command);
    const report = cliOnly ? await runCliCommand(command as CliCommand, source, deps) : await runCommand(command as Command, source, deps);
    process.stdout.write(`${report.summary}\n\n`);
    for (const [name, value] of Object.entries(report.outputs)) process.stdout.write(`${name}=${value}\n`);
    if (report.failure) log.error(report.failure);
    return report.failure ? 1 : 0;
  } catch (error) {
    log.error(messageOf(error));
    return error instanceof InputError ? 2 : 1;
  }
}
