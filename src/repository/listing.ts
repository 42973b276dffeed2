/**
 * Listing a site: what backups exist across every store of a cluster. Each store is listed on its own (a
 * store that is down is recorded and skipped), its files are classified by name (layout.ts), each manifest
 * is read and parsed strictly (manifest.ts), and manifests are paired with their objects. Then the stores
 * are merged into one entry per backup name, newest first, telling which stores hold a copy and whether
 * the copies agree. findBackup finds one backup reading only the manifests it needs.
 *
 * Nothing here deletes or writes: catalog/prune.ts and catalog/healing.ts plan from a catalog.
 */
import { mapLimit } from '../base/concurrency.ts';
import { InputError, IntegrityError, messageOf, NotFoundError } from '../errors.ts';
import type { Store, StoredFile } from '../stores/store.ts';
import { assertClusterName, classifyFile, newestBackupFirst } from './layout.ts';
import { parseManifest, type Manifest } from './manifest.ts';

/** One backup as one store holds it: its manifest file, and the object the manifest names when present. */
export interface StoreBackup {
  readonly name: string;
  readonly time: Date;
  readonly revision: number;
  readonly member: string;
  readonly manifestFile: StoredFile;
  /** The parsed manifest; absent when it could not be read or parsed (then `manifestError` says why). */
  readonly manifest?: Manifest;
  readonly manifestError?: string;
  /** The object file named by the manifest, when it is listed on this store. */
  readonly object?: StoredFile;
  /** Why this copy is not usable (unreadable manifest, missing or wrong-sized object); absent when it is. */
  readonly problem?: string;
}

export interface UnreadableManifest {
  readonly storeId: string;
  readonly name: string;
  readonly file: string;
  readonly error: string;
}

/** Everything one reachable store holds for the cluster. */
export interface StoreListing {
  readonly storeId: string;
  /** One per manifest file, newest first; usable ones have `manifest` and `object` and no `problem`. */
  readonly backups: readonly StoreBackup[];
  /** Object files no manifest on this store names (left by an interrupted backup or prune). */
  readonly orphanObjects: readonly StoredFile[];
  /** In-flight or abandoned uploads (`.tmp-*`), with their modification times. */
  readonly temporary: readonly StoredFile[];
  /** Files that are not ours (or belong to another cluster's naming): never touched. */
  readonly foreign: readonly StoredFile[];
}

export interface FailedStore {
  readonly storeId: string;
  readonly error: string;
}

export interface CatalogCopy {
  readonly storeId: string;
  readonly objectFile: string;
  /** Size of the object as listed on that store. */
  readonly objectSize: number;
  /** The object's sha256 as recorded in that store's manifest. */
  readonly manifestSha256: string;
}

export interface CatalogEntry {
  readonly name: string;
  readonly time: Date;
  readonly revision: number;
  /** Size of the stored object (from a readable manifest); undefined when no manifest is readable. */
  readonly size: number | undefined;
  /** The member the snapshot was taken from (as in the backup name). */
  readonly sourceMember: string;
  /** A readable manifest of this backup (the first store's); absent when none could be read. */
  readonly manifest?: Manifest;
  /** Stores holding a usable copy: readable manifest and its object, of the size the manifest records. */
  readonly copies: readonly CatalogCopy[];
  /** Every copy records the same object sha256 (and no store has a damaged copy of it). */
  readonly consistent: boolean;
  /** Stores that hold this backup but not usably, with why. */
  readonly damaged: readonly { readonly storeId: string; readonly problem: string }[];
}

export interface Catalog {
  readonly cluster: string;
  /** Reachable stores, in the order given. */
  readonly stores: readonly StoreListing[];
  /** Stores that could not be listed: skipped. */
  readonly failedStores: readonly FailedStore[];
  /** One per backup name seen on any reachable store, newest first. */
  readonly entries: readonly CatalogEntry[];
  /** Every unreadable manifest on every reachable store. */
  readonly unreadable: readonly UnreadableManifest[];
}

const MANIFEST_READ_CONCURRENCY = 8;

/** A manifest file as its name describes it, before it is read. */
interface ManifestFile {
  readonly file: StoredFile;
  readonly name: string;
  readonly time: Date;
  readonly revision: number;
  readonly member: string;
}

/** A store's files sorted by kind (pure): what a listing starts from before any manifest is read. */
interface ClassifiedFiles {
  readonly manifests: readonly ManifestFile[];
  readonly objects: ReadonlyMap<string, StoredFile>;
  readonly temporary: readonly StoredFile[];
  readonly foreign: readonly StoredFile[];
}

function classifyFiles(files: readonly StoredFile[], cluster: string): ClassifiedFiles {
  const manifests: ManifestFile[] = [];
  const objects = new Map<string, StoredFile>();
  const temporary: StoredFile[] = [];
  const foreign: StoredFile[] = [];
  for (const file of files) {
    const kind = classifyFile(file.name);
    switch (kind.kind) {
      case 'manifest':
      case 'object':
        if (kind.backup.cluster !== cluster) foreign.push(file);
        else if (kind.kind === 'object') objects.set(file.name, file);
        else {
          const { name, time, revision, member } = kind.backup;
          manifests.push({ file, name, time, revision, member });
        }
        break;
      case 'temporary':
        temporary.push(file);
        break;
      case 'status':
        break;
      case 'foreign':
        foreign.push(file);
        break;
    }
  }
  return { manifests, objects, temporary, foreign };
}

/**
 * Reads and checks the manifests of `names` (every backup when undefined) on one store, pairing each with
 * its object. An unreadable manifest is recorded, never dropped, so retention keeps it.
 */
async function readBackups(store: Store, cluster: string, classified: ClassifiedFiles, names?: ReadonlySet<string>): Promise<StoreBackup[]> {
  const wanted = names ? classified.manifests.filter((m) => names.has(m.name)) : classified.manifests;
  const read = await mapLimit(wanted, MANIFEST_READ_CONCURRENCY, async (m): Promise<StoreBackup | undefined> => {
    const base = { name: m.name, time: m.time, revision: m.revision, member: m.member, manifestFile: m.file };
    let manifest: Manifest;
    try {
      manifest = parseManifest(await store.readFile(cluster, m.file.name), m.name, cluster);
    } catch (error) {
      // Deleted between list and read (a concurrent prune): it is gone, not unreadable.
      if (error instanceof NotFoundError) return undefined;
      const manifestError = `${error instanceof IntegrityError ? '' : 'could not read it: '}${messageOf(error)}`;
      return { ...base, manifestError, problem: `manifest unreadable: ${manifestError}` };
    }
    const object = classified.objects.get(manifest.object.file);
    if (!object) return { ...base, manifest, problem: `object ${manifest.object.file} missing` };
    if (object.size !== manifest.object.size) {
      return {
        ...base,
        manifest,
        object,
        problem: `object ${object.name} is ${object.size} bytes, its manifest says ${manifest.object.size}`,
      };
    }
    return { ...base, manifest, object };
  });
  return read.filter((b): b is StoreBackup => b !== undefined).sort(newestBackupFirst);
}

/**
 * Lists one store. A failure to list is thrown (the caller records the store as down); a manifest that
 * cannot be read or parsed is recorded as unreadable, never dropped, so retention keeps it.
 */
export async function listStore(store: Store, cluster: string): Promise<StoreListing> {
  const classified = classifyFiles(await store.list(cluster), cluster);
  const backups = await readBackups(store, cluster, classified);
  const named = new Set(backups.flatMap((b) => (b.manifest ? [b.manifest.object.file] : [])));
  // Objects beside an unreadable manifest are not orphans: we cannot tell which object it names, so
  // everything of that backup's name is left alone.
  const unreadableNames = new Set(backups.filter((b) => !b.manifest).map((b) => b.name));
  const orphanObjects = [...classified.objects.values()].filter((o) => {
    const kind = classifyFile(o.name);
    return !named.has(o.name) && !(kind.kind === 'object' && unreadableNames.has(kind.backup.name));
  });
  return { storeId: store.id, backups, orphanObjects, temporary: classified.temporary, foreign: classified.foreign };
}

/** Merges per-store listings into one entry per backup name, newest first. */
export function mergeListings(
  cluster: string,
  stores: readonly StoreListing[],
  failedStores: readonly FailedStore[],
): Catalog {
  const byName = new Map<string, { first: StoreBackup; perStore: { storeId: string; backup: StoreBackup }[] }>();
  for (const listing of stores) {
    for (const backup of listing.backups) {
      const slot = byName.get(backup.name);
      if (slot) slot.perStore.push({ storeId: listing.storeId, backup });
      else byName.set(backup.name, { first: backup, perStore: [{ storeId: listing.storeId, backup }] });
    }
  }
  const entries: CatalogEntry[] = [...byName.values()].map(({ first, perStore }) => {
    const manifest = perStore.find((p) => p.backup.manifest)?.backup.manifest;
    const copies: CatalogCopy[] = perStore.flatMap(({ storeId, backup }) =>
      backup.manifest && backup.object && !backup.problem
        ? [{ storeId, objectFile: backup.object.name, objectSize: backup.object.size, manifestSha256: backup.manifest.object.sha256 }]
        : [],
    );
    const damaged = perStore.flatMap(({ storeId, backup }) => (backup.problem ? [{ storeId, problem: backup.problem }] : []));
    const shas = new Set(perStore.flatMap(({ backup }) => (backup.manifest ? [backup.manifest.object.sha256] : [])));
    const sizeMismatch = perStore.some(({ backup }) => backup.manifest && backup.object && backup.problem);
    return {
      name: first.name,
      time: first.time,
      revision: first.revision,
      size: manifest?.object.size,
      sourceMember: first.member,
      ...(manifest ? { manifest } : {}),
      copies,
      consistent: shas.size <= 1 && !sizeMismatch,
      damaged,
    };
  });
  entries.sort(newestBackupFirst);
  const unreadable = stores.flatMap((listing) =>
    listing.backups.flatMap((b) =>
      b.manifest ? [] : [{ storeId: listing.storeId, name: b.name, file: b.manifestFile.name, error: b.manifestError ?? 'unreadable' }],
    ),
  );
  return { cluster, stores, failedStores, entries, unreadable };
}

/**
 * Lists every store (in parallel) and merges them. A store whose listing fails is recorded in
 * `failedStores` with the error and skipped; this never rejects because of one store.
 */
export async function listCatalog(stores: readonly Store[], cluster: string): Promise<Catalog> {
  const results = await eachStore(stores, cluster, (store) => listStore(store, cluster));
  return mergeListings(
    cluster,
    results.flatMap((r) => (r.ok ? [r.value] : [])),
    results.flatMap((r) => (r.ok ? [] : [r.failed])),
  );
}

/** `latest` (the newest usable backup), or an exact backup name of this cluster. */
export type BackupChoice = { readonly kind: 'latest' } | { readonly kind: 'named'; readonly name: string };

/**
 * Finds one backup, reading only the manifests it needs: a restore must start as fast with 600 backups
 * kept as with 3 (listCatalog reads every manifest on every store, three SFTP round trips each, seconds
 * across data centres). Every store is listed (one directory read each); then the named backup's manifests
 * are read, or for `latest` those of the newest name, then the next older one, until a backup has a usable
 * copy. The entry is what listCatalog would give for that backup; `catalog` holds only what was read.
 */
export async function findBackup(
  stores: readonly Store[],
  cluster: string,
  wanted: BackupChoice,
): Promise<{ entry: CatalogEntry | undefined; catalog: Catalog }> {
  const results = await eachStore(stores, cluster, async (store) => ({ store, classified: classifyFiles(await store.list(cluster), cluster) }));
  const reachable = results.flatMap((r) => (r.ok ? [r.value] : []));
  const failed = results.flatMap((r) => (r.ok ? [] : [r.failed]));
  const catalogOf = async (names: ReadonlySet<string>): Promise<Catalog> => {
    const listings = await Promise.all(
      reachable.map(async ({ store, classified }): Promise<StoreListing> => ({
        storeId: store.id,
        backups: await readBackups(store, cluster, classified, names),
        // Not computed: telling orphans apart needs every manifest (prune lists the whole catalog).
        orphanObjects: [],
        temporary: classified.temporary,
        foreign: classified.foreign,
      })),
    );
    return mergeListings(cluster, listings, failed);
  };
  const newestFirst = [...new Map(reachable.flatMap(({ classified }) => classified.manifests.map((m) => [m.name, m] as const))).values()].sort(
    newestBackupFirst,
  );
  const candidates = wanted.kind === 'named' ? newestFirst.filter((m) => m.name === wanted.name) : newestFirst;
  for (const candidate of candidates) {
    const catalog = await catalogOf(new Set([candidate.name]));
    const entry = wanted.kind === 'named' ? catalog.entries[0] : latest(catalog);
    if (entry || wanted.kind === 'named') return { entry, catalog };
  }
  return { entry: undefined, catalog: await catalogOf(new Set()) };
}

/** Runs `fn` on every store at once; a store that fails is reported with the error, never thrown. */
async function eachStore<T>(
  stores: readonly Store[],
  cluster: string,
  fn: (store: Store) => Promise<T>,
): Promise<Array<{ ok: true; value: T } | { ok: false; failed: FailedStore }>> {
  assertClusterName(cluster);
  const ids = stores.map((s) => s.id);
  const duplicate = ids.find((id, i) => ids.indexOf(id) !== i);
  if (duplicate !== undefined) throw new InputError(`listing ${cluster}: store ${duplicate} is given twice`);
  return Promise.all(
    stores.map(async (store) => {
      try {
        return { ok: true as const, value: await fn(store) };
      } catch (error) {
        return { ok: false as const, failed: { storeId: store.id, error: `listing ${cluster}/ on ${store.id}: ${messageOf(error)}` } };
      }
    }),
  );
}

/** The newest backup with a readable manifest and its object on at least one store; undefined if none. */
export function latest(catalog: Catalog): CatalogEntry | undefined {
  return catalog.entries.find((e) => e.manifest !== undefined && e.copies.length > 0);
}
