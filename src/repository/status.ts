/**
 * The status record `<cluster>/status.json` as it is stored on a site: defined once, as a valibot schema,
 * with the TypeScript type derived from it. What goes into it and when is notify/status.ts's; this is the
 * format. Records written before formats existed have no `format` and are format 1; a newer format is
 * refused with a sentence saying so, never half-read. Unknown extra fields are ignored.
 */
import * as v from 'valibot';
import { OUTCOMES } from '../base/outcome.ts';
import { assertFormat, parseJsonObject } from './manifest.ts';

/** The status record format this version writes, and the newest it reads. */
export const STATUS_FORMAT = 1;

// Messages in the record's own words: `lastAttempt.operation "x" is unknown`, `sites[0].ok is not a boolean`.
const text = v.string('is not a string');
const time = v.pipe(
  v.string('is not a string'),
  v.check((t) => !Number.isNaN(Date.parse(t)), (issue) => `is not a time: ${JSON.stringify(issue.input)}`),
);
const unknown = (issue: v.BaseIssue<unknown>): string => `${JSON.stringify(issue.input)} is unknown`;

/** Every operation a record may name (notify/alarm.ts's Operation must be one of these: nextStatus checks it at compile time). */
export const OPERATIONS = ['backup', 'restore', 'verify', 'prune', 'watchdog', 'journal'] as const;

export const SiteStatusSchema = v.object(
  {
    /** Store id (no credentials). */
    store: text,
    ok: v.boolean('is not a boolean'),
    error: v.optional(text),
    /** Name of the newest backup on this site, when known. */
    newestBackup: v.optional(text),
  },
  'is not an object',
);

export const StatusRecordSchema = v.object(
  {
    /** Absent in records written before formats existed: 1. */
    format: v.optional(v.literal(STATUS_FORMAT)),
    cluster: text,
    lastAttempt: v.object(
      {
        /** ISO-8601 UTC. */
        at: time,
        operation: v.picklist(OPERATIONS, unknown),
        outcome: v.picklist(OUTCOMES, unknown),
        /** The backup this run made or used. */
        backup: v.optional(text),
        error: v.optional(text),
        runner: v.optional(text),
        runUrl: v.optional(text),
      },
      'is not an object',
    ),
    /** The last backup run that produced a backup (success, or degraded: stored on fewer sites / no leader). */
    lastSuccess: v.optional(
      v.object(
        {
          at: time,
          backup: text,
          revision: v.pipe(
            v.number('is not a non-negative integer'),
            v.safeInteger('is not a non-negative integer'),
            v.minValue(0, 'is not a non-negative integer'),
          ),
        },
        'is not an object',
      ),
    ),
    sites: v.array(SiteStatusSchema, 'is not a list'),
  },
  'is not an object',
);

/** A record as the code sees it; `format` belongs to the stored form only (encodeStatus adds it, parseStatus checks it). */
export type StatusRecord = Omit<v.InferOutput<typeof StatusRecordSchema>, 'format'>;
export type SiteStatus = v.InferOutput<typeof SiteStatusSchema>;

/** The JSON text of a record as it is stored (pretty, newline-terminated: humans read it with sftp). */
export function encodeStatus(record: StatusRecord): Buffer {
  return Buffer.from(`${JSON.stringify({ format: STATUS_FORMAT, ...record }, null, 2)}\n`, 'utf8');
}

/** Parses a status.json strictly; throws saying what is wrong (`status.lastAttempt is missing`). Pure. */
export function parseStatus(data: Buffer | string): StatusRecord {
  const raw = parseJsonObject(data, 'status record');
  if (raw['format'] !== undefined) assertFormat(raw, 'status record', STATUS_FORMAT);
  const result = v.safeParse(StatusRecordSchema, raw, { abortEarly: true });
  if (result.success) {
    const { format: _format, ...record } = result.output;
    return record;
  }
  const issue = result.issues[0];
  const path = (issue.path ?? []).map((item) => item.key as string | number);
  // Top-level fields are named `status.x`, nested ones by their path (`lastAttempt.at`, `sites[0].ok`).
  const where =
    path.length <= 1
      ? `status.${String(path[0] ?? '')}`
      : path.map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? key : `.${key}`)).join('');
  // A missing field is reported by the object holding it, with that object's message.
  throw new Error(`${where} ${issue.input === undefined ? 'is missing' : issue.message}`);
}
