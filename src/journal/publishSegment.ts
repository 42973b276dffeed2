/**
 * Puts a segment (or a gap record, or the progress mark) on every site through the repository's one
 * publish protocol (temporary name, size and sha256 check, rename, manifest last), each site on its own:
 * one site down makes the journal degraded, not stopped. Also copies segments a site missed while it was
 * down, from a site that has them, sha256-checked on the way (the same check as backup healing).
 */
import { Readable } from 'node:stream';
import { messageOf } from '../errors.ts';
import { publishObject, writeSmallFile } from '../repository/publish.ts';
import type { Store } from '../stores/store.ts';
import { listSegments, readSegmentManifest } from './position.ts';
import {
  encodeJournalRecord,
  gapFileName,
  journalFolder,
  progressFileName,
  segmentManifestFile,
  type GapRecord,
  type ProgressMark,
  type SegmentManifest,
} from './segment.ts';

export interface SiteResult {
  readonly store: string;
  readonly ok: boolean;
  readonly error?: string;
}

export async function publishSegment(stores: readonly Store[], manifest: SegmentManifest, bytes: Buffer): Promise<SiteResult[]> {
  const folder = journalFolder(manifest.cluster);
  const body = encodeJournalRecord(manifest);
  return Promise.all(
    stores.map(async (store): Promise<SiteResult> => {
      try {
        await publishObject(store, folder, {
          objectName: manifest.object.file,
          content: Readable.from([bytes]),
          expectedSize: manifest.object.size,
          expectedSha256: manifest.object.sha256,
          manifest: { name: segmentManifestFile(manifest.name), bytes: body },
        });
        return { store: store.id, ok: true };
      } catch (error) {
        return { store: store.id, ok: false, error: `publishing ${manifest.name}: ${messageOf(error)}` };
      }
    }),
  );
}

export async function publishGap(stores: readonly Store[], gap: GapRecord): Promise<SiteResult[]> {
  const folder = journalFolder(gap.cluster);
  const name = gapFileName(gap.cluster, gap.fromRevision, new Date(gap.detectedAt));
  return Promise.all(
    stores.map(async (store): Promise<SiteResult> => {
      try {
        await writeSmallFile(store, folder, name, encodeJournalRecord(gap), { replace: true });
        return { store: store.id, ok: true };
      } catch (error) {
        return { store: store.id, ok: false, error: `writing gap record ${name}: ${messageOf(error)}` };
      }
    }),
  );
}

export async function publishProgress(stores: readonly Store[], mark: ProgressMark): Promise<SiteResult[]> {
  const folder = journalFolder(mark.cluster);
  const name = progressFileName(mark.cluster);
  return Promise.all(
    stores.map(async (store): Promise<SiteResult> => {
      try {
        await writeSmallFile(store, folder, name, encodeJournalRecord(mark), { replace: true });
        return { store: store.id, ok: true };
      } catch (error) {
        return { store: store.id, ok: false, error: `writing progress mark: ${messageOf(error)}` };
      }
    }),
  );
}

export interface JournalHealing {
  /** Sites that could be listed. */
  readonly reached: readonly string[];
  readonly copied: readonly { readonly name: string; readonly from: string; readonly to: string }[];
  readonly failed: readonly { readonly name: string; readonly to: string; readonly error: string }[];
}

/**
 * Copies every segment some site holds and another reachable site lacks, from a site that has it; the copy
 * is checked against the source manifest's size and sha256 before it is renamed into place. Segments at or
 * below `notBefore` are left alone (retention may have removed them on purpose).
 */
export async function healSegments(stores: readonly Store[], cluster: string, notBefore = 0): Promise<JournalHealing> {
  const folder = journalFolder(cluster);
  const listings = await Promise.all(
    stores.map(async (store) => {
      try {
        const { segments, files } = await listSegments(store, cluster);
        return { store, names: new Set(segments.filter((s) => s.lastRevision > notBefore).map((s) => s.name)), files: new Set(files.map((f) => f.name)) };
      } catch {
        return undefined;
      }
    }),
  );
  const reachable = listings.filter((l): l is NonNullable<typeof l> => l !== undefined);
  const copied: { name: string; from: string; to: string }[] = [];
  const failed: { name: string; to: string; error: string }[] = [];
  const all = [...new Set(reachable.flatMap((l) => [...l.names]))].sort();
  for (const name of all) {
    const source = reachable.find((l) => l.names.has(name))!;
    for (const target of reachable.filter((l) => !l.names.has(name))) {
      try {
        const manifest = await readSegmentManifest(source.store, cluster, name);
        const content = await source.store.download(folder, manifest.object.file);
        await publishObject(target.store, folder, {
          objectName: manifest.object.file,
          content,
          expectedSize: manifest.object.size,
          expectedSha256: manifest.object.sha256,
          source: `read from ${source.store.id}`,
          manifest: { name: segmentManifestFile(name), bytes: encodeJournalRecord(manifest) },
          // An object left without its manifest (a publish cut off halfway) is replaced by this checked copy.
          replaceOrphan: target.files.has(manifest.object.file),
        });
        copied.push({ name, from: source.store.id, to: target.store.id });
      } catch (error) {
        failed.push({ name, to: target.store.id, error: messageOf(error) });
      }
    }
  }
  return { reached: reachable.map((l) => l.store.id), copied, failed };
}
