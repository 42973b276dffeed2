/**
 * Restores this node's etcd member from a backup. Everything that can be checked is checked, and the
 * snapshot is downloaded, verified and restored into a staging directory beside the data directory,
 * before etcd is stopped. Only then: stop etcd, move the old data directory aside (never deleted),
 * move the staged one in, hand it to the etcd user, start etcd, and check it against the manifest.
 *
 * A cancel (SIGINT/SIGTERM: a cancelled run, a timeout, Ctrl-C) never leaves etcd stopped: the restore stops at
 * the next safe point and puts the node in the state SAFE_STATE (safeState.ts) gives for the step it had
 * reached, starts etcd, and fails saying what it did. Its progress is on disk (progress.ts) before every step
 * that changes something, so the action's post step can do the same after a SIGKILL.
 */
import { lstat, mkdtemp, rename, rm, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Manifest } from '../repository/manifest.ts';
import { formatTimestamp } from '../repository/layout.ts';
import type { EtcdAccess } from '../etcd/connection.ts';
import { InputError, messageOf } from '../errors.ts';
import { listenForCancel, type Cancellation } from './cancellation.ts';
import { checkRestored, waitServing, type RestoredState } from './check.ts';
import { fetchSnapshot, type FetchedSnapshot, type RestoreSource } from './fetch.ts';
import type { MemberSpec } from './member.ts';
import { progressFile, readProgress, removeProgress, writeProgress, type RestoreProgress, type RestoreStep } from './progress.ts';
import { chownTree, putBack } from './safeState.ts';
import type { ServiceControl } from './service.ts';
import { runSnapshotRestore, supportsBump, type RevisionBump } from './snapshotRestore.ts';
import { runSteps, StepFailed, StepsCancelled, type Step } from './steps.ts';

export interface RestoreMemberInput extends RestoreSource {
  readonly dataDir: string;
  readonly member: MemberSpec;
  readonly bump: RevisionBump;
  readonly dryRun: boolean;
  /** uid:gid to own the restored data; undefined = the old data directory's owner. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  readonly service: ServiceControl;
  /**
   * False for `etcd-service: none`: the operator stops etcd before and starts it after, so the restore
   * refuses to run while etcd answers and ends once the data is in place.
   */
  readonly managesEtcd: boolean;
  /** Whether etcd answers on this node right now. */
  isServing(): Promise<boolean>;
  /** How to reach this member after the restore (its local client URL first). */
  readonly access: EtcdAccess;
  readonly healthTimeoutMs: number;
  /** Default: SIGINT and SIGTERM of this process, listened to while the restore runs. */
  readonly cancel?: Cancellation;
  /** Test seam: called before each step, so a test can send a signal at an exact step. */
  readonly beforeStep?: (step: RestoreStep) => Promise<void>;
}

export interface RestoreMemberResult {
  readonly manifest: Manifest;
  readonly from: string;
  readonly dryRun: boolean;
  /** Where the old data directory went (undefined in a dry run or when there was none). */
  readonly movedAside?: string;
  readonly state?: RestoredState;
  readonly steps: readonly string[];
  readonly warnings: readonly string[];
}

/** Thrown when a step after etcd was stopped fails: carries what to do to put things back. */
export class RestoreFailed extends Error {
  override readonly name = 'RestoreFailed';
}

/** Thrown when the restore was cancelled: says what was done to leave etcd running. */
export class RestoreCancelled extends Error {
  override readonly name = 'RestoreCancelled';
}

export async function restoreMember(input: RestoreMemberInput): Promise<RestoreMemberResult> {
  // Listening from the very start: a signal during the checks below must not kill the process mid-way either.
  const ownCancel = input.cancel ? undefined : listenForCancel(input.log);
  const cancel = input.cancel ?? ownCancel!;
  try {
    return await restoreCancellably(input, cancel);
  } finally {
    ownCancel?.dispose();
  }
}

async function restoreCancellably(input: RestoreMemberInput, cancel: Cancellation): Promise<RestoreMemberResult> {
  const stamp = formatTimestamp(input.now());
  const staging = `${input.dataDir}.restoring-${stamp}`;
  const aside = `${input.dataDir}.before-restore-${stamp}`;
  const warnings: string[] = [];
  const oldDir = await existingDirectory(input.dataDir);
  await preflight(input, staging, aside);
  if (!input.dryRun && !input.managesEtcd && (await input.isServing())) {
    throw new InputError('etcd still answers on this node: with etcd-service none, stop etcd before the restore (or name how: systemd:<unit>, static-pod:<manifest>)');
  }
  if (input.bump.bumpRevision > 0 && !supportsBump(input.tools)) {
    warnings.push(
      `etcd ${input.tools.version} has no etcdutl, so revisions are not bumped: restart kube-apiserver and every other watcher after the restore`,
    );
  }
  const bump = supportsBump(input.tools) ? input.bump : { bumpRevision: 0, markCompacted: false };
  const owner = input.owner ?? (oldDir ? { uid: oldDir.uid, gid: oldDir.gid } : undefined);

  const scratch = await mkdtemp(join(dirname(input.dataDir), `.etcd-dr-${basename(input.dataDir)}-`));
  let progress: RestoreProgress = {
    format: 1,
    dataDir: input.dataDir,
    staging,
    aside: oldDir ? aside : null,
    scratch,
    owner: owner ?? null,
    dryRun: input.dryRun,
    backup: input.entry.name,
    step: 'stage',
    pid: process.pid,
    startedAt: input.now().toISOString(),
  };
  // On disk before each step begins (runSteps' `starting`): a SIGKILL in the middle of it leaves a record the post step can act on.
  const begin = async (step: RestoreStep): Promise<void> => {
    progress = { ...progress, step };
    await writeProgress(progress);
  };
  let snapshot: FetchedSnapshot | undefined;
  let state: RestoredState | undefined;
  let stopped = false;
  let movedAside = false;
  const steps: Step<RestoreStep>[] = [
    {
      // One step: etcd's restore checks the database's sha256, and a copy it refuses sends us to the next store.
      key: 'stage',
      name: `download and verify the backup, restore it into the staging directory ${staging}`,
      // Nothing outside the staging and scratch directories changes here: a cancel need not wait for a download.
      onCancel: 'abandon',
      run: async (signal) => {
        snapshot = await fetchSnapshot(input.entry, input.stores, input.identities, join(scratch, 'snapshot.db'), input.log, (file) =>
          runSnapshotRestore(input.run, input.tools, file, staging, input.member, bump, signal),
        );
        // The staged data directory is all a restore needs from here: free the space before etcd stops.
        if (!input.dryRun) await rm(snapshot.file, { force: true });
      },
    },
  ];
  if (!input.dryRun) {
    steps.push(
      {
        key: 'stop',
        name: `stop etcd (${input.service.describe()})`,
        run: async (signal) => {
          stopped = true;
          await input.service.stop(signal);
        },
      },
      ...(oldDir
        ? [
            {
              key: 'move-aside' as const,
              name: `move the old data directory aside to ${aside}`,
              run: async () => {
                await rename(input.dataDir, aside);
                movedAside = true;
              },
            },
          ]
        : []),
      {
        key: 'move-in',
        name: `move the restored data into ${input.dataDir}`,
        run: async () => {
          await rename(staging, input.dataDir);
        },
      },
      {
        key: 'chown',
        name: 'give the data directory to the etcd user',
        run: async () => {
          if (owner) await chownTree(input.dataDir, owner.uid, owner.gid);
        },
      },
    );
    if (input.managesEtcd) {
      steps.push(
        {
          key: 'start',
          name: `start etcd (${input.service.describe()})`,
          run: async () => {
            await input.service.start();
          },
        },
        {
          key: 'check',
          name: 'wait until etcd answers, then check revision and key count',
          // etcd runs on the restored data already: a cancel has nothing to wait for.
          onCancel: 'abandon',
          run: async () => {
            const endpoint = input.access.endpoints[0]!;
            await waitServing(input.access, endpoint, { timeoutMs: input.healthTimeoutMs, sleep: input.sleep });
            state = await checkRestored(input.access, endpoint, snapshot!.manifest, {
              bumpRevision: bump.bumpRevision,
              historyKept: !(bump.bumpRevision > 0 && bump.markCompacted),
            });
          },
        },
      );
    } else {
      warnings.push('etcd-service is none: start etcd on this node now, then check the cluster (etcd-dr check-cluster)');
    }
  }
  let removeStaging = true;
  try {
    const completed = await runSteps(steps, input.log, { cancel, starting: begin, ...(input.beforeStep ? { beforeStep: input.beforeStep } : {}) });
    await removeProgress(input.dataDir);
    return {
      manifest: snapshot!.manifest,
      from: snapshot!.from,
      dryRun: input.dryRun,
      ...(movedAside ? { movedAside: aside } : {}),
      ...(state ? { state } : {}),
      steps: completed,
      warnings: [...warnings, ...(snapshot?.skipped.map((s) => `skipped ${s}`) ?? []), ...(state?.warnings ?? [])],
    };
  } catch (error) {
    if (error instanceof StepsCancelled) {
      // Runs to its end whatever else arrives: the signal handlers only log from here on.
      removeStaging = false;
      // The disk cannot show that etcd was started: "start" completed is the one fact only this process knows.
      if (error.at === 'check') progress = { ...progress, step: 'check' };
      let done: string;
      try {
        done = await putBack(progress, { log: input.log, start: () => startAfterCancel(input) });
      } catch (putBackError) {
        throw new RestoreFailed(
          `restore cancelled (${error.by}) at the step "${progress.step}", and putting the node back failed: ${messageOf(putBackError)}. ` +
            `${howToRollBack(input, movedAside ? aside : undefined)} Then remove ${progressFile(input.dataDir)}.`,
          { cause: putBackError },
        );
      }
      throw new RestoreCancelled(`restore cancelled (${error.by}) ${done}`, { cause: error });
    }
    await removeProgress(input.dataDir);
    if (!stopped) throw error instanceof StepFailed ? new Error(`${error.message}; nothing on this node was changed`, { cause: error }) : error;
    throw new RestoreFailed(`${messageOf(error)}. ${howToRollBack(input, movedAside ? aside : undefined)}`, { cause: error });
  } finally {
    // Both at once: removing a gigabyte takes the kernel a while, and a dry run waits for it.
    await Promise.all([
      rm(scratch, { recursive: true, force: true, maxRetries: 3 }),
      removeStaging && (input.dryRun || !stopped) ? rm(staging, { recursive: true, force: true, maxRetries: 3 }) : undefined,
    ]);
  }
}

/** After a cancel, etcd is started with the same control that stopped it; `none` only says so. */
async function startAfterCancel(input: RestoreMemberInput): Promise<string> {
  if (!input.managesEtcd) {
    input.log.warning('etcd-service is none: etcd-dr does not start etcd; start it yourself');
    return 'did not start etcd (etcd-service is none): start it yourself';
  }
  await input.service.start();
  return `started etcd (${input.service.describe()})`;
}

function howToRollBack(input: RestoreMemberInput, aside: string | undefined): string {
  if (!aside) return `The old data directory was not moved (${input.dataDir}); start etcd again (${input.service.describe()}).`;
  return (
    `The old data directory is intact at ${aside}. To put it back: stop etcd (${input.service.describe()}), ` +
    `move ${input.dataDir} away, move ${aside} to ${input.dataDir}, start etcd.`
  );
}

/** Everything checked before the first side effect. */
async function preflight(input: RestoreMemberInput, staging: string, aside: string): Promise<void> {
  const parent = dirname(input.dataDir);
  const parentStat = await stat(parent).catch(() => undefined);
  if (!parentStat?.isDirectory()) throw new InputError(`data-dir's parent ${parent} does not exist`);
  // First: a restore killed within this very second left staging/aside names this one would collide with,
  // and what the operator needs to hear is that the earlier restore did not end.
  const left = await readProgress(input.dataDir);
  if (left) {
    throw new InputError(
      `an earlier restore of ${input.dataDir} did not end (${progressFile(input.dataDir)}: last step begun "${left.step}", process ${left.pid}, ` +
        `started ${left.startedAt}); the restore action's post step puts the node back, or check ${input.dataDir}, ${left.staging}` +
        `${left.aside ? ` and ${left.aside}` : ''} by hand, make sure etcd runs, and remove that file`,
    );
  }
  for (const path of [staging, aside]) {
    if (await lstat(path).catch(() => undefined)) throw new InputError(`${path} already exists; remove or rename it first`);
  }
  const dbSize = input.entry.manifest?.dbSize ?? 0;
  const free = await statfs(parent).then((s) => s.bavail * s.bsize).catch(() => undefined);
  // The snapshot and the restored data directory both live here while etcd's restore runs.
  if (free !== undefined && free < dbSize * 2.2) {
    throw new InputError(`not enough space in ${parent}: ${free} bytes free, the restore needs about ${Math.ceil(dbSize * 2.2)}`);
  }
  const existing = await lstat(input.dataDir).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new InputError(`data-dir ${input.dataDir} exists and is not a directory`);
}

async function existingDirectory(path: string): Promise<{ uid: number; gid: number } | undefined> {
  const info = await stat(path).catch(() => undefined);
  return info?.isDirectory() ? { uid: info.uid, gid: info.gid } : undefined;
}
