/** Settings of a backup run, validated into the engine's options before anything touches etcd or a store. */
import { hostname, tmpdir } from 'node:os';
import type { BackupOptions } from '../backup/backup.ts';
import { assertClusterName, type Compression } from '../repository/layout.ts';
import { parseRecipients, requireZstd } from '../snapshot/codec.ts';
import { etcdAccess } from './etcd.ts';
import { Inputs } from './names.ts';
import { oneOf, text, wholeNumber, type SettingSource } from './source.ts';

export const COMPRESSIONS: readonly Compression[] = ['zstd', 'gzip', 'none'];

export function clusterName(source: SettingSource): string {
  return assertClusterName(text(source, Inputs.ClusterName, 'etcd')!);
}

/** Who is running: the runner's name in Actions, else the host name. */
export function holderName(env: NodeJS.ProcessEnv): string {
  return env['RUNNER_NAME'] ? `${env['RUNNER_NAME']} (${hostname()})` : hostname();
}

/** Where scratch files go (spool, downloads, a drill's etcd): temp-dir, else the runner's temp, else the system's. */
export function tempDir(source: SettingSource): string {
  return text(source, Inputs.TempDir) ?? source.env['RUNNER_TEMP'] ?? tmpdir();
}

export function backupOptions(source: SettingSource): BackupOptions {
  const compression = oneOf(source, Inputs.Compression, COMPRESSIONS, 'zstd');
  if (compression === 'zstd') requireZstd(); // Before etcd starts sending, not halfway through.
  return {
    cluster: clusterName(source),
    etcd: etcdAccess(source),
    compression,
    recipients: parseRecipients(text(source, Inputs.EncryptTo) ?? ''),
    tempDir: tempDir(source),
    holder: holderName(source.env),
    lockTtlSeconds: wholeNumber(source, Inputs.LockTtl, 60, 5),
    maxAttempts: 3,
  };
}
