/**
 * Gets a backup onto local disk as a raw, verified etcd snapshot: download from the first store that
 * has a good copy (checking the manifest's sha256 of the stored bytes), decrypt, decompress and check
 * etcd's sha256 trailer, all in one stream. A missing or corrupt copy falls through to the next store.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CatalogEntry } from '../catalog/catalog.ts';
import type { Manifest } from '../catalog/manifest.ts';
import type { Log } from '../engine/log.ts';
import { InputError, IntegrityError, messageOf } from '../errors.ts';
import { decompressor, decryptStream } from '../snapshot/codec.ts';
import { chain } from '../snapshot/streams.ts';
import { SnapshotVerifier } from '../snapshot/verifier.ts';
import type { Store } from '../stores/store.ts';
import type { EtcdTools } from './etcdTools.ts';
import type { CommandRunner } from './service.ts';

/** What every restore (live or drill) starts from: the backup, where it is, and how to run etcd's tools. */
export interface RestoreSource {
  readonly entry: CatalogEntry;
  readonly stores: readonly Store[];
  readonly identities: readonly string[];
  readonly tools: EtcdTools;
  readonly run: CommandRunner;
  readonly log: Log;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
}

export interface FetchedSnapshot {
  /** Path of the raw snapshot (trailer included), mode 0600. */
  readonly file: string;
  readonly manifest: Manifest;
  /** Store the good copy came from. */
  readonly from: string;
  /** Stores tried before it, with why they were skipped. */
  readonly skipped: readonly string[];
}

export async function fetchSnapshot(
  entry: CatalogEntry,
  stores: readonly Store[],
  identities: readonly string[],
  file: string,
  log: Log,
): Promise<FetchedSnapshot> {
  const manifest = entry.manifest;
  if (!manifest) throw new IntegrityError(`backup ${entry.name} has no readable manifest on any store`);
  if (manifest.encryptedTo.length > 0 && identities.length === 0) {
    throw new InputError(`backup ${entry.name} is encrypted (to ${manifest.encryptedTo.join(', ')}): give decrypt-identity`);
  }
  const skipped: string[] = [];
  // Stores in the order the user gave them: the first one holding a copy is tried first.
  const holders = stores.filter((s) => entry.copies.some((c) => c.storeId === s.id));
  for (const store of stores.filter((s) => !holders.includes(s))) skipped.push(`${store.id}: has no copy of ${entry.name}`);
  for (const store of holders) {
    const copy = entry.copies.find((c) => c.storeId === store.id)!;
    try {
      await downloadVerified(store, manifest.cluster, copy.objectFile, manifest, identities, file);
      if (skipped.length > 0) log.warning(`restored from ${store.id} after skipping: ${skipped.join('; ')}`);
      return { file, manifest, from: store.id, skipped };
    } catch (error) {
      await rm(file, { force: true });
      if (error instanceof InputError) throw error; // A wrong identity is wrong for every copy.
      const reason = `${store.id}: ${messageOf(error)}`;
      skipped.push(reason);
      log.warning(`copy of ${entry.name} unusable, trying the next store: ${reason}`);
    }
  }
  throw new IntegrityError(`no store has a good copy of ${entry.name}: ${skipped.join('; ')}`);
}

async function downloadVerified(
  store: Store,
  folder: string,
  objectFile: string,
  manifest: Manifest,
  identities: readonly string[],
  file: string,
): Promise<void> {
  // The stored bytes are not hashed separately: what must match is the database itself, and it is
  // checked below against etcd's trailer and the manifest's snapshot sha256 (age authenticates every
  // chunk of an encrypted object on the way). One hash fewer on the restore's critical path.
  const source = await store.download(folder, objectFile);
  let plain: Readable = source;
  if (manifest.encryptedTo.length > 0) {
    try {
      plain = await decryptStream(source, identities);
    } catch (error) {
      source.destroy();
      if (/identit|no.*match|stanza/i.test(messageOf(error))) {
        throw new InputError(
          `decrypt-identity cannot decrypt ${manifest.name}: it is encrypted to ${manifest.encryptedTo.join(', ')} (${messageOf(error)})`,
        );
      }
      throw error;
    }
  }
  const verifier = new SnapshotVerifier(`${manifest.name} from ${store.id}`);
  try {
    await pipeline(chain(plain, decompressor(manifest.compression)), verifier, createWriteStream(file, { mode: 0o600 }));
  } catch (error) {
    // age authenticates every 64 KiB chunk: a flipped bit surfaces here, before any checksum at the end.
    if (/invalid tag|ciphertext|stream ended/i.test(messageOf(error))) {
      throw new IntegrityError(`the stored object is corrupt (age decryption failed: ${messageOf(error)})`, { cause: error });
    }
    throw error;
  }
  const verified = verifier.result();
  if (verified.sha256 !== manifest.snapshotSha256) {
    throw new IntegrityError(`the snapshot's sha256 ${verified.sha256} differs from the manifest's ${manifest.snapshotSha256}`);
  }
}
