/**
 * The restore's progress, on disk beside the data dir (`<data-dir>.etcd-dr-restore.json`, mode 0600), written
 * before each step that changes something and removed when the restore ends. A restore killed with SIGKILL
 * (the runner's last resort after SIGINT and SIGTERM) cannot put etcd back itself; the action's post step
 * (post.ts) reads this file and does it, and a later restore refuses to start while it exists.
 *
 * Written atomically (temporary file, fsync, rename, fsync of the directory): a torn file would leave the post
 * step unable to tell where the restore stopped.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { messageOf } from '../errors.ts';

/** The steps of a live restore, in order. */
export const RESTORE_STEPS = ['stage', 'stop', 'move-aside', 'move-in', 'chown', 'start', 'check'] as const;
export type RestoreStep = (typeof RESTORE_STEPS)[number];

export interface RestoreProgress {
  readonly format: 1;
  readonly dataDir: string;
  /** The restored copy, before it is moved in. */
  readonly staging: string;
  /** Where the old data dir goes; null when there was none. */
  readonly aside: string | null;
  /** The download's scratch directory. */
  readonly scratch: string;
  /** Owner to give the restored data (the old data dir's, or etcd-user); null: leave as created. */
  readonly owner: { readonly uid: number; readonly gid: number } | null;
  readonly dryRun: boolean;
  readonly backup: string;
  /** The step begun last: it may or may not have completed (a SIGKILL can land in the middle of it). */
  readonly step: RestoreStep;
  readonly pid: number;
  readonly startedAt: string;
}

export function progressFile(dataDir: string): string {
  return `${dataDir}.etcd-dr-restore.json`;
}

export async function writeProgress(progress: RestoreProgress): Promise<void> {
  const file = progressFile(progress.dataDir);
  const temporary = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString('hex')}`);
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(progress, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
    await syncDirectory(dirname(file));
  } catch (error) {
    await rm(temporary, { force: true });
    throw new Error(`writing the restore's progress to ${file}: ${messageOf(error)}`, { cause: error });
  }
}

/** The progress left by a restore that did not end, or undefined when there is none. */
export async function readProgress(dataDir: string): Promise<RestoreProgress | undefined> {
  const file = progressFile(dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`reading ${file}: ${messageOf(error)}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not JSON (${messageOf(error)}); look at it and put etcd's data back by hand`, { cause: error });
  }
  if (!isProgress(parsed) || parsed.dataDir !== dataDir) {
    throw new Error(`${file} is not a restore progress record for ${dataDir}; look at it and put etcd's data back by hand`);
  }
  return parsed;
}

export async function removeProgress(dataDir: string): Promise<void> {
  await rm(progressFile(dataDir), { force: true });
  await syncDirectory(dirname(dataDir)).catch(() => undefined);
}

function isProgress(value: unknown): value is RestoreProgress {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const owner = v['owner'];
  return (
    v['format'] === 1 &&
    typeof v['dataDir'] === 'string' &&
    typeof v['staging'] === 'string' &&
    (v['aside'] === null || typeof v['aside'] === 'string') &&
    typeof v['scratch'] === 'string' &&
    (owner === null || (typeof owner === 'object' && typeof (owner as Record<string, unknown>)['uid'] === 'number' && typeof (owner as Record<string, unknown>)['gid'] === 'number')) &&
    typeof v['dryRun'] === 'boolean' &&
    typeof v['backup'] === 'string' &&
    (RESTORE_STEPS as readonly unknown[]).includes(v['step']) &&
    typeof v['pid'] === 'number' &&
    typeof v['startedAt'] === 'string'
  );
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
