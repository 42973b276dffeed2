/**
 * The restore action's post step (`post-if: cancelled()`): the runner's backstop for a restore killed before
 * it could put etcd back itself (SIGKILL comes about 10 s after the cancel's SIGINT). It reads the progress
 * file the restore keeps beside the data dir and applies the same rule as an in-process cancel (SAFE_STATE in
 * safeState.ts). No progress file: nothing happened that needs undoing, and the post does nothing; that is
 * also what it does after every run of the root action that was not a restore.
 */
import type { Log } from '../base/log.ts';
import { progressFile, readProgress } from './progress.ts';
import { putBack } from './safeState.ts';
import type { ServiceControl } from './service.ts';

export interface RestorePostInput {
  /** The data-dir input, checked (assertDataDir); undefined when it was not valid (the restore never began). */
  readonly dataDir: string | undefined;
  /** The root action's `command` input; undefined for the restore action. */
  readonly command: string | undefined;
  /** How etcd is started (from etcd-service or the stop/start commands); called only when etcd must be started. */
  service(): ServiceControl;
}

export interface RestorePostDeps {
  readonly log: Log;
  /** Whether a process with this id runs (default: kill(pid, 0)). */
  readonly processRuns?: (pid: number) => boolean;
}

/** Puts the node back after an interrupted restore; resolves with what was done (undefined: nothing to do). */
export async function restorePostImpl(input: RestorePostInput, deps: RestorePostDeps): Promise<string | undefined> {
  if (input.command !== undefined && input.command !== 'restore') return undefined;
  const { dataDir } = input;
  if (dataDir === undefined) {
    // The main step refused this data-dir before doing anything: there is nothing to put back.
    deps.log.info('restore post step: data-dir is not valid, so the restore never began: nothing to do');
    return undefined;
  }
  const progress = await readProgress(dataDir);
  if (!progress) {
    deps.log.info(`restore post step: no interrupted restore of ${dataDir} (no ${progressFile(dataDir)}): nothing to do`);
    return undefined;
  }
  const processRuns = deps.processRuns ?? pidRuns;
  if (progress.pid !== process.pid && processRuns(progress.pid)) {
    // Another restore (the CLI, another job) may be working on this data dir right now: never act under it.
    throw new Error(
      `${progressFile(dataDir)} belongs to process ${progress.pid}, which still runs: not touching ${dataDir} under a running restore`,
    );
  }
  deps.log.warning(
    `restore post step: the restore of ${dataDir} from ${progress.backup} (process ${progress.pid}, started ${progress.startedAt}) ` +
      `was interrupted at the step "${progress.step}"; putting the node in a safe state`,
  );
  const done = await putBack(progress, {
    log: deps.log,
    start: async () => {
      const control = input.service();
      return control.resume?.() ?? `did not start etcd (${control.describe()}): start it yourself`;
    },
  });
  return `the interrupted restore was ended ${done}`;
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
