/**
 * The journal's layout on a site: where segments live, what they are called, and what their manifests and
 * gap records say. Pure (no I/O, no clock). Written so it moves into src/repository/ as one more object
 * kind: the schemas are valibot (the repository's validation library), every record carries `format` and
 * `kind`, and names are parsed strictly like repository/layout.ts (a name can come from a user, so anything
 * not exactly of the scheme is refused, which also rules out path traversal).
 *
 *   <cluster>/journal/                                                 folder on every site
 *   <cluster>-j<first rev, 19 digits>-<last rev, 19 digits>            segment name (sorts by revision as text)
 *   <segment name>.ndjson[.zst|.gz][.age]                              stored object (records.ts NDJSON)
 *   <segment name>.json                                                its manifest, written last
 *   <cluster>-g<from rev, 19 digits>-<YYYYMMDDTHHMMSSZ>.json           gap record (kind 'journal-gap')
 *   <cluster>-progress.json                                            progress mark (kind 'journal-progress'),
 *                                                                      replaced in place while the cluster is idle
 *
 * Revisions in etcd are contiguous (every revision is one write: a put, a delete, a transaction, a lease
 * expiry's deletes), so a segment holds every revision from `firstRevision` to `lastRevision` and the next
 * segment of the chain starts at `lastRevision + 1`. A chain starts right after a full backup's revision.
 */
import * as v from 'valibot';
import { InputError } from '../errors.ts';
import { formatTimestamp, TEMP_PREFIX, type Compression } from '../repository/layout.ts';

export const JOURNAL_FORMAT = 1;
export const SEGMENT_KIND = 'journal-segment';
export const GAP_KIND = 'journal-gap';
export const PROGRESS_KIND = 'journal-progress';

const CLUSTER = '[A-Za-z0-9][A-Za-z0-9_-]{0,62}';
const SEGMENT_NAME = new RegExp(`^(?<cluster>${CLUSTER})-j(?<first>\\d{19})-(?<last>\\d{19})$`);
const GAP_FILE = new RegExp(`^(?<cluster>${CLUSTER})-g(?<from>\\d{19})-(?<time>\\d{8}T\\d{6}Z)\\.json$`);
const OBJECT_SUFFIX = /^\.ndjson(?<compression>\.zst|\.gz)?(?<encrypted>\.age)?$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** The folder holding a cluster's journal on every site (inside the cluster's backup folder). */
export function journalFolder(cluster: string): string {
  return `${cluster}/journal`;
}

function revisionDigits(revision: number): string {
  if (!Number.isSafeInteger(revision) || revision < 1) throw new RangeError(`revision ${revision} is not a whole number >= 1`);
  return String(revision).padStart(19, '0');
}

export function segmentName(cluster: string, firstRevision: number, lastRevision: number): string {
  if (lastRevision < firstRevision) throw new RangeError(`segment ${firstRevision}..${lastRevision} is empty`);
  return `${cluster}-j${revisionDigits(firstRevision)}-${revisionDigits(lastRevision)}`;
}

export function segmentObjectFile(name: string, compression: Compression, encrypted: boolean): string {
  const c = compression === 'zstd' ? '.zst' : compression === 'gzip' ? '.gz' : '';
  return `${name}.ndjson${c}${encrypted ? '.age' : ''}`;
}

export function segmentManifestFile(name: string): string {
  return `${name}.json`;
}

export function gapFileName(cluster: string, fromRevision: number, detectedAt: Date): string {
  return `${cluster}-g${revisionDigits(fromRevision)}-${formatTimestamp(detectedAt)}.json`;
}

export function progressFileName(cluster: string): string {
  return `${cluster}-progress.json`;
}

export interface ParsedSegmentName {
  readonly name: string;
  readonly cluster: string;
  readonly firstRevision: number;
  readonly lastRevision: number;
}

function parseDigits(text: string): number | undefined {
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/** Parses a segment name; undefined when it is not exactly of the scheme. */
export function parseSegmentName(name: string): ParsedSegmentName | undefined {
  const m = SEGMENT_NAME.exec(name);
  if (!m?.groups) return undefined;
  const first = parseDigits(m.groups['first']!);
  const last = parseDigits(m.groups['last']!);
  if (first === undefined || last === undefined || last < first) return undefined;
  return { name, cluster: m.groups['cluster']!, firstRevision: first, lastRevision: last };
}

/** Validates a segment name given by a user (CLI flag, dispatch input) before any I/O. */
export function assertSegmentName(input: string, cluster: string): ParsedSegmentName {
  const trimmed = input.trim().replace(/\.json$/, '').replace(/\.ndjson(\.zst|\.gz)?(\.age)?$/, '');
  const parsed = /[/\\\0]/.test(trimmed) || trimmed.includes('..') ? undefined : parseSegmentName(trimmed);
  if (!parsed) {
    throw new InputError(
      `segment ${JSON.stringify(input)} is not a journal segment name: expected <cluster>-j<first revision, 19 digits>-<last revision, 19 digits>`,
    );
  }
  if (parsed.cluster !== cluster) throw new InputError(`segment ${JSON.stringify(input)} belongs to cluster ${parsed.cluster}, not ${cluster}`);
  return parsed;
}

/** What a file in the journal folder is, from its name alone. */
export type JournalFile =
  | { readonly kind: 'segment-manifest'; readonly segment: ParsedSegmentName }
  | { readonly kind: 'segment-object'; readonly segment: ParsedSegmentName; readonly compression: Compression; readonly encrypted: boolean }
  | { readonly kind: 'gap'; readonly cluster: string; readonly fromRevision: number }
  | { readonly kind: 'progress'; readonly cluster: string }
  | { readonly kind: 'temporary' }
  | { readonly kind: 'foreign' };

export function classifyJournalFile(fileName: string): JournalFile {
  if (fileName.startsWith(TEMP_PREFIX)) return { kind: 'temporary' };
  const gap = GAP_FILE.exec(fileName);
  if (gap?.groups) {
    const from = parseDigits(gap.groups['from']!);
    return from === undefined ? { kind: 'foreign' } : { kind: 'gap', cluster: gap.groups['cluster']!, fromRevision: from };
  }
  if (fileName.endsWith('-progress.json')) {
    const cluster = fileName.slice(0, -'-progress.json'.length);
    return new RegExp(`^${CLUSTER}$`).test(cluster) ? { kind: 'progress', cluster } : { kind: 'foreign' };
  }
  if (fileName.endsWith('.json')) {
    const segment = parseSegmentName(fileName.slice(0, -'.json'.length));
    return segment ? { kind: 'segment-manifest', segment } : { kind: 'foreign' };
  }
  const dot = fileName.indexOf('.ndjson');
  if (dot > 0) {
    const segment = parseSegmentName(fileName.slice(0, dot));
    const suffix = OBJECT_SUFFIX.exec(fileName.slice(dot));
    if (segment && suffix?.groups) {
      const c = suffix.groups['compression'];
      return {
        kind: 'segment-object',
        segment,
        compression: c === '.zst' ? 'zstd' : c === '.gz' ? 'gzip' : 'none',
        encrypted: suffix.groups['encrypted'] !== undefined,
      };
    }
  }
  return { kind: 'foreign' };
}

// ---------------------------------------------------------------------------------------------------------
// Records (valibot schemas; the TypeScript types are derived from them)

const Revision = v.pipe(v.number(), v.safeInteger(), v.minValue(1));
const Count = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const IsoTime = v.pipe(v.string(), v.isoTimestamp());
const Sha256 = v.pipe(v.string(), v.regex(SHA256));
const ClusterName = v.pipe(v.string(), v.regex(new RegExp(`^${CLUSTER}$`)));

const LeaseGrantSchema = v.strictObject({
  id: v.pipe(v.string(), v.regex(/^(0|[1-9]\d{0,18})$/)),
  grantedTtl: v.pipe(v.number(), v.safeInteger()),
  remainingTtl: v.pipe(v.number(), v.safeInteger()),
  askedAt: IsoTime,
});

export const SegmentManifestSchema = v.strictObject({
  format: v.literal(JOURNAL_FORMAT),
  kind: v.literal(SEGMENT_KIND),
  name: v.string(),
  cluster: ClusterName,
  firstRevision: Revision,
  lastRevision: Revision,
  /** Number of `rev` records (= lastRevision - firstRevision + 1: revisions are contiguous). */
  revisions: Count,
  /** Number of events across those revisions (a transaction is one revision with several events). */
  events: Count,
  /** Follower's clock when it received firstRevision / lastRevision: etcd stores no timestamps. */
  firstReceivedAt: IsoTime,
  lastReceivedAt: IsoTime,
  /** From etcd's progress notifications: nothing happened after lastRevision up to `revision`, as of `at`. */
  completeThrough: v.strictObject({ revision: Revision, at: IsoTime }),
  /** The stored object: file name, size and sha256 (hex) of exactly the bytes on the site. */
  object: v.strictObject({ file: v.string(), size: Count, sha256: Sha256 }),
  /** Hash chain: the previous segment's object.sha256, or the base full backup's snapshotSha256 at a chain start. */
  previousSha256: v.nullable(Sha256),
  /** The full backup the chain starts from (its name); replay begins by restoring it. */
  baseBackup: v.string(),
  /** Every lease first seen in this segment, with its granted TTL, so a replay can re-create it. */
  leases: v.array(LeaseGrantSchema),
  compression: v.picklist(['zstd', 'gzip', 'none']),
  encryptedTo: v.array(v.string()),
  writer: v.strictObject({ holder: v.string(), member: v.string() }),
  toolVersion: v.string(),
});

export type SegmentManifest = v.InferOutput<typeof SegmentManifestSchema>;

export const GapRecordSchema = v.strictObject({
  format: v.literal(JOURNAL_FORMAT),
  kind: v.literal(GAP_KIND),
  cluster: ClusterName,
  /** First revision the journal does not hold. */
  fromRevision: Revision,
  /** Last revision missing, when known (etcd's compact revision - 1); null when unknown. */
  toRevision: v.nullable(Revision),
  detectedAt: IsoTime,
  reason: v.string(),
  /** The full backup taken right after the gap, when it succeeded: the new chain starts from it. */
  restartedFrom: v.nullable(v.string()),
});

export type GapRecord = v.InferOutput<typeof GapRecordSchema>;

export const ProgressMarkSchema = v.strictObject({
  format: v.literal(JOURNAL_FORMAT),
  kind: v.literal(PROGRESS_KIND),
  cluster: ClusterName,
  /** The journal (segments on this site) is complete through this revision as of `at`. */
  completeThrough: v.strictObject({ revision: Revision, at: IsoTime }),
  writer: v.strictObject({ holder: v.string(), member: v.string() }),
});

export type ProgressMark = v.InferOutput<typeof ProgressMarkSchema>;

/** Thrown for a journal file that cannot be trusted: the reader stops there, never skips a revision. */
export class JournalLayoutError extends Error {
  override readonly name = 'JournalLayoutError';
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new JournalLayoutError(`${what}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

function refuseNewer(raw: unknown, what: string): void {
  const format = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)['format'] : undefined;
  if (typeof format === 'number' && format > JOURNAL_FORMAT) {
    throw new JournalLayoutError(`${what}: format ${format} is newer than this etcd-dr understands (${JOURNAL_FORMAT}); upgrade etcd-dr`);
  }
}

function issuesOf(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 3)
    .map((i) => `${i.path?.map((p) => String(p.key)).join('.') ?? '(root)'}: ${i.message}`)
    .join('; ');
}

/** Parses a segment manifest strictly and checks it against the file name it was read from. */
export function parseSegmentManifest(text: string, fileName: string): SegmentManifest {
  const what = `journal manifest ${fileName}`;
  const raw = parseJson(text, what);
  refuseNewer(raw, what);
  const result = v.safeParse(SegmentManifestSchema, raw);
  if (!result.success) throw new JournalLayoutError(`${what}: ${issuesOf(result.issues)}`);
  const m = result.output;
  const named = parseSegmentName(fileName.replace(/\.json$/, ''));
  if (!named || named.name !== m.name || named.cluster !== m.cluster || named.firstRevision !== m.firstRevision || named.lastRevision !== m.lastRevision) {
    throw new JournalLayoutError(`${what}: its content (${m.name}, ${m.firstRevision}..${m.lastRevision}) does not match its file name`);
  }
  if (m.revisions !== m.lastRevision - m.firstRevision + 1) {
    throw new JournalLayoutError(`${what}: ${m.revisions} revisions do not fill ${m.firstRevision}..${m.lastRevision}`);
  }
  if (m.completeThrough.revision < m.lastRevision) {
    throw new JournalLayoutError(`${what}: completeThrough ${m.completeThrough.revision} is before its last revision ${m.lastRevision}`);
  }
  const objectKind = classifyJournalFile(m.object.file);
  if (objectKind.kind !== 'segment-object' || objectKind.segment.name !== m.name || objectKind.compression !== m.compression || objectKind.encrypted !== m.encryptedTo.length > 0) {
    throw new JournalLayoutError(`${what}: object file ${JSON.stringify(m.object.file)} does not belong to it`);
  }
  return m;
}

export function parseGapRecord(text: string, fileName: string): GapRecord {
  const what = `journal gap record ${fileName}`;
  const raw = parseJson(text, what);
  refuseNewer(raw, what);
  const result = v.safeParse(GapRecordSchema, raw);
  if (!result.success) throw new JournalLayoutError(`${what}: ${issuesOf(result.issues)}`);
  return result.output;
}

export function parseProgressMark(text: string, fileName: string): ProgressMark {
  const what = `journal progress mark ${fileName}`;
  const raw = parseJson(text, what);
  refuseNewer(raw, what);
  const result = v.safeParse(ProgressMarkSchema, raw);
  if (!result.success) throw new JournalLayoutError(`${what}: ${issuesOf(result.issues)}`);
  return result.output;
}

/** Manifests and records are stored as pretty JSON with a final newline, like backup manifests. */
export function encodeJournalRecord(record: SegmentManifest | GapRecord | ProgressMark): Buffer {
  return Buffer.from(`${JSON.stringify(record, null, 2)}\n`);
}
