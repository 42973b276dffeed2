/**
 * Where an interrupted restore leaves the node: never with etcd stopped, never without the old data. Used
 * in-process when a restore is cancelled (SIGINT/SIGTERM) and by the action's post step when it was killed
 * (SIGKILL: post.ts, from the progress file). The table says what is done for the step the restore had begun
 * last; because a SIGKILL can land in the middle of a step, the decision is taken from what is on disk
 * (data dir, staging dir, old dir moved aside), which the table's rows map to one by one.
 */
import { chown, lstat, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log } from '../base/log.ts';
import { messageOf } from '../errors.ts';
import { removeProgress, type RestoreProgress, type RestoreStep } from './progress.ts';

/**
 * What a cancel does, by the step begun last. The rule: go back to the old data while it is whole and where
 * etcd reads it (cheapest, and what the operator had); go forward once the restored data is in place (it
 * is complete and verified: undoing it would be a second swap under pressure). Either way etcd is started.
 * A putting back that was itself killed half-way is finished by the same rows (each of its moves leaves a disk
 * one of them matches; the old data in place with no restored copy left: only start etcd).
 */
export const SAFE_STATE: Readonly<Record<RestoreStep, string>> = {
  stage: 'etcd was never stopped and nothing changed: remove the staging directory, nothing to start',
  stop: 'etcd is stopped (or stopping) on its old data: remove the staging directory and start etcd on the old data',
  'move-aside':
    'not moved yet: as for stop; already moved: as for move-in (the rename is atomic: it happened or it did not)',
  'move-in':
    'the old data is aside and the restored data not in: move the old data back, remove the staging directory, start etcd; ' +
    'if the restored data is already in: as for chown',
  chown: 'the restored data is in place: finish as a complete restore (give it to the etcd user, start etcd)',
  start: 'finish: start etcd (starting again is harmless)',
  check: 'etcd was started with the restored data: nothing to undo, only the revision and key check did not run',
};

export interface PutBackOps {
  readonly log: Log;
  /** Starts etcd; resolves with how it was started, for the log ("started etcd (systemd unit etcd)"). */
  start(): Promise<string>;
}

/**
 * Puts the node in the safe state for `progress` (see SAFE_STATE), removes the progress file, and returns one
 * sentence saying what was done. Throws when the disk matches no row (nothing is then changed).
 */
export async function putBack(progress: RestoreProgress, ops: PutBackOps): Promise<string> {
  const { dataDir, staging, aside } = progress;
  const removeScratch = (): Promise<void> => rm(progress.scratch, { recursive: true, force: true, maxRetries: 3 });
  const removeStaging = async (): Promise<void> => {
    ops.log.info(`removing the restored copy ${staging}`);
    await rm(staging, { recursive: true, force: true, maxRetries: 3 });
  };
  const done = async (what: string): Promise<string> => {
    await removeScratch();
    await removeProgress(dataDir);
    ops.log.warning(what);
    return what;
  };

  if (progress.step === 'stage') {
    await removeStaging();
    return done(`before etcd was stopped: nothing on this node was changed (removed the staging directory ${staging})`);
  }
  if (progress.step === 'check') {
    return done(
      `after etcd was started with the restored data: the restore is complete${aside ? ` (the old data is at ${aside})` : ''}, ` +
        'but its revision and key check did not run: check the cluster (etcd-dr check-cluster)',
    );
  }

  const [data, staged, asideThere] = await Promise.all([isDir(dataDir), isDir(staging), aside ? isDir(aside) : Promise.resolve(false)]);
  const oldNowhereElse = aside === null || !asideThere;

  if (staged && data && oldNowhereElse && aside !== null) {
    // Old data still in place: the swap never began.
    await removeStaging();
    const started = await ops.start();
    return done(`after etcd was stopped, before its data was swapped: ${started} again on the old data in ${dataDir} (removed the restored copy)`);
  }
  if (staged && !data && asideThere && aside !== null) {
    ops.log.info(`moving the old data directory ${aside} back to ${dataDir}`);
    await rename(aside, dataDir);
    await removeStaging();
    const started = await ops.start();
    return done(`after the old data was moved aside: moved it back to ${dataDir} and ${started} (removed the restored copy)`);
  }
  if (staged && !data && aside === null) {
    // No old data to go back to: starting etcd on nothing would make an empty member. The restored copy is complete.
    ops.log.info(`moving the restored data ${staging} into ${dataDir}`);
    await rename(staging, dataDir);
    const owned = await finish(progress, ops.log);
    const started = await ops.start();
    return done(
      `after etcd was stopped, with no old data directory to go back to: finished the restore (moved the restored data into ${dataDir}` +
        `${owned ? `, ${owned}` : ''}) and ${started}`,
    );
  }
  if (!staged && data && aside !== null && !asideThere) {
    // Only the old data, in place: the restored copy was removed by a putting back that was itself cut short
    // (a SIGKILL after "move it back" or "remove the restored copy"); the old data dir never leaves otherwise.
    const started = await ops.start();
    return done(`after the old data was put back in ${dataDir} (the restored copy was already removed): ${started}`);
  }
  if (!staged && data && (aside === null || asideThere)) {
    const owned = await finish(progress, ops.log);
    const started = await ops.start();
    return done(
      `after the restored data was moved in: finished the swap${owned ? ` (${owned})` : ''} and ${started}` +
        `${aside ? `; the old data is at ${aside}` : ''}`,
    );
  }
  throw new Error(
    `cannot tell how to put the node back (last step begun: ${progress.step}; ${dataDir} ${data ? 'exists' : 'missing'}, ` +
      `${staging} ${staged ? 'exists' : 'missing'}${aside ? `, ${aside} ${asideThere ? 'exists' : 'missing'}` : ''}); nothing was changed: ` +
      `put the data back by hand, start etcd, then remove ${dataDir}.etcd-dr-restore.json`,
  );
}

/** Gives the restored data to its owner; returns "gave it to uid:gid" (or '' when there is no owner to give it to). */
async function finish(progress: RestoreProgress, log: Log): Promise<string> {
  if (!progress.owner) return '';
  const { uid, gid } = progress.owner;
  log.info(`giving ${progress.dataDir} to ${uid}:${gid}`);
  await chownTree(progress.dataDir, uid, gid);
  return `gave it to ${uid}:${gid}`;
}

export async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  const info = await lstat(path);
  if (!info.isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), uid, gid);
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new Error(`looking at ${path}: ${messageOf(error)}`, { cause: error });
  }
}
