/**
 * One backup run: pick the member with the newest data, snapshot it once into every store, then make
 * the backup visible (object, then manifest) on each store that holds a complete, verified copy.
 */
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { backupName, manifestFileName, objectFileName, type Compression } from '../repository/layout.ts';
import { MANIFEST_FORMAT, encodeManifest, type Manifest } from '../repository/manifest.ts';
import { publishStaged } from '../repository/publish.ts';
import type { EtcdAccess } from '../etcd/connection.ts';
import type { MemberProbe } from '../etcd/members.ts';
import { chooseSource, type SourceChoice } from '../etcd/source.ts';
import { openSnapshot } from '../etcd/snapshotStream.ts';
import { IntegrityError, messageOf } from '../errors.ts';
import { shipSnapshot, type StoreUploadResult } from '../snapshot/ship.ts';
import type { Store } from '../stores/store.ts';
import type { Log } from '../base/log.ts';
import { ClusterHandle } from './cluster.ts';
import type { Outcome } from '../base/outcome.ts';
import { TOOL_VERSION } from '../version.ts';

export interface BackupOptions {
  readonly cluster: string;
  readonly etcd: EtcdAccess;
  readonly compression: Compression;
  readonly recipients: readonly string[];
  /** Where spool files go (a private temp dir is made inside). */
  readonly tempDir: string;
  /** Who runs this (runner name, host): recorded in the lock. */
  readonly holder: string;
  readonly lockTtlSeconds: number;
  /** How many members to try when a source fails mid-snapshot. */
  readonly maxAttempts: number;
}

export interface BackupDeps {
  readonly stores: readonly Store[];
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log: Log;
}

export interface StoreOutcome {
  readonly store: string;
  readonly ok: boolean;
  readonly error?: string;
}

export interface BackupResult {
  readonly status: Outcome;
  readonly manifest?: Manifest;
  readonly stores: readonly StoreOutcome[];
  readonly members: readonly MemberProbe[];
  readonly warnings: readonly string[];
  /** Why the run failed or degraded, as one sentence for the step's failure message. */
  readonly problem?: string;
}

/** Errors that mean "this source member failed": try another member. */
class SourceFailed extends Error {
  override readonly name = 'SourceFailed';
}

export async function runBackup(options: BackupOptions, deps: BackupDeps): Promise<BackupResult> {
  const warnings: string[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    deps.log.warning(message);
  };

  // One handle for the run: probes, the lock and the source's questions all go through it (backup/cluster.ts).
  const cluster = await ClusterHandle.open(options.etcd);
  const excluded = new Set<string>();
  const tempDir = await mkdtemp(join(options.tempDir, 'etcd-dr-'));
  try {
    for (let attempt = 1; ; attempt++) {
      const members = cluster.members;
      const choice = chooseSource(members, excluded);
      if (!choice) {
        const problem = `no etcd member could be snapshotted: ${describeMembers(members)}`;
        return { status: 'failed', stores: [], members, warnings, problem };
      }
      choice.warnings.forEach(warn);

      if (!cluster.locked && choice.quality === 'leader') {
        await cluster.lock(options.cluster, options.holder, options.lockTtlSeconds, (error) => warn(error.message), deps);
      } else if (!cluster.locked) {
        warn('quorum is lost, so the lock in etcd cannot be taken; relying on the workflow concurrency group');
      }

      try {
        return await snapshotFrom(cluster, choice, options, deps, tempDir, warnings);
      } catch (error) {
        if (!(error instanceof SourceFailed) || attempt >= options.maxAttempts) throw error;
        warn(`${error.message}; retrying from another member (attempt ${attempt + 1} of ${options.maxAttempts})`);
        excluded.add(choice.member.id);
        await waitForSource(cluster, excluded, deps);
      }
    }
  } catch (error) {
    const problem = messageOf(error);
    deps.log.error(problem);
    return { status: 'failed', stores: [], members: cluster.members, warnings, problem };
  } finally {
    await cluster.close();
    await rm(tempDir, { recursive: true, force: true });
  }
}

/** After a source died, give the cluster a few seconds to elect a new leader. */
async function waitForSource(cluster: ClusterHandle, excluded: ReadonlySet<string>, deps: BackupDeps): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await deps.sleep(1000);
    if (chooseSource(await cluster.probe(), excluded)?.quality === 'leader') break;
  }
}

async function snapshotFrom(
  cluster: ClusterHandle,
  choice: SourceChoice,
  options: BackupOptions,
  deps: BackupDeps,
  tempDir: string,
  warnings: string[],
): Promise<BackupResult> {
  const member = choice.member;
  const sourceLabel = `member ${member.name} (${member.endpoint})`;
  await assertSpoolSpace(tempDir, member.dbSize);
  const { status, revision, keyCount } = await sourceState(cluster, member.endpoint, sourceLabel);
  const createdAt = deps.now();
  const name = backupName(options.cluster, createdAt, member.name, revision);
  const encrypted = options.recipients.length > 0;
  const objectFile = objectFileName(name, options.compression, encrypted);
  deps.log.info(`snapshotting ${sourceLabel} at revision ${revision} into ${name}`);

  let shipped;
  let revisionAtStart: Promise<number | undefined> = Promise.resolve(undefined);
  try {
    const snapshot = await openSnapshot(options.etcd, member.endpoint);
    // Did anything write between our status read and etcd's point-in-time view? (see Manifest.keyCountExact)
    revisionAtStart = snapshot.started.then(
      () => cluster.revision(member.endpoint),
      () => undefined,
    ).catch(() => undefined);
    shipped = await shipSnapshot({
      snapshot: snapshot.bytes,
      sourceLabel,
      stores: deps.stores,
      folder: options.cluster,
      objectFile,
      compression: options.compression,
      recipients: options.recipients,
      spoolDir: tempDir,
    });
  } catch (error) {
    if (error instanceof IntegrityError) throw error;
    throw new SourceFailed(`snapshot of ${sourceLabel} failed: ${messageOf(error)}`);
  }

  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    kind: 'backup',
    name,
    cluster: options.cluster,
    createdAt: createdAt.toISOString(),
    source: { name: member.name, id: member.id, endpoint: member.endpoint, wasLeader: choice.quality === 'leader' },
    revision,
    raftTerm: Number(status.raftTerm),
    raftIndex: Number(status.raftIndex),
    etcdVersion: status.version,
    dbSize: shipped.snapshotSize,
    keyCount,
    keyCountExact: (await revisionAtStart) === revision,
    snapshotSha256: shipped.snapshotSha256,
    object: { file: objectFile, size: shipped.objectSize, sha256: shipped.objectSha256 },
    compression: options.compression,
    encryptedTo: [...options.recipients],
    quality: choice.quality,
    toolVersion: TOOL_VERSION,
  };
  const stores = await Promise.all(shipped.uploads.map((upload) => publish(upload, manifest)));
  for (const failed of stores.filter((s) => !s.ok)) deps.log.error(`store ${failed.store}: ${failed.error}`);
  return judge(manifest, stores, cluster.members, warnings);
}

/** The source's revision, raft position and key count, read just before the snapshot starts (so the snapshot holds at least this revision). */
async function sourceState(cluster: ClusterHandle, endpoint: string, sourceLabel: string) {
  try {
    return await cluster.state(endpoint);
  } catch (error) {
    throw new SourceFailed(`${sourceLabel} did not answer before the snapshot: ${messageOf(error)}`);
  }
}

/** success: every store holds it and a leader sent it; degraded: fewer stores, or no leader; failed: no store. */
function judge(manifest: Manifest, stores: StoreOutcome[], members: readonly MemberProbe[], warnings: string[]): BackupResult {
  const failedStores = stores.filter((s) => !s.ok).map((s) => `${s.store} (${s.error})`);
  if (failedStores.length === stores.length) {
    return { status: 'failed', stores, members, warnings, problem: `no store accepted the backup: ${failedStores.join('; ')}` };
  }
  const problems = [
    ...(failedStores.length > 0 ? [`the backup is missing from ${failedStores.join('; ')}`] : []),
    ...(manifest.quality === 'degraded' ? ['no leader: the snapshot came from a follower and may miss the newest writes'] : []),
  ];
  return {
    status: problems.length > 0 ? 'degraded' : 'success',
    manifest,
    stores,
    members,
    warnings,
    ...(problems.length > 0 ? { problem: problems.join('; ') } : {}),
  };
}

/** Makes a complete upload visible through the repository's one publish protocol (object, then manifest). */
async function publish(upload: StoreUploadResult, manifest: Manifest): Promise<StoreOutcome> {
  if (!upload.ok) return { store: upload.store.id, ok: false, error: upload.error };
  try {
    await publishStaged(upload.staged, {
      expectedSize: manifest.object.size,
      manifest: { name: manifestFileName(manifest.name), bytes: encodeManifest(manifest) },
    });
    return { store: upload.store.id, ok: true };
  } catch (error) {
    return { store: upload.store.id, ok: false, error: messageOf(error) };
  }
}

/** Fail before etcd starts sending. The spool holds the stored object: at most the database's size. */
async function assertSpoolSpace(dir: string, dbSize: number): Promise<void> {
  const needed = Math.ceil(dbSize * 1.1);
  const free = await statfs(dir).then((s) => s.bavail * s.bsize).catch(() => undefined);
  if (free !== undefined && free < needed) {
    throw new Error(`not enough space to spool the snapshot in ${dir}: ${free} bytes free, about ${needed} needed (set temp-dir)`);
  }
}

function describeMembers(members: readonly MemberProbe[]): string {
  if (members.length === 0) return 'no member answered';
  return members
    .map((m) => (m.reachable ? `${m.name} (${m.endpoint}) reachable but not usable` : `${m.name ?? m.endpoint} (${m.endpoint}): ${m.error}`))
    .join('; ');
}
