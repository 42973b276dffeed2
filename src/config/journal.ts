/** Settings of the journal follower, validated before anything touches etcd or a store. */
import { join } from 'node:path';
import { InputError } from '../errors.ts';
import type { FollowerOptions } from '../journal/follower.ts';
import { parseDuration } from '../base/duration.ts';
import { backupOptions } from './backup.ts';
import { Inputs } from './names.ts';
import { text, wholeNumber, type SettingSource } from './source.ts';

export const DEFAULT_JOURNAL_FLUSH_SECONDS = 5;
export const DEFAULT_JOURNAL_MAX_RUNTIME = '55m';
/** A dead writer is replaced within this TTL (plus one flush): short, since the journal's RPO is seconds. */
export const DEFAULT_JOURNAL_LOCK_TTL_SECONDS = 15;
/**
 * NDJSON bytes after which a segment closes early (a burst of writes must not make one huge object). 2 MiB: a
 * steady 200 writes/s fills about 1.5 MB in the default flush, so only bursts and catch-ups close early; with
 * 8 MiB a follower catching up peaked at 100-104 MB against 89-90 MB (npm run bench:journal, 60 s runs).
 */
export const DEFAULT_JOURNAL_SEGMENT_BYTES = 2 << 20;
/** Segments no site accepted, kept on local disk until a site is back; past this a gap is recorded. */
export const DEFAULT_JOURNAL_SPOOL_BYTES = 256 << 20;

/** Seconds, decimals allowed (tests flush every 0.5 s); must be > 0. */
export function parseFlushSeconds(value: string | undefined): number {
  if (value === undefined) return DEFAULT_JOURNAL_FLUSH_SECONDS;
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(seconds) || seconds <= 0) {
    throw new InputError(`${Inputs.JournalFlush} must be a number of seconds greater than 0, got ${JSON.stringify(value)}`);
  }
  return seconds;
}

export function journalOptions(source: SettingSource): FollowerOptions {
  const backup = backupOptions(source);
  const flushMs = Math.round(parseFlushSeconds(text(source, Inputs.JournalFlush)) * 1000);
  const runtimeText = text(source, Inputs.JournalMaxRuntime, DEFAULT_JOURNAL_MAX_RUNTIME)!;
  const maxRuntimeMs = parseDuration(runtimeText, Inputs.JournalMaxRuntime);
  if (maxRuntimeMs <= 0) throw new InputError(`${Inputs.JournalMaxRuntime} must be longer than 0, got ${JSON.stringify(runtimeText)}`);
  const lockTtlSeconds = wholeNumber(source, Inputs.JournalLockTtl, DEFAULT_JOURNAL_LOCK_TTL_SECONDS, 2);
  return {
    cluster: backup.cluster,
    etcd: backup.etcd,
    compression: backup.compression,
    recipients: backup.recipients,
    flushMs,
    maxSegmentBytes: wholeNumber(source, Inputs.JournalSegmentBytes, DEFAULT_JOURNAL_SEGMENT_BYTES, 1024),
    maxRuntimeMs,
    lockTtlSeconds,
    holder: backup.holder,
    member: text(source, Inputs.MemberName) ?? backup.etcd.endpoints.join(','),
    spoolDir: join(backup.tempDir, `etcd-dr-journal-${backup.cluster}`),
    spoolLimitBytes: wholeNumber(source, Inputs.JournalSpoolBytes, DEFAULT_JOURNAL_SPOOL_BYTES, 1024),
  };
}
