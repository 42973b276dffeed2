/**
 * The layout of a site: every name the repository puts on a store, as pure functions (no I/O beyond a
 * random suffix). Backends never decide a name: they write, rename and delete exactly the names they are
 * given, all of which come from here. A name is both the user's handle for a backup (it arrives through a
 * dispatch input) and a path component on every store, so it is parsed strictly: anything that is not
 * exactly of this scheme is rejected, which also rules out path traversal.
 *
 *   <cluster>/                                                    folder on every store
 *   <cluster>-<YYYYMMDDTHHMMSSZ>-<member>-r<revision>            backup name
 *   <backup name>.db[.zst|.gz][.age]                              stored object
 *   <backup name>.json                                            manifest
 *   status.json                                                   status record
 *   .tmp-<final name>-<12 hex>                                    an upload in flight (or abandoned)
 *
 * A new kind of object (e.g. journal segments) adds its names here (a function and a case in
 * classifyFile) and its manifest schema in manifest.ts; files no case claims are 'foreign' and never
 * touched, so an older etcd-dr leaves a newer kind's files alone.
 */
import { randomBytes } from 'node:crypto';
import { InputError } from '../errors.ts';

export type Compression = 'zstd' | 'gzip' | 'none';

const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const BACKUP_NAME =
  /^(?<cluster>[A-Za-z0-9][A-Za-z0-9_-]{0,62})-(?<time>\d{8}T\d{6}Z)-(?<member>[A-Za-z0-9][A-Za-z0-9._-]{0,62})-r(?<revision>\d{1,19})$/;
const OBJECT_SUFFIX = /^\.db(?<compression>\.zst|\.gz)?(?<encrypted>\.age)?$/;

export interface ParsedBackupName {
  readonly name: string;
  readonly cluster: string;
  readonly time: Date;
  readonly member: string;
  readonly revision: number;
}

/** Checks a cluster name (it becomes a folder on every store). */
export function assertClusterName(cluster: string): string {
  if (!CLUSTER_NAME.test(cluster)) {
    throw new InputError(
      `cluster-name ${JSON.stringify(cluster)} is not valid: use 1-63 letters, digits, '-' or '_', starting with a letter or digit`,
    );
  }
  return cluster;
}

/** `2026-11-25T13:04:05.123Z` -> `20261125T130405Z`. */
export function formatTimestamp(time: Date): string {
  return time.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function parseTimestamp(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return formatTimestamp(date) === text ? date : undefined;
}

/** Turns a member name into the file-name-safe form used inside backup names. */
export function sanitizeMemberName(member: string): string {
  const cleaned = member
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63);
  return cleaned === '' ? 'member' : cleaned;
}

export function backupName(cluster: string, time: Date, member: string, revision: number): string {
  return `${assertClusterName(cluster)}-${formatTimestamp(time)}-${sanitizeMemberName(member)}-r${revision}`;
}

/** Parses a backup name; undefined when it is not of the scheme (e.g. a foreign file). */
export function parseBackupName(name: string): ParsedBackupName | undefined {
  const m = BACKUP_NAME.exec(name);
  if (!m?.groups || name.includes('..')) return undefined;
  const { cluster, time, member, revision } = m.groups as Record<string, string>;
  const parsedTime = parseTimestamp(time!);
  const parsedRevision = Number(revision);
  if (!parsedTime || !Number.isSafeInteger(parsedRevision)) return undefined;
  return { name, cluster: cluster!, time: parsedTime, member: member!, revision: parsedRevision };
}

/**
 * Orders backups newest first: by time, then (backups taken within the same second, whose names carry the
 * same time) by revision as a number, then by name. Comparing the names as text would put `-r9` before
 * `-r10` and make retention delete the backup just taken.
 */
export function newestBackupFirst(a: { readonly name: string; readonly time: Date }, b: { readonly name: string; readonly time: Date }): number {
  const byTime = b.time.getTime() - a.time.getTime();
  if (byTime !== 0) return byTime;
  const ra = parseBackupName(a.name)?.revision;
  const rb = parseBackupName(b.name)?.revision;
  if (ra !== undefined && rb !== undefined && ra !== rb) return rb - ra;
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
}

/**
 * Validates a backup name that came from a user (dispatch input, CLI flag) before any I/O.
 * `latest` is handled by the caller; this only accepts exact names of `cluster`.
 */
export function assertBackupName(input: string, cluster: string): ParsedBackupName {
  const trimmed = input.trim();
  if (/[/\\]/.test(trimmed) || trimmed.includes('..') || trimmed.includes('\0')) {
    throw new InputError(`backup ${JSON.stringify(input)} is not a backup name: it contains a path separator or '..'`);
  }
  const parsed = parseBackupName(stripObjectSuffix(trimmed));
  if (!parsed) {
    throw new InputError(
      `backup ${JSON.stringify(input)} is not a backup name: expected <cluster>-<YYYYMMDDTHHMMSSZ>-<member>-r<revision> (or 'latest')`,
    );
  }
  if (parsed.cluster !== cluster) {
    throw new InputError(`backup ${JSON.stringify(input)} belongs to cluster ${parsed.cluster}, not ${cluster}`);
  }
  return parsed;
}

/** Accepts a full object or manifest file name too, as users often paste those. */
function stripObjectSuffix(name: string): string {
  return name.replace(/\.json$/, '').replace(/\.db(\.zst|\.gz)?(\.age)?$/, '');
}

export function objectSuffix(compression: Compression, encrypted: boolean): string {
  const c = compression === 'zstd' ? '.zst' : compression === 'gzip' ? '.gz' : '';
  return `.db${c}${encrypted ? '.age' : ''}`;
}

export function objectFileName(name: string, compression: Compression, encrypted: boolean): string {
  return `${name}${objectSuffix(compression, encrypted)}`;
}

export function manifestFileName(name: string): string {
  return `${name}.json`;
}

export const STATUS_FILE = 'status.json';

/** Prefix of in-flight uploads. Readers ignore these; retention removes them once old. */
export const TEMP_PREFIX = '.tmp-';

/**
 * The name an upload is written under until it is complete and checked: new for every upload (a
 * leftover of an earlier attempt never collides), recognisably temporary (readers ignore it, prune
 * removes it once old) and carrying the final name (a human sees what it was going to be).
 */
export function temporaryName(finalName: string): string {
  return `${TEMP_PREFIX}${finalName}-${randomBytes(6).toString('hex')}`;
}

export function isTemporaryFile(fileName: string): boolean {
  return fileName.startsWith(TEMP_PREFIX);
}

/** What kind of file of ours this is, from its name alone. */
export type ClassifiedFile =
  | { kind: 'manifest'; backup: ParsedBackupName }
  | { kind: 'object'; backup: ParsedBackupName; compression: Compression; encrypted: boolean }
  | { kind: 'temporary' }
  | { kind: 'status' }
  | { kind: 'foreign' };

export function classifyFile(fileName: string): ClassifiedFile {
  if (isTemporaryFile(fileName)) return { kind: 'temporary' };
  if (fileName === STATUS_FILE) return { kind: 'status' };
  if (fileName.endsWith('.json')) {
    const backup = parseBackupName(fileName.slice(0, -'.json'.length));
    return backup ? { kind: 'manifest', backup } : { kind: 'foreign' };
  }
  const dot = fileName.indexOf('.db');
  if (dot > 0) {
    const backup = parseBackupName(fileName.slice(0, dot));
    const suffix = OBJECT_SUFFIX.exec(fileName.slice(dot));
    if (backup && suffix?.groups) {
      const c = suffix.groups['compression'];
      return {
        kind: 'object',
        backup,
        compression: c === '.zst' ? 'zstd' : c === '.gz' ? 'gzip' : 'none',
        encrypted: suffix.groups['encrypted'] !== undefined,
      };
    }
  }
  return { kind: 'foreign' };
}
