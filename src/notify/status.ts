/**
 * The status record `<cluster>/status.json`, written on every reachable site after each run: what was
 * attempted last and how it ended, the last successful backup, and how each site looked. It is what the
 * watchdog, a Prometheus textfile exporter (prometheus.ts) and a human with `sftp` read. `nextStatus` is
 * pure; `writeStatus` never throws (a site that cannot take the record is reported, not fatal).
 */
import { NotFoundError, messageOf, withContext } from '../errors.ts';
import { STATUS_FILE } from '../repository/layout.ts';
import { writeSmallFile } from '../repository/publish.ts';
import { encodeStatus, parseStatus, type SiteStatus, type StatusRecord } from '../repository/status.ts';
import type { Store } from '../stores/store.ts';
import type { Outcome } from '../base/outcome.ts';
import type { Operation } from './alarm.ts';

export type { SiteStatus, StatusRecord } from '../repository/status.ts';

/** What a run reports for the record. */
export interface RunReport {
  readonly cluster: string;
  readonly operation: Operation;
  readonly outcome: Outcome;
  /** The backup the run made (backup) or used (restore, verify). */
  readonly backup?: { readonly name: string; readonly revision: number };
  readonly error?: string;
  readonly runner?: string;
  readonly runUrl?: string;
  readonly sites: readonly SiteStatus[];
}

/**
 * The record after `run`. Pure. `lastSuccess` moves only when a backup run produced a backup (outcome
 * success or degraded); otherwise the previous one is kept (a previous record of another cluster is ignored).
 */
export function nextStatus(previous: StatusRecord | undefined, run: RunReport, now: Date): StatusRecord {
  const at = now.toISOString();
  const kept = previous !== undefined && previous.cluster === run.cluster ? previous.lastSuccess : undefined;
  const produced = run.operation === 'backup' && run.outcome !== 'failed' && run.backup !== undefined;
  const lastSuccess = produced ? { at, backup: run.backup!.name, revision: run.backup!.revision } : kept;
  return {
    cluster: run.cluster,
    lastAttempt: {
      at,
      operation: run.operation,
      outcome: run.outcome,
      ...(run.backup !== undefined ? { backup: run.backup.name } : {}),
      ...(run.error !== undefined ? { error: run.error } : {}),
      ...(run.runner !== undefined ? { runner: run.runner } : {}),
      ...(run.runUrl !== undefined ? { runUrl: run.runUrl } : {}),
    },
    ...(lastSuccess !== undefined ? { lastSuccess } : {}),
    sites: run.sites.map((site) => ({
      store: site.store,
      ok: site.ok,
      ...(site.error !== undefined ? { error: site.error } : {}),
      ...(site.newestBackup !== undefined ? { newestBackup: site.newestBackup } : {}),
    })),
  };
}

export interface StatusWriteResult {
  /** Ids of the stores that now hold the record. */
  readonly written: string[];
  readonly errors: Array<{ readonly store: string; readonly error: string }>;
}

/** Writes the record to `<cluster>/status.json` on every store (replacing it), in parallel. Never throws. */
export async function writeStatus(stores: readonly Store[], cluster: string, record: StatusRecord): Promise<StatusWriteResult> {
  const data = encodeStatus(record);
  const results = await Promise.allSettled(
    stores.map((store) => writeSmallFile(store, cluster, STATUS_FILE, data, { replace: true })),
  );
  const written: string[] = [];
  const errors: Array<{ store: string; error: string }> = [];
  results.forEach((result, i) => {
    const store = stores[i]!;
    if (result.status === 'fulfilled') written.push(store.id);
    else errors.push({ store: store.id, error: `writing ${cluster}/${STATUS_FILE} to ${store.id}: ${messageOf(result.reason)}` });
  });
  return { written, errors };
}

/**
 * Reads `<cluster>/status.json` from one store: undefined when there is none; throws (with context)
 * when it cannot be read or is not a status record.
 */
export async function readStatus(store: Store, cluster: string): Promise<StatusRecord | undefined> {
  const where = `reading ${cluster}/${STATUS_FILE} from ${store.id}`;
  let data: Buffer;
  try {
    data = await store.readFile(cluster, STATUS_FILE);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw withContext(where, error);
  }
  try {
    return parseStatus(data);
  } catch (error) {
    throw withContext(where, error);
  }
}

/**
 * The most recent record (by lastAttempt.at) over all stores, with the most recent lastSuccess any store
 * knows (a site that was down during the last success may hold a newer attempt but an older success).
 * For carrying lastSuccess forward. Never throws: unreadable stores are returned as errors.
 */
export async function readNewestStatus(
  stores: readonly Store[],
  cluster: string,
): Promise<{ record?: StatusRecord; errors: string[] }> {
  const results = await Promise.allSettled(stores.map((store) => readStatus(store, cluster)));
  let record: StatusRecord | undefined;
  let lastSuccess: StatusRecord['lastSuccess'];
  const errors: string[] = [];
  for (const result of results) {
    if (result.status === 'rejected') {
      errors.push(messageOf(result.reason));
      continue;
    }
    const value = result.value;
    if (value === undefined || value.cluster !== cluster) continue;
    if (record === undefined || Date.parse(value.lastAttempt.at) > Date.parse(record.lastAttempt.at)) record = value;
    if (value.lastSuccess !== undefined && (lastSuccess === undefined || Date.parse(value.lastSuccess.at) > Date.parse(lastSuccess.at))) {
      lastSuccess = value.lastSuccess;
    }
  }
  if (record === undefined) return { errors };
  return { record: lastSuccess !== undefined ? { ...record, lastSuccess } : record, errors };
}
