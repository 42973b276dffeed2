/**
 * The JSON manifest stored beside each object. It is written last, so its presence on a store is what
 * makes an object "listed". Every manifest carries a `format` (the version of these rules) and a `kind`
 * (what it describes); format 1 manifests written before kinds existed have no `kind` and are backups.
 *
 * Defined once, as valibot schemas; the TypeScript types are derived from them. Parsing is strict: a
 * manifest we cannot read is reported as unreadable (and retention never deletes what it cannot read),
 * a newer format is refused with a sentence saying so, never misread. Unknown extra fields are ignored,
 * so a newer etcd-dr may add fields without raising the format.
 *
 * Adding a kind: one schema here (below BackupManifest, added to MANIFEST_SCHEMAS) and its names in
 * layout.ts.
 */
import * as v from 'valibot';
import { IntegrityError, messageOf } from '../errors.ts';
import { objectFileName } from './layout.ts';

/** The manifest format this version writes, and the newest it reads. */
export const MANIFEST_FORMAT = 1;

const count = (what = 'a whole number >= 0') => v.pipe(v.number(what), v.safeInteger(what), v.minValue(0, what));
const text = (what = 'a string') => v.string(what);
const nonEmpty = (what = 'a non-empty string') => v.pipe(v.string(what), v.minLength(1, what));
const sha256 = (what = 'a lowercase hex sha256') => v.pipe(v.string(what), v.regex(/^[0-9a-f]{64}$/, what));
const isoTime = (what = 'an ISO-8601 UTC time') =>
  v.pipe(
    v.string(what),
    v.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, what),
    v.check((t) => !Number.isNaN(Date.parse(t)), what),
  );

/** The stored object a manifest describes: exactly the bytes on the store. */
export const StoredObjectSchema = v.object(
  { file: text(), size: count(), sha256: sha256() },
  'an object',
);

export const SourceMemberSchema = v.object(
  {
    name: nonEmpty(),
    /** Member id as a hex string (etcd prints ids in hex). */
    id: v.pipe(v.string('a hex member id'), v.regex(/^[0-9a-f]{1,16}$/, 'a hex member id')),
    /** The client URL the snapshot was taken from. */
    endpoint: nonEmpty(),
    wasLeader: v.boolean('a boolean'),
  },
  'an object',
);

export const BackupManifestSchema = v.pipe(
  v.object(
    {
      format: v.literal(MANIFEST_FORMAT),
      /** Absent in manifests written before kinds existed: those are backups. */
      kind: v.optional(v.literal('backup')),
      name: text(),
      cluster: text(),
      /** ISO-8601 UTC time the snapshot started. */
      createdAt: isoTime(),
      source: SourceMemberSchema,
      /** Highest revision the snapshot is known to contain at least (status taken just before it). */
      revision: count(),
      raftTerm: count(),
      raftIndex: count(),
      etcdVersion: text(),
      /** Size of the raw snapshot, including etcd's 32-byte sha256 trailer. */
      dbSize: count(),
      /** Live keys at `revision`, excluding etcd-dr's own lock keys. */
      keyCount: count(),
      /**
       * True when no write landed between reading `revision` and the start of the snapshot, so the snapshot
       * holds exactly `revision` and `keyCount` must match a restore's latest count exactly. When false the
       * snapshot may hold a few later writes; `keyCount` is still exact at `revision` (a drill checks there).
       * Absent in the first manifests: false.
       */
      keyCountExact: v.optional(v.boolean('a boolean'), false),
      /** sha256 (hex) of the snapshot's database: the value of etcd's own trailer, which the restore checks. */
      snapshotSha256: sha256(),
      object: StoredObjectSchema,
      compression: v.picklist(['zstd', 'gzip', 'none'], "'zstd', 'gzip' or 'none'"),
      /** age recipients the object is encrypted to; empty when not encrypted. */
      encryptedTo: v.pipe(v.array(nonEmpty('an array of age recipients'), 'an array of age recipients'), v.readonly()),
      /**
       * 'degraded' when no leader was available and the most up-to-date member was used; 'imported' for a
       * snapshot file taken elsewhere (`etcd-dr import`): how it was taken is unknown, which is not a fault
       * of this backup, so nothing reports it as degraded.
       */
      quality: v.picklist(['leader', 'degraded', 'imported'], "'leader', 'degraded' or 'imported'"),
      toolVersion: text(),
    },
    'an object',
  ),
  v.readonly(),
);

export type BackupManifest = v.InferOutput<typeof BackupManifestSchema>;
/** The manifest of a backup (the kind every manifest had before kinds existed). */
export type Manifest = BackupManifest;
export type SourceMember = v.InferOutput<typeof SourceMemberSchema>;

/** Every kind this version reads, with its schema. */
export const MANIFEST_SCHEMAS = {
  backup: BackupManifestSchema,
} as const;
export type ManifestKind = keyof typeof MANIFEST_SCHEMAS;

/** The JSON text of a manifest as it is stored (pretty, newline-terminated: humans read these with sftp). */
export function encodeManifest(manifest: { readonly format: number; readonly kind?: string }): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * Checks a record's `format` before anything else is read: a newer one is refused with a sentence
 * (its other fields may mean something else), never half-read. Shared by the manifest and status record.
 */
export function assertFormat(raw: Record<string, unknown>, what: string, newest: number): void {
  const format = raw['format'];
  if (format === newest) return;
  const got = JSON.stringify(format) ?? 'nothing';
  const newer =
    typeof format === 'number' && Number.isSafeInteger(format) && format > newest
      ? `: written by a newer etcd-dr (format ${format}); this version reads up to ${newest}`
      : '';
  throw new IntegrityError(`format must be ${newest} (the ${what} format this version reads), got ${got}${newer}`);
}

/** Parses JSON text into an object, or throws IntegrityError saying what `what` is not. */
export function parseJsonObject(data: Buffer | string, what: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (error) {
    throw new IntegrityError(`${what} is not valid JSON: ${messageOf(error)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new IntegrityError(`${what} is not a JSON object`);
  return raw as Record<string, unknown>;
}

/**
 * Validates `raw` against `schema`, turning the first problem into one sentence: `object.sha256 must be a
 * lowercase hex sha256, got "abc"` (what the field must be comes from the schema's own messages).
 */
export function validate<S extends v.GenericSchema>(schema: S, raw: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, raw, { abortEarly: true });
  if (result.success) return result.output;
  const issue = result.issues[0];
  const path = v.getDotPath(issue) ?? '';
  // A missing key is reported by its parent object; what the key must be is in the key's own schema.
  const what = issue.input === undefined ? (describeAt(schema as unknown as SchemaLike, path) ?? issue.message) : issue.message;
  throw new IntegrityError(`${path} must be ${what}, got ${JSON.stringify(issue.input) ?? 'nothing'}`);
}

interface SchemaLike {
  readonly message?: unknown;
  readonly pipe?: readonly SchemaLike[];
  readonly entries?: Record<string, SchemaLike>;
  readonly wrapped?: SchemaLike;
}

function describeAt(schema: SchemaLike, path: string): string | undefined {
  let current: SchemaLike | undefined = schema;
  for (const key of path.split('.')) {
    while (current?.pipe) current = current.pipe[0];
    current = current?.entries?.[key];
  }
  while (current?.pipe || current?.wrapped) current = current.pipe ? current.pipe[0] : current.wrapped;
  return typeof current?.message === 'string' ? current.message : undefined;
}

/**
 * Parses a backup's manifest strictly: valid JSON, a format this version reads, a backup (no kind, or
 * kind 'backup'), the name and cluster expected, every field present with the right type, and an object
 * file name that is this backup's with the manifest's compression and encryption. Unknown extra fields
 * are ignored. Throws IntegrityError saying what is wrong.
 */
export function parseManifest(data: Buffer | string, expectedName: string, cluster: string): BackupManifest {
  const raw = parseJsonObject(data, 'manifest');
  assertFormat(raw, 'manifest', MANIFEST_FORMAT);
  const kind = raw['kind'] ?? 'backup';
  if (kind !== 'backup') {
    throw new IntegrityError(`manifest is of kind ${JSON.stringify(kind)}, not a backup's`);
  }
  if (typeof raw['name'] !== 'string') validate(BackupManifestSchema, raw);
  if (raw['name'] !== expectedName) {
    throw new IntegrityError(`manifest names backup ${JSON.stringify(raw['name'])}, but its file is ${expectedName}.json`);
  }
  if (typeof raw['cluster'] === 'string' && raw['cluster'] !== cluster) {
    throw new IntegrityError(`manifest belongs to cluster ${JSON.stringify(raw['cluster'])}, not ${cluster}`);
  }
  const manifest = validate(BackupManifestSchema, raw);
  if (manifest.cluster !== cluster) {
    throw new IntegrityError(`manifest belongs to cluster ${JSON.stringify(manifest.cluster)}, not ${cluster}`);
  }
  const expectedObject = objectFileName(manifest.name, manifest.compression, manifest.encryptedTo.length > 0);
  if (manifest.object.file !== expectedObject) {
    throw new IntegrityError(
      `manifest object.file ${JSON.stringify(manifest.object.file)} does not match the backup's compression and encryption (expected ${expectedObject})`,
    );
  }
  return manifest;
}
