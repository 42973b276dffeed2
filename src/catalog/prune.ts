/**
 * Pruning: deleting, on each store, the backups the retention policy does not keep, plus leftovers.
 * The plan is pure (planPrune) and computed per store from that store's own listing, so a store that
 * missed some backups is never pruned as if it had the other store's ones.
 *
 * What may be deleted:
 *  - a backup the policy does not keep: its manifest FIRST, then its object (repository/publish.ts's
 *    deletionOrder), so an interrupted prune never leaves a listed backup (manifest) without its object;
 *  - a temporary upload (`.tmp-*`) last modified longer ago than the safe age (default 6h), so an upload
 *    in flight is never touched;
 *  - an object no manifest names (left by such an interrupted prune or a backup that failed before its
 *    manifest), once older than the safe age and older than this store's newest good backup.
 * Never deleted: foreign files, backups whose manifest is unreadable (or whose object is missing or of
 * the wrong size: we never delete what we cannot read), the newest good backup.
 */
import { InputError } from '../errors.ts';
import { classifyFile } from '../repository/layout.ts';
import { listCatalog, type StoreBackup, type StoreListing } from '../repository/listing.ts';
import { carryOutDeletions, deletionOrder } from '../repository/publish.ts';
import { formatDuration } from '../base/duration.ts';
import { assertRetentionPolicy, type RetentionPolicy } from './policy.ts';
import { applyPolicy, type BackupRef, type Decision } from './retention.ts';
import type { Store } from '../stores/store.ts';

export const DEFAULT_TEMP_MAX_AGE_MS = 6 * 3_600_000;

export interface PruneOptions {
  /** Temporary files and orphan objects younger than this are left alone. Default 6h. */
  readonly tempMaxAgeMs?: number;
}

/** A backup as retention sees it on one store. */
export type StoreBackupRef = BackupRef & { readonly stored: StoreBackup };

/** Files removed in this order; when one fails, the rest of the action is not attempted. */
export interface PruneAction {
  readonly files: readonly string[];
  readonly reason: string;
}

export interface PrunePlan {
  readonly storeId: string;
  /** One per backup with a manifest on this store, newest first. */
  readonly decisions: readonly Decision<StoreBackupRef>[];
  readonly actions: readonly PruneAction[];
}

function tempMaxAge(options: PruneOptions): number {
  const value = options.tempMaxAgeMs ?? DEFAULT_TEMP_MAX_AGE_MS;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InputError(`prune: tempMaxAgeMs must be a whole number of milliseconds > 0, got ${String(value)}`);
  }
  return value;
}

/** Plans the deletions on one store. Pure. */
export function planPrune(
  listing: StoreListing,
  policy: RetentionPolicy,
  now: Date,
  options: PruneOptions = {},
): PrunePlan {
  assertRetentionPolicy(policy);
  const maxAge = tempMaxAge(options);
  if (Number.isNaN(now.getTime())) throw new Error(`planning the prune of ${listing.storeId}: \`now\` is not a valid date`);
  const refs: StoreBackupRef[] = listing.backups.map((stored) => ({
    name: stored.name,
    time: stored.time,
    good: stored.manifest !== undefined && stored.object !== undefined && stored.problem === undefined,
    ...(stored.problem === undefined ? {} : { problem: stored.problem }),
    stored,
  }));
  const decisions = applyPolicy(refs, policy, now);
  const actions: PruneAction[] = [];
  for (const d of decisions) {
    if (d.keep) continue;
    const { stored } = d.backup;
    // applyPolicy keeps every backup that is not good; this is the second lock on that door.
    if (!d.backup.good || !stored.manifest || !stored.object) continue;
    actions.push({ files: deletionOrder(stored.manifestFile.name, stored.object.name), reason: d.reasons.join('; ') });
  }

  const age = formatDuration(maxAge);
  const isOld = (modifiedAt: Date): boolean => now.getTime() - modifiedAt.getTime() > maxAge;
  for (const file of listing.temporary) {
    if (isOld(file.modifiedAt)) {
      actions.push({ files: [file.name], reason: `temporary file older than ${age} (modified ${file.modifiedAt.toISOString()})` });
    }
  }
  const newestGood = decisions.find((d) => d.backup.good)?.backup.time;
  for (const file of listing.orphanObjects) {
    const kind = classifyFile(file.name);
    if (kind.kind !== 'object' || newestGood === undefined) continue;
    if (isOld(file.modifiedAt) && kind.backup.time.getTime() < newestGood.getTime()) {
      actions.push({
        files: [file.name],
        reason: `object without a manifest, older than ${age} and than the newest good backup (left by an interrupted backup or prune)`,
      });
    }
  }
  return { storeId: listing.storeId, decisions, actions };
}

export interface StorePruneResult {
  readonly storeId: string;
  /** Files deleted (or, in a dry run, that would be), in order. */
  readonly deleted: readonly string[];
  /** Decisions that keep a backup, with their reasons. */
  readonly kept: readonly Decision<StoreBackupRef>[];
  /** Decisions that drop a backup, with their reasons. */
  readonly dropped: readonly Decision<StoreBackupRef>[];
  /** Deletions that failed, with context. */
  readonly errors: readonly string[];
  /** Why this store was not pruned at all (it could not be listed). */
  readonly skipped?: string;
}

export interface PruneResult {
  readonly perStore: readonly StorePruneResult[];
  readonly dryRun: boolean;
}

/**
 * Prunes every store by `policy`, each from its own listing. A store that cannot be listed is skipped and
 * named with the error; the others are still pruned. A failed deletion is recorded and the rest go on
 * (but a backup whose manifest could not be deleted keeps its object).
 */
export async function prune(
  stores: readonly Store[],
  cluster: string,
  policy: RetentionPolicy,
  now: Date,
  options: PruneOptions & { readonly dryRun: boolean },
): Promise<PruneResult> {
  assertRetentionPolicy(policy);
  tempMaxAge(options);
  const catalog = await listCatalog(stores, cluster);
  const perStore = await Promise.all(
    stores.map(async (store): Promise<StorePruneResult> => {
      const failed = catalog.failedStores.find((f) => f.storeId === store.id);
      const listing = catalog.stores.find((s) => s.storeId === store.id);
      if (failed || !listing) {
        return { storeId: store.id, deleted: [], kept: [], dropped: [], errors: [], skipped: failed?.error ?? 'not listed' };
      }
      const plan = planPrune(listing, policy, now, options);
      const { deleted, errors } = await carryOutDeletions(store, cluster, plan.actions, { dryRun: options.dryRun });
      return {
        storeId: store.id,
        deleted,
        kept: plan.decisions.filter((d) => d.keep),
        dropped: plan.decisions.filter((d) => !d.keep),
        errors,
      };
    }),
  );
  return { perStore, dryRun: options.dryRun };
}
