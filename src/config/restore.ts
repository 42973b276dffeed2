/** Settings of restores and drills, validated before any I/O on the node. */
import { createHash } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import type { BackupChoice } from '../repository/listing.ts';
import { assertBackupName } from '../repository/layout.ts';
import { InputError } from '../errors.ts';
import { DEFAULT_ETCD_DOWNLOAD_URL } from '../restore/etcdTools.ts';
import { assertDataDir, parseMemberSpec, type MemberSpec } from '../restore/member.ts';
import { parseEtcdService, type EtcdService } from '../restore/service.ts';
import type { RevisionBump } from '../restore/snapshotRestore.ts';
import type { TargetRequest } from '../journal/readerChain.ts';
import { parseIdentities } from '../snapshot/codec.ts';
import { clusterName } from './backup.ts';
import { Inputs } from './names.ts';
import { bool, required, secretText, text, wholeNumber, type SettingSource } from './source.ts';

export const KUBEADM_DATA_DIR = '/var/lib/etcd';
/** etcd's recommendation for Kubernetes: far beyond any revision a cluster uses between backup and restore. */
export const DEFAULT_BUMP_REVISION = 1_000_000_000;

// A named choice is checked against the naming scheme before any I/O (backupChoice below).
export type { BackupChoice };

export function backupChoice(source: SettingSource, cluster: string, fallback?: 'latest'): BackupChoice {
  const value = fallback ? text(source, Inputs.Backup, fallback)! : required(source, Inputs.Backup, "a backup name, or 'latest'");
  if (value === 'latest') return { kind: 'latest' };
  return { kind: 'named', name: assertBackupName(value, cluster).name };
}

export interface ToolSettings {
  readonly binDir?: string;
  readonly version?: string;
  readonly downloadBaseUrl: string;
  readonly toolsDir: string;
}

export function toolSettings(source: SettingSource): ToolSettings {
  const binDir = text(source, Inputs.EtcdBinDir);
  const version = text(source, Inputs.EtcdVersion);
  const downloadBaseUrl = text(source, Inputs.EtcdDownloadUrl, DEFAULT_ETCD_DOWNLOAD_URL)!;
  if (!/^https?:\/\/\S+$/.test(downloadBaseUrl)) throw new InputError(`etcd-download-url ${JSON.stringify(downloadBaseUrl)} is not an http(s) URL`);
  const toolCache = source.env['RUNNER_TOOL_CACHE'];
  return {
    ...(binDir ? { binDir } : {}),
    ...(version ? { version: version.replace(/^v/, '') } : {}),
    downloadBaseUrl,
    toolsDir: toolCache ? join(toolCache, 'etcd-dr') : join(homedir(), '.cache', 'etcd-dr'),
  };
}

export function identities(source: SettingSource): string[] {
  const identity = secretText(source, Inputs.DecryptIdentity);
  return identity ? parseIdentities(identity) : [];
}

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|z|[+-]00:00)$/;

/** Parses `to-time`: RFC 3339 in UTC (Z or +00:00), fractions of a second kept to the millisecond. */
export function parseTargetTime(value: string): Date {
  const m = RFC3339_UTC.exec(value.trim());
  if (!m) {
    throw new InputError(`${Inputs.ToTime} ${JSON.stringify(value)} is not an RFC 3339 UTC time like 2026-12-01T03:04:05Z (the journal's times are UTC)`);
  }
  const [, y, mo, d, h, mi, sec] = m.map(Number) as [number, number, number, number, number, number, number];
  const ms = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  const time = new Date(Date.UTC(y, mo - 1, d, h, mi, sec, ms));
  // Date.UTC rolls 2026-02-30 over into March: a date that does not exist is refused instead.
  if (time.getUTCFullYear() !== y || time.getUTCMonth() !== mo - 1 || time.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59) {
    throw new InputError(`${Inputs.ToTime} ${JSON.stringify(value)} is not a valid date and time`);
  }
  return time;
}

/**
 * `to-time` or `to-revision`: the point a restore or drill brings the cluster to, through the journal.
 * Undefined when neither is given (the restore of `backup` as before); both at once is an error.
 */
export function pointInTimeTarget(source: SettingSource): TargetRequest | undefined {
  const time = text(source, Inputs.ToTime);
  const revision = text(source, Inputs.ToRevision);
  if (time !== undefined && revision !== undefined) {
    throw new InputError(`give ${Inputs.ToTime} or ${Inputs.ToRevision}, not both`);
  }
  if (time !== undefined) return { kind: 'time', time: parseTargetTime(time) };
  if (revision !== undefined) return { kind: 'revision', revision: wholeNumber(source, Inputs.ToRevision, 0, 1) };
  return undefined;
}

export interface RestoreSettings {
  readonly cluster: string;
  readonly backup: BackupChoice;
  /** A point in time or revision to replay the journal up to; `backup` is then the base (latest: chosen automatically). */
  readonly target?: TargetRequest;
  readonly identities: readonly string[];
  readonly dryRun: boolean;
  readonly dataDir: string;
  readonly memberName: string;
  readonly memberInput: { initialCluster?: string; initialAdvertisePeerUrls?: string; initialClusterToken?: string };
  readonly service?: EtcdService;
  readonly bump: RevisionBump;
  readonly owner?: string;
  readonly tools: ToolSettings;
}

export function restoreSettings(source: SettingSource): RestoreSettings {
  const cluster = clusterName(source);
  const dryRun = bool(source, Inputs.DryRun, false);
  if (!dryRun) {
    const confirm = text(source, Inputs.Confirm);
    if (confirm !== cluster) {
      throw new InputError(
        `confirm must equal the cluster name (${cluster}) for a restore that replaces this member's data` +
          `${confirm === undefined ? '' : `; got ${JSON.stringify(confirm)}`}. Use dry-run: true to only download, verify and restore into a scratch directory`,
      );
    }
  }
  const bumpRevision = wholeNumber(source, Inputs.BumpRevision, DEFAULT_BUMP_REVISION);
  const markCompacted = bool(source, Inputs.MarkCompacted, true);
  if (bumpRevision > 0 && !markCompacted) {
    throw new InputError('mark-compacted must be true when bump-revision is set (etcdutl requires both; bump-revision: 0 turns both off)');
  }
  const stop = text(source, Inputs.StopCommand);
  const start = text(source, Inputs.StartCommand);
  const serviceInput = text(source, Inputs.EtcdService);
  const initialCluster = text(source, Inputs.InitialCluster);
  const peerUrls = text(source, Inputs.InitialAdvertisePeerUrls);
  const token = text(source, Inputs.InitialClusterToken);
  const owner = text(source, Inputs.EtcdUser);
  const memberName = text(source, Inputs.MemberName) ?? hostname();
  // A dry run restores into a scratch directory and needs no real peer URL.
  const memberInput = {
    ...(initialCluster ? { initialCluster } : {}),
    ...(peerUrls ? { initialAdvertisePeerUrls: peerUrls } : dryRun && !initialCluster ? { initialAdvertisePeerUrls: 'http://127.0.0.1:2380' } : {}),
    ...(token ? { initialClusterToken: token } : {}),
  };
  // Validate the member flags now, before any I/O; the real token may come from the backup's name later.
  parseMemberSpec({ name: memberName, ...memberInput, initialClusterToken: token ?? 'checked-later' });
  const target = pointInTimeTarget(source);
  return {
    cluster,
    // With a target, the base backup is picked from the journal's windows unless one is named.
    backup: backupChoice(source, cluster, target ? 'latest' : undefined),
    ...(target ? { target } : {}),
    identities: identities(source),
    dryRun,
    dataDir: assertDataDir(text(source, Inputs.DataDir, KUBEADM_DATA_DIR)!),
    memberName,
    memberInput,
    // A dry run never stops etcd, so it needs no way to.
    ...(dryRun && !serviceInput && !stop && !start
      ? {}
      : { service: parseEtcdService({ ...(serviceInput ? { service: serviceInput } : {}), ...(stop ? { stopCommand: stop } : {}), ...(start ? { startCommand: start } : {}) }) }),
    bump: { bumpRevision, markCompacted: bumpRevision > 0 && markCompacted },
    ...(owner ? { owner } : {}),
    tools: toolSettings(source),
  };
}

/**
 * The member flags, once the backup is known: every member restoring the same backup derives the same
 * default cluster token from its name, so a matrix of restore jobs agrees without coordination.
 */
export function memberSpec(settings: RestoreSettings, backupName: string): MemberSpec {
  return parseMemberSpec({
    name: settings.memberName,
    ...settings.memberInput,
    initialClusterToken:
      settings.memberInput.initialClusterToken ?? `etcd-dr-${createHash('sha256').update(backupName).digest('hex').slice(0, 12)}`,
  });
}
