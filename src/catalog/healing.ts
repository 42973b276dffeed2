/**
 * Healing: a store that missed backups (it was down, an upload failed) gets them copied from a store
 * that has them. Only backups the retention policy keeps are copied (older ones would be pruned anyway).
 * planHealing is pure; heal copies through the repository's one publish protocol (repository/publish.ts):
 *   object: download from the source, stream into a temporary file on the target while hashing, and
 *           publish only if the sha256 and size of the streamed bytes are the manifest's;
 *   manifest: written last (its presence is what makes the backup listed), the source's bytes verbatim.
 * A target holding something of that backup that we cannot read (unreadable manifest, wrong-sized
 * object) is left alone and reported; an object without a manifest on the target is replaced, since it
 * is not a backup and the copy that replaces it is verified.
 */
import { IntegrityError, messageOf } from '../errors.ts';
import { assertClusterName, manifestFileName } from '../repository/layout.ts';
import type { Catalog, CatalogEntry } from '../repository/listing.ts';
import { parseManifest } from '../repository/manifest.ts';
import { publishObject } from '../repository/publish.ts';
import type { RetentionPolicy } from './policy.ts';
import { applyPolicy, type BackupRef } from './retention.ts';
import type { Store } from '../stores/store.ts';

export interface HealingCopy {
  readonly name: string;
  /** Stores holding a good copy, in the order to try them. */
  readonly from: readonly string[];
  readonly to: string;
  readonly objectFile: string;
  readonly objectSize: number;
  readonly objectSha256: string;
  readonly manifestFile: string;
  /** False when the target already has this backup's (readable, agreeing) manifest and only lacks the object. */
  readonly writeManifest: boolean;
  /** The target has the object file without a manifest naming it: removed just before the verified copy is committed. */
  readonly replaceOrphan: boolean;
}

export interface HealingSkip {
  readonly name: string;
  readonly storeId: string;
  readonly reason: string;
}

export interface HealingPlan {
  /** Newest backups first. */
  readonly copies: readonly HealingCopy[];
  /** Backups the policy keeps that a store lacks but that will not be copied, with why. */
  readonly skipped: readonly HealingSkip[];
}

type EntryRef = BackupRef & { readonly entry: CatalogEntry };

/** For each reachable store, the kept backups that another store has and it lacks. Pure. */
export function planHealing(catalog: Catalog, policy: RetentionPolicy, now: Date): HealingPlan {
  const refs: EntryRef[] = catalog.entries.map((entry) => ({
    name: entry.name,
    time: entry.time,
    good: entry.manifest !== undefined && entry.copies.length > 0,
    entry,
  }));
  const copies: HealingCopy[] = [];
  const skipped: HealingSkip[] = [];
  for (const decision of applyPolicy(refs, policy, now)) {
    const { entry, good } = decision.backup;
    if (!decision.keep || !good) continue;
    const first = entry.copies[0]!;
    const sha256 = first.manifestSha256;
    const objectSize = first.objectSize;
    for (const listing of catalog.stores) {
      if (entry.copies.some((c) => c.storeId === listing.storeId)) continue;
      const skip = (reason: string): void => {
        skipped.push({ name: entry.name, storeId: listing.storeId, reason });
      };
      if (!entry.consistent) {
        skip('its copies on other stores disagree on the object sha256 or size: left for a human');
        continue;
      }
      const there = listing.backups.find((b) => b.name === entry.name);
      let writeManifest = true;
      if (there) {
        if (!there.manifest) {
          skip(`the target has an unreadable manifest of it (${there.manifestError ?? 'unreadable'}): left alone`);
          continue;
        }
        if (there.object) {
          skip(`the target has a damaged copy (${there.problem ?? 'unknown problem'}): left for a human`);
          continue;
        }
        if (there.manifest.object.sha256 !== sha256 || there.manifest.object.file !== first.objectFile) {
          skip("the target's manifest records a different object than the other stores': left for a human");
          continue;
        }
        writeManifest = false;
      }
      copies.push({
        name: entry.name,
        from: entry.copies.map((c) => c.storeId),
        to: listing.storeId,
        objectFile: first.objectFile,
        objectSize,
        objectSha256: sha256,
        manifestFile: manifestFileName(entry.name),
        writeManifest,
        replaceOrphan: listing.orphanObjects.some((o) => o.name === first.objectFile),
      });
    }
  }
  return { copies, skipped };
}

export interface HealResult {
  readonly healed: readonly { readonly name: string; readonly from: string; readonly to: string }[];
  readonly failed: readonly { readonly name: string; readonly to: string; readonly error: string }[];
}

async function healFrom(source: Store, target: Store, cluster: string, copy: HealingCopy): Promise<void> {
  const manifestBytes = await source.readFile(cluster, copy.manifestFile);
  const manifest = parseManifest(manifestBytes, copy.name, cluster);
  if (manifest.object.sha256 !== copy.objectSha256 || manifest.object.file !== copy.objectFile) {
    throw new IntegrityError(`its manifest on ${source.id} changed since the catalog was listed`);
  }
  await publishObject(target, cluster, {
    objectName: copy.objectFile,
    content: await source.download(cluster, copy.objectFile),
    expectedSize: copy.objectSize,
    expectedSha256: copy.objectSha256,
    source: `read from ${source.id}`,
    ...(copy.writeManifest ? { manifest: { name: copy.manifestFile, bytes: manifestBytes } } : {}),
    replaceOrphan: copy.replaceOrphan,
  });
}

/**
 * Carries out a healing plan, one backup at a time, trying each source store in turn. Never rejects
 * because of one backup: each failure is reported with the errors of every source tried.
 */
export async function heal(stores: readonly Store[], cluster: string, plan: HealingPlan): Promise<HealResult> {
  assertClusterName(cluster);
  const byId = new Map(stores.map((s) => [s.id, s]));
  const healed: { name: string; from: string; to: string }[] = [];
  const failed: { name: string; to: string; error: string }[] = [];
  for (const copy of plan.copies) {
    const target = byId.get(copy.to);
    if (!target) {
      failed.push({ name: copy.name, to: copy.to, error: `healing ${copy.name}: no store ${copy.to} was given` });
      continue;
    }
    const errors: string[] = [];
    let from: string | undefined;
    for (const sourceId of copy.from) {
      const source = byId.get(sourceId);
      if (!source) {
        errors.push(`from ${sourceId}: no such store was given`);
        continue;
      }
      try {
        await healFrom(source, target, cluster, copy);
        from = sourceId;
        break;
      } catch (error) {
        errors.push(`from ${sourceId}: ${messageOf(error)}`);
      }
    }
    if (from !== undefined) healed.push({ name: copy.name, from, to: copy.to });
    else failed.push({ name: copy.name, to: copy.to, error: `healing ${copy.name} onto ${copy.to}: ${errors.join('; ')}` });
  }
  return { healed, failed };
}
