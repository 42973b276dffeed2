/** Runs etcd's own restore (`etcdutl snapshot restore`, or `etcdctl snapshot restore` on 3.4) into a directory. */
import { rm } from 'node:fs/promises';
import { isSnapshotHashMismatch } from '../base/failures.ts';
import { IntegrityError, messageOf } from '../errors.ts';
import type { CommandRunner } from './service.ts';
import type { EtcdTools } from './etcdTools.ts';
import type { MemberSpec } from './member.ts';

export interface RevisionBump {
  /** Added to the restored revision so watchers never see revisions go backwards (0 = off). */
  readonly bumpRevision: number;
  readonly markCompacted: boolean;
}

/** Whether these tools can bump revisions (etcdutl 3.5+ has --bump-revision and --mark-compacted). */
export function supportsBump(tools: EtcdTools): boolean {
  return tools.etcdutl !== undefined;
}

export function restoreArgs(snapshotFile: string, dataDir: string, member: MemberSpec, bump: RevisionBump | undefined): string[] {
  return [
    'snapshot',
    'restore',
    snapshotFile,
    `--data-dir=${dataDir}`,
    `--name=${member.name}`,
    `--initial-cluster=${member.initialCluster}`,
    `--initial-cluster-token=${member.initialClusterToken}`,
    `--initial-advertise-peer-urls=${member.initialAdvertisePeerUrls}`,
    ...(bump && bump.bumpRevision > 0 ? [`--bump-revision=${bump.bumpRevision}`, ...(bump.markCompacted ? ['--mark-compacted'] : [])] : []),
  ];
}

export async function runSnapshotRestore(
  run: CommandRunner,
  tools: EtcdTools,
  snapshotFile: string,
  dataDir: string,
  member: MemberSpec,
  bump: RevisionBump | undefined,
  /** Kills etcd's tool when aborted (a cancelled restore must not leave it writing). */
  signal?: AbortSignal,
): Promise<void> {
  const args = restoreArgs(snapshotFile, dataDir, member, tools.etcdutl ? bump : undefined);
  const options = signal ? { signal } : {};
  try {
    if (tools.etcdutl) await run(tools.etcdutl, args, options);
    else await run(tools.etcdctl, args, options);
  } catch (error) {
    // etcd's tool leaves what it had written; the directory must not exist for the next attempt.
    await rm(dataDir, { recursive: true, force: true });
    // Both tools say "expected sha256 [..], got [..]" when the database does not match its trailer.
    if (isSnapshotHashMismatch(error)) {
      throw new IntegrityError(`etcd's restore found the snapshot corrupt (its sha256 does not match the trailer): ${messageOf(error)}`, { cause: error });
    }
    throw error;
  }
}
