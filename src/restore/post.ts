/**
 * The restore action's post step (`post-if: cancelled()`): the runner's backstop for a restore killed before
 * it could put etcd back itself (SIGKILL comes about 10 s after the cancel's SIGINT). It reads the progress
 * file the restore keeps beside the data dir and applies the same rule as an in-process cancel (SAFE_STATE in
 * safeState.ts). No progress file: nothing happened that needs undoing, and the post does nothing; that is
 * also what it does after every run of the root action that was not a restore.
 */
import { etcdAccess } from '../config/etcd.ts';
import { Inputs } from '../config/names.ts';
import { KUBEADM_DATA_DIR } from '../config/restore.ts';
import { text, type SettingSource } from '../config/source.ts';
import type { Log } from '../base/log.ts';
import { etcdAnswers } from '../etcd/serving.ts';
import { assertDataDir } from './member.ts';
import { progressFile, readProgress } from './progress.ts';
import { putBack } from './safeState.ts';
import { execRunner, parseEtcdService, serviceControl } from './service.ts';

export interface RestorePostDeps {
  readonly log: Log;
  readonly sleep: (ms: number) => Promise<void>;
  /** Whether a process with this id runs (default: kill(pid, 0)). */
  readonly processRuns?: (pid: number) => boolean;
}

/** Puts the node back after an interrupted restore; resolves with what was done (undefined: nothing to do). */
export async function restorePostImpl(source: SettingSource, deps: RestorePostDeps): Promise<string | undefined> {
  const command = text(source, Inputs.Command);
  if (command !== undefined && command !== 'restore') return undefined;
  let dataDir: string;
  try {
    dataDir = assertDataDir(text(source, Inputs.DataDir, KUBEADM_DATA_DIR)!);
  } catch {
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
      const control = serviceFrom(source, deps);
      return control.resume?.() ?? `did not start etcd (${control.describe()}): start it yourself`;
    },
  });
  return `the interrupted restore was ended ${done}`;
}

function serviceFrom(source: SettingSource, deps: RestorePostDeps): ReturnType<typeof serviceControl> {
  const stop = text(source, Inputs.StopCommand);
  const start = text(source, Inputs.StartCommand);
  const service = text(source, Inputs.EtcdService);
  const parsed = parseEtcdService({
    ...(service ? { service } : {}),
    ...(stop ? { stopCommand: stop } : {}),
    ...(start ? { startCommand: start } : {}),
  });
  const access = etcdAccess(source);
  return serviceControl(parsed, {
    run: execRunner(),
    log: deps.log,
    sleep: deps.sleep,
    isServing: () => etcdAnswers(access, access.endpoints[0]!),
  });
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
