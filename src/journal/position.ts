/**
 * Where the journal stands, read from the SITES (never from a writer's memory): the newest full backup
 * and the newest segment. A writer that takes over continues from here, so no revision is written twice
 * and none is skipped whatever happened to the previous writer.
 */
import { messageOf, NotFoundError } from '../errors.ts';
import { findBackup } from '../repository/listing.ts';
import type { Store, StoredFile } from '../stores/store.ts';
import { classifyJournalFile, journalFolder, parseSegmentManifest, segmentManifestFile, type ParsedSegmentName, type SegmentManifest } from './segment.ts';

export interface ChainAnchor {
  /** The next revision to record. */
  readonly nextRevision: number;
  /** object.sha256 of the segment before it, or the base backup's snapshotSha256 at a chain start. */
  readonly previousSha256: string;
  /** The full backup the chain starts from. */
  readonly baseBackup: string;
}

export interface BaseBackup {
  readonly name: string;
  readonly revision: number;
  readonly snapshotSha256: string;
}

export interface JournalPosition {
  /** Where to continue; undefined when there is no full backup to start from. */
  readonly anchor?: ChainAnchor;
  readonly newestBackup?: BaseBackup;
  readonly newestSegment?: SegmentManifest;
  /** Sites that could not be read, with why (the position is then taken from the others). */
  readonly unreadable: readonly { readonly storeId: string; readonly error: string }[];
}

/** The segment manifests a site holds, by name (parsed from names only). */
export async function listSegments(store: Store, cluster: string): Promise<{ segments: ParsedSegmentName[]; files: StoredFile[] }> {
  const files = await store.list(journalFolder(cluster));
  const segments: ParsedSegmentName[] = [];
  for (const f of files) {
    const c = classifyJournalFile(f.name);
    if (c.kind === 'segment-manifest' && c.segment.cluster === cluster) segments.push(c.segment);
  }
  segments.sort((a, b) => a.lastRevision - b.lastRevision || a.firstRevision - b.firstRevision);
  return { segments, files };
}

export async function readSegmentManifest(store: Store, cluster: string, name: string): Promise<SegmentManifest> {
  const file = segmentManifestFile(name);
  const text = (await store.readFile(journalFolder(cluster), file)).toString('utf8');
  return parseSegmentManifest(text, file);
}

/** Every site failed to answer: where the journal stands is unknown until one does (not a data problem). */
export class NoSiteReadable extends Error {
  override readonly name = 'NoSiteReadable';
}

/**
 * Reads every site. The newest segment is the one with the highest last revision on any site (a site that
 * was down is behind and gets healed); its manifest must parse, else this throws: continuing from an older
 * segment would write its revisions twice.
 */
export async function readPosition(stores: readonly Store[], cluster: string): Promise<JournalPosition> {
  const unreadable: { storeId: string; error: string }[] = [];
  let newest: { store: Store; segment: ParsedSegmentName } | undefined;
  await Promise.all(
    stores.map(async (store) => {
      try {
        const { segments } = await listSegments(store, cluster);
        const last = segments[segments.length - 1];
        if (last && (!newest || last.lastRevision > newest.segment.lastRevision)) newest = { store, segment: last };
      } catch (error) {
        unreadable.push({ storeId: store.id, error: messageOf(error) });
      }
    }),
  );
  if (unreadable.length === stores.length) {
    throw new NoSiteReadable(`no site could be read: ${unreadable.map((u) => `${u.storeId}: ${u.error}`).join('; ')}`);
  }
  const newestSegment = newest ? await readNewest(stores, cluster, newest.segment.name, unreadable) : undefined;
  const { entry } = await findBackup(stores, cluster, { kind: 'latest' });
  const newestBackup = entry?.manifest
    ? { name: entry.manifest.name, revision: entry.manifest.revision, snapshotSha256: entry.manifest.snapshotSha256 }
    : undefined;
  let anchor: ChainAnchor | undefined;
  if (newestSegment && (!newestBackup || newestSegment.lastRevision >= newestBackup.revision)) {
    anchor = { nextRevision: newestSegment.lastRevision + 1, previousSha256: newestSegment.object.sha256, baseBackup: newestSegment.baseBackup };
  } else if (newestBackup) {
    anchor = chainStart(newestBackup);
  }
  return { ...(anchor ? { anchor } : {}), ...(newestBackup ? { newestBackup } : {}), ...(newestSegment ? { newestSegment } : {}), unreadable };
}

/**
 * The newest segment's manifest from the first site whose copy parses; a damaged copy is reported (the
 * run is degraded and says which file). With no good copy, where the journal ends is unknown: refuse.
 */
async function readNewest(stores: readonly Store[], cluster: string, name: string, unreadable: { storeId: string; error: string }[]): Promise<SegmentManifest> {
  const errors: string[] = [];
  let good: SegmentManifest | undefined;
  for (const store of stores) {
    try {
      const manifest = await readSegmentManifest(store, cluster, name);
      good ??= manifest;
    } catch (error) {
      if (error instanceof NotFoundError) continue;
      errors.push(`${store.id}: ${messageOf(error)}`);
      unreadable.push({ storeId: store.id, error: messageOf(error) });
    }
  }
  if (!good) throw new Error(`the newest journal segment ${name} has no readable manifest on any site (${errors.join('; ') || 'none found'}): continuing elsewhere could skip or repeat revisions`);
  return good;
}

export function chainStart(backup: BaseBackup): ChainAnchor {
  return { nextRevision: backup.revision + 1, previousSha256: backup.snapshotSha256, baseBackup: backup.name };
}
