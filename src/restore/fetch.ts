/**
 * Gets a backup onto local disk as a raw etcd snapshot and hands it to etcd's own restore: download from
 * the first store that has a good copy, decrypt, decompress and check etcd's sha256 trailer against the
 * manifest, all in one stream. A missing or corrupt copy falls through to the next store.
 *
 * Who checks what: age authenticates every 64 KiB of an encrypted object, zstd and gzip checksum their
 * content, the trailer and the size must equal the manifest's, and `etcdutl`/`etcdctl snapshot restore`
 * hash the whole database against that trailer (they copy it into the new data directory, hash the copy
 * and fail on a mismatch unless told --skip-hash-check, which we never pass; the directory is then
 * removed). All of it happens before etcd is stopped. Hashing the database here as well doubled the CPU
 * of the download on the restore's critical path, for no check that etcd's tool does not already make.
 */
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CatalogEntry } from '../repository/listing.ts';
import type { Manifest } from '../repository/manifest.ts';
import { isAgeCorruption, isAgeWrongIdentity } from '../base/failures.ts';
import type { Log } from '../base/log.ts';
import { InputError, IntegrityError, messageOf } from '../errors.ts';
import { decompressor, decryptStream, requireZstd } from '../snapshot/codec.ts';
import { chain } from '../snapshot/streams.ts';
import { openFileSink } from '../base/fileSink.ts';
import { SnapshotTrailer } from '../snapshot/verifier.ts';
import { owningStream } from '../base/ownStream.ts';
import type { Store } from '../stores/store.ts';
import type { EtcdTools } from './etcdTools.ts';
import type { CommandRunner } from './service.ts';

/** Where backups are read from (the sites, the keys to decrypt them) and which etcd tools restore them. */
export interface SiteReader {
  readonly stores: readonly Store[];
  readonly identities: readonly string[];
  readonly tools: EtcdTools;
}

/** A SiteReader plus how to run etcd's tools: what every restore, drill and replay is given. */
export interface RestoreToolkit extends SiteReader {
  readonly run: CommandRunner;
  readonly log: Log;
  readonly sleep: (ms: number) => Promise<void>;
}

/** What every restore (live or drill) starts from: the backup, where it is, and how to run etcd's tools. */
export interface RestoreSource extends RestoreToolkit {
  readonly entry: CatalogEntry;
  readonly now: () => Date;
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

/**
 * Downloads the backup into `file` and runs `restore` on it (etcd's restore into a fresh directory). An
 * IntegrityError from either (a corrupt copy: etcd's own hash check failed) sends us to the next store;
 * `restore` must leave nothing behind when it fails.
 */
export async function fetchSnapshot(
  entry: CatalogEntry,
  stores: readonly Store[],
  identities: readonly string[],
  file: string,
  log: Log,
  restore: (file: string) => Promise<void>,
): Promise<FetchedSnapshot> {
  const manifest = entry.manifest;
  if (!manifest) throw new IntegrityError(`backup ${entry.name} has no readable manifest on any store`);
  if (manifest.encryptedTo.length > 0 && identities.length === 0) {
    throw new InputError(`backup ${entry.name} is encrypted (to ${manifest.encryptedTo.join(', ')}): give decrypt-identity`);
  }
  // A Node.js without zstd could decompress no copy: say so once, instead of blaming every store.
  if (manifest.compression === 'zstd') requireZstd();
  const skipped: string[] = [];
  // Stores in the order the user gave them: the first one holding a copy is tried first.
  const holders = stores.filter((s) => entry.copies.some((c) => c.storeId === s.id));
  for (const store of stores.filter((s) => !holders.includes(s))) skipped.push(`${store.id}: has no copy of ${entry.name}`);
  const skip = (store: Store, error: unknown): void => {
    const reason = `${store.id}: ${messageOf(error)}`;
    skipped.push(reason);
    log.warning(`copy of ${entry.name} unusable, trying the next store: ${reason}`);
  };
  for (const store of holders) {
    const copy = entry.copies.find((c) => c.storeId === store.id)!;
    try {
      await downloadChecked(store, manifest.cluster, copy.objectFile, manifest, identities, file);
    } catch (error) {
      await rm(file, { force: true });
      if (error instanceof InputError) throw error; // A wrong identity is wrong for every copy.
      skip(store, error);
      continue;
    }
    log.info(`downloaded ${entry.name} from ${store.id}; etcd's restore checks its sha256 and writes the data directory`);
    try {
      await restore(file);
    } catch (error) {
      await rm(file, { force: true });
      // Only a copy etcd's hash check refused is worth another store; any other tool failure would recur.
      if (!(error instanceof IntegrityError)) throw error;
      skip(store, error);
      continue;
    }
    log.info(`etcd's restore accepted ${entry.name} and wrote the data directory`);
    if (skipped.length > 0) log.warning(`restored from ${store.id} after skipping: ${skipped.join('; ')}`);
    return { file, manifest, from: store.id, skipped };
  }
  throw new IntegrityError(`no store has a good copy of ${entry.name}: ${skipped.join('; ')}`);
}

async function downloadChecked(
  store: Store,
  folder: string,
  objectFile: string,
  manifest: Manifest,
  identities: readonly string[],
  file: string,
): Promise<void> {
  // The stored bytes are not hashed: what must match is the database itself (see the header).
  const source = await store.download(folder, objectFile);
  let plain: Readable = source;
  if (manifest.encryptedTo.length > 0) {
    try {
      plain = await decryptStream(source, identities);
    } catch (error) {
      source.destroy();
      if (isAgeWrongIdentity(error)) {
        throw new InputError(
          `decrypt-identity cannot decrypt ${manifest.name}: it is encrypted to ${manifest.encryptedTo.join(', ')} (${messageOf(error)})`,
        );
      }
      throw error;
    }
  }
  const trailer = new SnapshotTrailer(`${manifest.name} from ${store.id}`);
  try {
    await owningStream(plain, async () => {
      const sink = await openFileSink(file, { flags: 'w', mode: 0o600 });
      await pipeline(chain(plain, decompressor(manifest.compression)), trailer, sink);
    });
  } catch (error) {
    // age authenticates every 64 KiB chunk: a flipped bit surfaces here, before any checksum at the end.
    if (isAgeCorruption(error)) {
      throw new IntegrityError(`the stored object is corrupt (age decryption failed: ${messageOf(error)})`, { cause: error });
    }
    throw error;
  }
  const got = trailer.result();
  if (got.sha256 !== manifest.snapshotSha256) {
    throw new IntegrityError(`the snapshot's sha256 trailer ${got.sha256} differs from the manifest's ${manifest.snapshotSha256}`);
  }
  // Also what makes etcd's tool check the hash at all: it looks for a trailer only when size % 512 == 32.
  if (got.size !== manifest.dbSize) {
    throw new IntegrityError(`the snapshot is ${got.size} bytes, the manifest says ${manifest.dbSize}`);
  }
}
