/**
 * The one way anything becomes visible on a site, and the one way it stops being visible:
 *
 *   publish: write the object under a temporary name (layout.temporaryName), check its size (and sha256
 *            when one is expected), rename it to its final name (never overwriting), then write the
 *            manifest, also through a temporary name: the manifest's presence is what makes the object
 *            listed, so it comes last, and an object whose manifest could not be written is removed again.
 *   delete:  the manifest first, then the object, so an interrupted delete never leaves a listed object
 *            without its bytes.
 *
 * The backup (src/backup/), healing (catalog/healing.ts) and the journal all publish through here; the
 * backends only write, rename and remove the names they are given.
 */
import { pipeline, Readable } from 'node:stream';
import { IntegrityError, messageOf, withContext } from '../errors.ts';
import { Measure } from '../base/measure.ts';
import { retryingOn } from '../stores/retry.ts';
import type { Store } from '../stores/store.ts';
import { temporaryName } from './layout.ts';

/** An object fully written under a temporary name, not yet visible under its final name. */
export interface StagedObject {
  readonly store: Store;
  readonly folder: string;
  /** The final name it will be published under. */
  readonly name: string;
  readonly tempName: string;
  /** Bytes written (the store checked its own size against it). */
  readonly size: number;
  /** sha256 (hex) of the bytes written, when staged with `hash`. */
  readonly sha256?: string;
}

/**
 * Streams `content` into a new temporary file for `name`. Resolves once every byte is written and its
 * size checked; nothing appears under `name`. If `content` errors or the write fails, the temporary file
 * is removed and the promise rejects. `hash` also computes the sha256 of the bytes on their way (healing
 * checks a copy against its manifest; the backup already hashed its object once, on the spool side).
 */
export async function stageObject(
  store: Store,
  folder: string,
  name: string,
  content: Readable,
  options: { readonly hash?: boolean } = {},
): Promise<StagedObject> {
  const tempName = temporaryName(name);
  if (!options.hash) {
    const size = await store.write(folder, tempName, content);
    return { store, folder, name, tempName, size };
  }
  const measure = new Measure();
  // pipeline forwards a source error to the measure, so the write sees it and removes its file.
  pipeline(content, measure, () => {});
  try {
    const size = await store.write(folder, tempName, measure);
    return { store, folder, name, tempName, size, sha256: measure.sha256 };
  } catch (error) {
    // The write may have failed before reading everything: release the source.
    measure.destroy();
    content.destroy();
    throw error;
  }
}

/** Removes a staged object's temporary file. Never throws: it is cleanup on an error path (prune removes leftovers). */
export async function abortStaged(staged: StagedObject): Promise<void> {
  await staged.store.remove(staged.folder, staged.tempName).catch(() => undefined);
}

export interface Publication {
  /** The size the object must have; a staged object of another size is not published. */
  readonly expectedSize: number;
  /** The sha256 it must have (requires staging with `hash`). */
  readonly expectedSha256?: string;
  /** Where the object's bytes came from, for the error when they are not the expected ones (e.g. `read from sftp://dc1`). */
  readonly source?: string;
  /** The manifest to write once the object is visible; absent when the site already has it. */
  readonly manifest?: { readonly name: string; readonly bytes: Buffer };
  /** The site holds a file of the object's name that no manifest lists (an orphan): replaced by this verified copy. */
  readonly replaceOrphan?: boolean;
}

/**
 * Publishes a staged object: checks its size (and sha256), renames it to its final name, then writes the
 * manifest. On any failure nothing half-done is left: the temporary file is removed, and an object whose
 * manifest could not be written is removed again (an object without a manifest is not listed). Rejects
 * saying which step failed.
 */
export async function publishStaged(staged: StagedObject, publication: Publication): Promise<void> {
  const { store, folder, name } = staged;
  const wrongSize = staged.size !== publication.expectedSize;
  const wrongHash = publication.expectedSha256 !== undefined && staged.sha256 !== publication.expectedSha256;
  if (wrongSize || wrongHash) {
    await abortStaged(staged);
    const from = publication.source ?? 'written';
    throw new IntegrityError(
      publication.expectedSha256 === undefined
        ? `the object ${from} has ${staged.size} bytes, its manifest says ${publication.expectedSize} bytes: not committed`
        : `the object ${from} has sha256 ${staged.sha256 ?? 'unknown'} and ${staged.size} bytes, its manifest says ` +
            `${publication.expectedSha256} and ${publication.expectedSize} bytes: not committed`,
    );
  }
  try {
    if (publication.replaceOrphan) await store.remove(folder, name);
    await store.rename(folder, staged.tempName, name);
  } catch (error) {
    await abortStaged(staged);
    throw error;
  }
  if (!publication.manifest) return;
  try {
    await writeSmallFile(store, folder, publication.manifest.name, publication.manifest.bytes);
  } catch (error) {
    await store.remove(folder, name).catch(() => undefined);
    throw withContext('writing manifest', error);
  }
}

export interface ObjectToPublish extends Publication {
  readonly objectName: string;
  readonly content: Readable;
}

/**
 * Stages and publishes one object in one call (healing, the journal): upload under a temporary name, check
 * size and sha256 (hashed on the way when `expectedSha256` is given), rename, manifest last.
 */
export async function publishObject(store: Store, folder: string, object: ObjectToPublish): Promise<void> {
  const staged = await stageObject(store, folder, object.objectName, object.content, {
    hash: object.expectedSha256 !== undefined,
  });
  await publishStaged(staged, object);
}

/**
 * Writes a small file (manifest, status record) whole: a temporary file, then a rename. Without `replace`
 * an existing file of that name is an error (never overwritten); with `replace` it is swapped atomically
 * where the backend can, and the whole step is retried on a flaky network (with a new temporary name
 * each time, so a leftover of a failed try cannot get in the way). The temporary file is removed if
 * anything fails.
 */
export async function writeSmallFile(
  store: Store,
  folder: string,
  name: string,
  data: Buffer,
  options: { readonly replace?: boolean } = {},
): Promise<void> {
  const once = async (): Promise<void> => {
    const staged = await stageObject(store, folder, name, Readable.from([data]));
    try {
      await store.rename(folder, staged.tempName, name, options);
    } catch (error) {
      await abortStaged(staged);
      throw error;
    }
  };
  // Only a replace may be repeated: a create-only write whose rename did land would fail with "exists".
  await (options.replace ? retryingOn(store, `writing ${folder}/${name}`, once) : once());
}

/**
 * The files of a published object in the order they are deleted: the manifest first (it stops being
 * listed), then the object, so an interrupted delete never leaves a listed object without its bytes.
 */
export function deletionOrder(manifestName: string, objectName: string): readonly string[] {
  return [manifestName, objectName];
}

/**
 * Removes `files` from `folder` in order, stopping at the first that fails (so a manifest that could not
 * be removed keeps its object). Resolves with the files removed and, when one failed, which and why.
 */
export async function removeInOrder(
  store: Store,
  folder: string,
  files: readonly string[],
): Promise<{ readonly removed: readonly string[]; readonly failed?: { readonly file: string; readonly error: string } }> {
  const removed: string[] = [];
  for (const file of files) {
    try {
      await store.remove(folder, file);
    } catch (error) {
      return { removed, failed: { file, error: messageOf(error) } };
    }
    removed.push(file);
  }
  return { removed };
}

/** One deletion of a plan: its files in the order they must go, and why (for the error message). */
export interface DeletionAction {
  readonly files: readonly string[];
  readonly reason: string;
}

/**
 * Carries out a deletion plan on one store, each action through removeInOrder. `stopAtFirstFailure` ends the
 * plan at the first action that fails (for ordered plans, where going on would leave a hole); otherwise every
 * action is tried. A dry run deletes nothing and reports what would have gone.
 */
export async function carryOutDeletions(
  store: Store,
  folder: string,
  actions: readonly DeletionAction[],
  options: { readonly dryRun?: boolean; readonly stopAtFirstFailure?: boolean } = {},
): Promise<{ readonly deleted: string[]; readonly errors: string[] }> {
  const deleted: string[] = [];
  const errors: string[] = [];
  for (const action of actions) {
    if (options.dryRun) {
      deleted.push(...action.files);
      continue;
    }
    const { removed, failed } = await removeInOrder(store, folder, action.files);
    deleted.push(...removed);
    if (failed) {
      errors.push(`deleting ${folder}/${failed.file} on ${store.id} (${action.reason}): ${failed.error}`);
      if (options.stopAtFirstFailure) break;
    }
  }
  return { deleted, errors };
}
