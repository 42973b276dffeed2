/**
 * Takes one snapshot stream to every store at once:
 *
 *   etcd ──verify trailer──▶ raw spool ──▶ compress ──▶ encrypt ──▶ object spool ──▶ store 1 (temp name)
 *                                                                              └──▶ store 2 (temp name)
 *
 * Nothing is committed here: the caller gets one PendingUpload per store that succeeded, and commits
 * them only once the whole pipeline (trailer check included) succeeded. A store that fails affects only
 * its own upload.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { Compression } from '../catalog/naming.ts';
import { messageOf, withContext } from '../errors.ts';
import type { PendingUpload, Store } from '../stores/store.ts';
import { compressor, encryptStream } from './codec.ts';
import { Measure } from './measure.ts';
import { Spool } from './spool.ts';
import { SnapshotVerifier } from './verifier.ts';
import { chain } from './streams.ts';

export interface ShipRequest {
  readonly snapshot: Readable;
  /** Who the snapshot comes from, for error messages. */
  readonly sourceLabel: string;
  readonly stores: readonly Store[];
  readonly folder: string;
  readonly objectFile: string;
  readonly compression: Compression;
  readonly recipients: readonly string[];
  /** A private directory for the spool files. */
  readonly spoolDir: string;
}

export type StoreUploadResult =
  | { readonly store: Store; readonly ok: true; readonly pending: PendingUpload }
  | { readonly store: Store; readonly ok: false; readonly error: string };

export interface ShipResult {
  readonly snapshotSize: number;
  readonly snapshotSha256: string;
  readonly objectSize: number;
  readonly objectSha256: string;
  readonly uploads: readonly StoreUploadResult[];
}

/**
 * Runs the pipeline. Rejects if the snapshot itself failed (stream error, bad trailer); in that case
 * every upload has been aborted. Resolves with per-store results otherwise.
 */
export async function shipSnapshot(request: ShipRequest): Promise<ShipResult> {
  const rawSpool = await Spool.create(join(request.spoolDir, `${request.objectFile}.raw`));
  const transformed = request.compression !== 'none' || request.recipients.length > 0;
  const objectSpool = transformed ? await Spool.create(join(request.spoolDir, `${request.objectFile}.obj`)) : rawSpool;
  const verifier = new SnapshotVerifier(request.sourceLabel);
  const measure = new Measure();

  try {
    const rawDone = pipeline(request.snapshot, verifier, rawSpool.writer());
    const objectDone = transformed ? transform(rawSpool, objectSpool, measure, request) : Promise.resolve();
    const uploads = request.stores.map((store) => uploadTo(store, request, objectSpool.reader()));

    // Each stage is awaited after all are started; failures propagate down the chain through the spools.
    const [raw, object] = await Promise.allSettled([rawDone, objectDone]);
    const results = await Promise.all(uploads);
    const failure = raw.status === 'rejected' ? raw.reason : object.status === 'rejected' ? object.reason : undefined;
    if (failure !== undefined) {
      await Promise.all(results.map((r) => (r.ok ? r.pending.abort() : undefined)));
      throw failure instanceof Error ? failure : new Error(String(failure));
    }
    const snapshot = verifier.result();
    return {
      snapshotSize: snapshot.size,
      snapshotSha256: snapshot.sha256,
      objectSize: transformed ? measure.size : snapshot.size,
      objectSha256: transformed ? measure.sha256 : snapshot.sha256,
      uploads: results,
    };
  } finally {
    await rawSpool.close().catch(() => undefined);
    if (objectSpool !== rawSpool) await objectSpool.close().catch(() => undefined);
    await rm(rawSpool.path, { force: true });
    await rm(objectSpool.path, { force: true });
  }
}

async function transform(raw: Spool, object: Spool, measure: Measure, request: ShipRequest): Promise<void> {
  try {
    const compressed = chain(raw.reader(), compressor(request.compression));
    const encrypted = request.recipients.length > 0 ? await encryptStream(compressed, request.recipients) : compressed;
    await pipeline(encrypted, measure, object.writer());
  } catch (error) {
    const wrapped = withContext(`compressing/encrypting the snapshot of ${request.sourceLabel}`, error);
    object.fail(wrapped);
    throw wrapped;
  }
}

async function uploadTo(store: Store, request: ShipRequest, content: Readable): Promise<StoreUploadResult> {
  try {
    const pending = await store.upload(request.folder, request.objectFile, content);
    return { store, ok: true, pending };
  } catch (error) {
    content.destroy();
    return { store, ok: false, error: messageOf(error) };
  }
}
