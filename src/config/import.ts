/**
 * Settings of `import` (bringing existing `etcdctl snapshot save` files into the catalog), validated before
 * any file is read or any store touched.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError, messageOf } from '../errors.ts';
import type { Compression } from '../repository/layout.ts';
import { parseRecipients, requireZstd } from '../snapshot/codec.ts';
import { clusterName, COMPRESSIONS } from './backup.ts';
import { Inputs } from './names.ts';
import { tempDir } from './backup.ts';
import { toolSettings, type ToolSettings } from './restore.ts';
import { list, oneOf, required, text, type SettingSource } from './source.ts';

export interface ImportSettings {
  readonly cluster: string;
  /** Files and folders as given, made absolute. */
  readonly paths: readonly string[];
  /** The time the snapshot was taken (one file only); otherwise each file's modification time. */
  readonly createdAt?: Date;
  readonly compression: Compression;
  readonly recipients: readonly string[];
  /** `version` is required: a snapshot file does not say which etcd wrote it, and restores need to know. */
  readonly tools: ToolSettings & { readonly version: string };
  readonly tempDir: string;
}

export function importSettings(source: SettingSource): ImportSettings {
  const cluster = clusterName(source);
  const paths = list(required(source, Inputs.SnapshotFiles, 'the snapshot files (or folders of them) to import')).map((p) => path.resolve(p));
  const compression = oneOf(source, Inputs.Compression, COMPRESSIONS, 'zstd');
  if (compression === 'zstd') requireZstd();
  const tools = toolSettings(source);
  if (tools.version === undefined) {
    throw new InputError(
      `${Inputs.EtcdVersion} is required for import: the etcd version (MAJOR.MINOR.PATCH) of the cluster the snapshots come from; ` +
        'it is recorded in each manifest and picks the etcd tools of restores and drills',
    );
  }
  const createdAtText = text(source, Inputs.CreatedAt);
  return {
    cluster,
    paths,
    ...(createdAtText !== undefined ? { createdAt: parseCreatedAt(createdAtText) } : {}),
    compression,
    recipients: parseRecipients(text(source, Inputs.EncryptTo) ?? ''),
    tools: { ...tools, version: tools.version },
    tempDir: tempDir(source),
  };
}

/** An ISO-8601 time with a zone (`2026-11-20T03:00:00Z`, `2026-11-20T04:00:00+01:00`). */
export function parseCreatedAt(value: string): Date {
  const time = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value) ? new Date(value) : undefined;
  if (!time || Number.isNaN(time.getTime())) {
    throw new InputError(`${Inputs.CreatedAt} ${JSON.stringify(value)} is not an ISO-8601 time with a zone, e.g. 2026-11-20T03:00:00Z`);
  }
  return time;
}

/**
 * The files to import: each path given that is a file, and the regular files directly inside each folder
 * given (not below: a cron script's folder is flat, and recursing could pick up unrelated files), sorted by
 * name within a folder. A path that does not exist, or a folder without files, is an InputError.
 */
export async function snapshotFilesIn(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const given of paths) {
    let info;
    try {
      info = await stat(given);
    } catch (error) {
      throw new InputError(`${Inputs.SnapshotFiles}: cannot read ${given}: ${messageOf(error)}`);
    }
    if (info.isFile()) {
      files.push(given);
      continue;
    }
    if (!info.isDirectory()) throw new InputError(`${Inputs.SnapshotFiles}: ${given} is neither a file nor a folder`);
    const entries = await readdir(given, { withFileTypes: true });
    const inside = entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => path.join(given, e.name)).sort();
    if (inside.length === 0) throw new InputError(`${Inputs.SnapshotFiles}: the folder ${given} holds no files`);
    files.push(...inside);
  }
  const unique = [...new Set(files)];
  if (unique.length !== files.length) throw new InputError(`${Inputs.SnapshotFiles}: a file is given twice`);
  return unique;
}
