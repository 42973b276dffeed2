/**
 * Reading the journal back: list the segment manifests, gap records and progress marks on every site,
 * merge them into one index (readerChain.ts links them and computes the recoverable windows), and stream
 * the revisions of a range from the first site that has a good copy of each segment.
 *
 * A segment's stored object is downloaded to a scratch file first and its size and sha256 checked against
 * the manifest before a single record is read: a bad copy falls through to the next site before any of its
 * records reached a replay. Then it is decrypted (age authenticates every chunk), decompressed (zstd checks
 * its frame) and parsed strictly (records.ts), and the revisions must run from the manifest's first to its
 * last without a hole or a repeat. Anything else is an error naming the segment: never a skipped revision.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Log } from '../base/log.ts';
import { mapLimit } from '../base/concurrency.ts';
import { InputError, IntegrityError, messageOf } from '../errors.ts';
import { openFileSink } from '../base/fileSink.ts';
import { listCatalog, type Catalog } from '../repository/listing.ts';
import { decompressor, decryptStream, requireZstd } from '../snapshot/codec.ts';
import { chain } from '../snapshot/streams.ts';
import { owningStream } from '../base/ownStream.ts';
import type { Store } from '../stores/store.ts';
import { parseRecord, type RevisionRecord } from './records.ts';
import { linkSegments, recoverableWindows, type BackupPoint, type JournalRun, type ProgressPoint, type RecoverableWindow } from './readerChain.ts';
import { classifyJournalFile, journalFolder, parseGapRecord, parseProgressMark, parseSegmentManifest, type GapRecord, type SegmentManifest } from './segment.ts';

/** One segment, merged across sites: its manifest and the sites holding a usable copy of its object. */
export interface IndexedSegment {
  readonly manifest: SegmentManifest;
  /** In the order the stores were given. */
  readonly copies: readonly Store[];
}

export interface JournalIndex {
  readonly cluster: string;
  readonly backups: readonly BackupPoint[];
  /** Usable segments (a readable manifest and an object of the right size on some site), by first revision. */
  readonly segments: readonly IndexedSegment[];
  readonly gaps: readonly GapRecord[];
  readonly progress?: ProgressPoint;
  readonly runs: readonly JournalRun[];
  readonly windows: readonly RecoverableWindow[];
  /** What costs coverage and no gap record explains (a broken chain, a hole, an unreadable segment): a drill fails on these. */
  readonly problems: readonly string[];
  /** What does not cost coverage: foreign files, a damaged copy another site has good, a site down. */
  readonly notes: readonly string[];
}

interface SiteJournal {
  readonly store: Store;
  readonly manifests: ReadonlyMap<string, SegmentManifest>;
  readonly objectSizes: ReadonlyMap<string, number>;
  readonly gaps: readonly GapRecord[];
  readonly progress?: ProgressPoint;
}

const READ_CONCURRENCY = 8;

async function readSite(store: Store, cluster: string, notes: string[], unreadable: Map<string, string>): Promise<SiteJournal> {
  const folder = journalFolder(cluster);
  const files = await store.list(folder);
  const manifestFiles: string[] = [];
  const gapFiles: string[] = [];
  const objectSizes = new Map<string, number>();
  let progressFile: string | undefined;
  for (const file of files) {
    const kind = classifyJournalFile(file.name);
    const own = !('cluster' in kind) || kind.cluster === cluster;
    if (kind.kind === 'segment-manifest' && kind.segment.cluster === cluster) manifestFiles.push(file.name);
    else if (kind.kind === 'segment-object' && kind.segment.cluster === cluster) objectSizes.set(file.name, file.size);
    else if (kind.kind === 'gap' && own) gapFiles.push(file.name);
    else if (kind.kind === 'progress' && own) progressFile = file.name;
    else if (kind.kind !== 'temporary') notes.push(`${store.id}: ${folder}/${file.name} is not a journal file of ${cluster}: ignored`);
  }
  const manifests = new Map<string, SegmentManifest>();
  await mapLimit(manifestFiles, READ_CONCURRENCY, async (file) => {
    try {
      const manifest = parseSegmentManifest((await store.readFile(folder, file)).toString('utf8'), file);
      manifests.set(manifest.name, manifest);
    } catch (error) {
      unreadable.set(file.replace(/\.json$/, ''), `${store.id}: ${messageOf(error)}`);
    }
  });
  const gaps: GapRecord[] = [];
  for (const file of gapFiles) {
    try {
      gaps.push(parseGapRecord((await store.readFile(folder, file)).toString('utf8'), file));
    } catch (error) {
      notes.push(`${store.id}: gap record ${file} unreadable: ${messageOf(error)}`);
    }
  }
  let progress: ProgressPoint | undefined;
  if (progressFile) {
    try {
      progress = parseProgressMark((await store.readFile(folder, progressFile)).toString('utf8'), progressFile).completeThrough;
    } catch (error) {
      notes.push(`${store.id}: progress mark unreadable: ${messageOf(error)}`);
    }
  }
  return { store, manifests, objectSizes, gaps, ...(progress ? { progress } : {}) };
}

function backupPoints(catalog: Catalog): BackupPoint[] {
  return catalog.entries.flatMap((e) =>
    e.manifest && e.copies.length > 0
      ? [{ name: e.name, revision: e.manifest.revision, time: e.manifest.createdAt, snapshotSha256: e.manifest.snapshotSha256 }]
      : [],
  );
}

/**
 * Lists every site and builds the index. A site that cannot be listed is a note (the others are read); no
 * site at all is an error. `catalog` (the full backups) is listed when not given.
 */
export async function readJournalIndex(stores: readonly Store[], cluster: string, catalog?: Catalog): Promise<JournalIndex> {
  const notes: string[] = [];
  const unreadable = new Map<string, string>();
  const sites: SiteJournal[] = [];
  const failed: string[] = [];
  const [listedCatalog] = await Promise.all([
    catalog ?? listCatalog(stores, cluster),
    ...stores.map(async (store) => {
      try {
        sites.push(await readSite(store, cluster, notes, unreadable));
      } catch (error) {
        failed.push(`${store.id}: ${messageOf(error)}`);
      }
    }),
  ]);
  if (sites.length === 0) throw new Error(`no site's journal of ${cluster} could be listed: ${failed.join('; ')}`);
  for (const f of failed) notes.push(`site not read: ${f}`);
  // Keep the order the stores were given: the first site holding a good copy is read first.
  sites.sort((a, b) => stores.indexOf(a.store) - stores.indexOf(b.store));

  const problems: string[] = [];
  const segments: IndexedSegment[] = [];
  const names = [...new Set(sites.flatMap((s) => [...s.manifests.keys()]))];
  for (const name of names) {
    const holders = sites.filter((s) => s.manifests.has(name));
    const manifest = holders[0]!.manifests.get(name)!;
    const copies: Store[] = [];
    for (const site of holders) {
      const own = site.manifests.get(name)!;
      if (own.object.sha256 !== manifest.object.sha256 || own.object.size !== manifest.object.size) {
        problems.push(`${name}: the copies' manifests disagree (${holders[0]!.store.id} and ${site.store.id} name different objects); only ${holders[0]!.store.id}'s is used`);
        continue;
      }
      const size = site.objectSizes.get(manifest.object.file);
      if (size === manifest.object.size) copies.push(site.store);
      else notes.push(`${site.store.id}: ${manifest.object.file} ${size === undefined ? 'is missing' : `is ${size} bytes, its manifest says ${manifest.object.size}`}`);
    }
    if (copies.length > 0) segments.push({ manifest, copies });
    else problems.push(`${name}: no site has a usable copy of its object`);
  }
  for (const [name, why] of unreadable) {
    if (!names.includes(name)) problems.push(`segment ${name}: manifest unreadable on every site that has it (${why})`);
    else notes.push(`segment ${name}: a copy's manifest is unreadable (${why}); another site's is used`);
  }
  segments.sort((a, b) => a.manifest.firstRevision - b.manifest.firstRevision);

  const gaps = [...new Map(sites.flatMap((s) => s.gaps).map((g) => [`${g.fromRevision}@${g.detectedAt}`, g])).values()].sort(
    (a, b) => a.fromRevision - b.fromRevision,
  );
  const progress = sites
    .flatMap((s) => (s.progress ? [s.progress] : []))
    .sort((a, b) => b.revision - a.revision)[0];
  const backups = backupPoints(listedCatalog);
  const chain = linkSegments(
    segments.map((s) => s.manifest),
    gaps,
    backups,
    progress,
  );
  // Segments linkSegments left out (overlaps) cannot be read either.
  const linked = new Set(chain.runs.flatMap((r) => r.segments.map((s) => s.name)));
  return {
    cluster,
    backups,
    segments: segments.filter((s) => linked.has(s.manifest.name)),
    gaps,
    ...(progress ? { progress } : {}),
    runs: chain.runs,
    windows: recoverableWindows(chain.runs, backups),
    problems: [...problems, ...chain.problems],
    notes,
  };
}

export interface ReadOptions {
  readonly identities: readonly string[];
  /** Where a segment's object waits while it is checked and read (removed after). */
  readonly scratchDir: string;
  readonly log: Log;
}

/** The segments holding revisions from..to, checked to hold every one of them exactly once, in one run. */
export function segmentsFor(index: JournalIndex, from: number, to: number): IndexedSegment[] {
  const run = index.runs.find((r) => r.firstRevision <= from && to <= r.lastRevision);
  if (!run) {
    throw new Error(`the journal of ${index.cluster} holds no unbroken run of revisions ${from}..${to}${index.problems.length > 0 ? ` (${index.problems.join('; ')})` : ''}`);
  }
  const names = new Set(run.segments.filter((s) => s.lastRevision >= from && s.firstRevision <= to).map((s) => s.name));
  return index.segments.filter((s) => names.has(s.manifest.name));
}

/** Hashes what passes through (the stored bytes as they come off the site). */
function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
}

/** Downloads one copy to `file`, checking size and sha256 against the manifest. */
async function downloadSegment(store: Store, cluster: string, manifest: SegmentManifest, file: string): Promise<void> {
  const source = await store.download(journalFolder(cluster), manifest.object.file);
  const hash = createHash('sha256');
  let size = 0;
  await owningStream(source, async () => {
    const sink = await openFileSink(file, { flags: 'w', mode: 0o600 });
    const counter = hashing(hash);
    counter.on('data', (chunk: Buffer) => (size += chunk.length));
    await pipeline(source, counter, sink);
  });
  const sha256 = hash.digest('hex');
  if (size !== manifest.object.size) throw new IntegrityError(`${manifest.object.file} is ${size} bytes, its manifest says ${manifest.object.size}`);
  if (sha256 !== manifest.object.sha256) throw new IntegrityError(`${manifest.object.file} has sha256 ${sha256}, its manifest says ${manifest.object.sha256}`);
}

/** Gets a checked copy of the segment onto local disk, from the first site that has a good one. */
async function fetchSegment(segment: IndexedSegment, cluster: string, file: string, log: Log): Promise<string> {
  const skipped: string[] = [];
  for (const store of segment.copies) {
    try {
      await downloadSegment(store, cluster, segment.manifest, file);
      if (skipped.length > 0) log.warning(`read ${segment.manifest.name} from ${store.id} after skipping: ${skipped.join('; ')}`);
      return store.id;
    } catch (error) {
      await rm(file, { force: true });
      skipped.push(`${store.id}: ${messageOf(error)}`);
    }
  }
  throw new IntegrityError(`no site has a good copy of journal segment ${segment.manifest.name}: ${skipped.join('; ')}`);
}

/** Lines of a byte stream (the last one may lack its newline). */
async function* lines(stream: Readable): AsyncGenerator<string> {
  let pending = '';
  for await (const chunk of stream) {
    pending += (chunk as Buffer).toString('utf8');
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
  }
  if (pending !== '') yield pending;
}

async function plainStream(file: string, manifest: SegmentManifest, identities: readonly string[]): Promise<Readable> {
  let stream: Readable = createReadStream(file, { highWaterMark: 1 << 20 });
  if (manifest.encryptedTo.length > 0) {
    if (identities.length === 0) throw new InputError(`journal segment ${manifest.name} is encrypted (to ${manifest.encryptedTo.join(', ')}): give decrypt-identity`);
    try {
      stream = await decryptStream(stream, identities);
    } catch (error) {
      throw new InputError(`decrypt-identity cannot decrypt journal segment ${manifest.name}: it is encrypted to ${manifest.encryptedTo.join(', ')} (${messageOf(error)})`);
    }
  }
  if (manifest.compression === 'zstd') requireZstd();
  return chain(stream, decompressor(manifest.compression));
}

/**
 * Every revision record of one segment, checked against its manifest: revisions firstRevision..lastRevision
 * each exactly once, in order, and the manifest's event count. Stops early (checks done so far) when the
 * caller stops reading.
 */
async function* segmentRecords(file: string, manifest: SegmentManifest, identities: readonly string[]): AsyncGenerator<RevisionRecord> {
  let expected = manifest.firstRevision;
  let events = 0;
  let lineNumber = 0;
  try {
    for await (const line of lines(await plainStream(file, manifest, identities))) {
      lineNumber++;
      if (line === '') continue;
      const record = parseRecord(line, `journal segment ${manifest.name} line ${lineNumber}`);
      if (record.type === 'progress') continue;
      if (record.rev !== expected) {
        throw new IntegrityError(
          `journal segment ${manifest.name} line ${lineNumber}: revision ${record.rev} where ${expected} was due (${record.rev < expected ? 'repeated' : `revisions ${expected}..${record.rev - 1} missing`})`,
        );
      }
      if (record.rev > manifest.lastRevision) throw new IntegrityError(`journal segment ${manifest.name}: revision ${record.rev} is past its last, ${manifest.lastRevision}`);
      expected++;
      events += record.events.length;
      yield record;
    }
  } catch (error) {
    if (error instanceof InputError || error instanceof IntegrityError) throw error;
    // zstd/age failures and format errors: the segment's content cannot be trusted.
    throw new IntegrityError(`reading journal segment ${manifest.name}: ${messageOf(error)}`, { cause: error });
  }
  if (expected !== manifest.lastRevision + 1) {
    throw new IntegrityError(`journal segment ${manifest.name} ends at revision ${expected - 1}, its manifest says ${manifest.lastRevision} (truncated?)`);
  }
  if (events !== manifest.events) throw new IntegrityError(`journal segment ${manifest.name} holds ${events} events, its manifest says ${manifest.events}`);
}

/**
 * The revisions from..to, in order, each exactly once, read segment by segment. Throws (naming the segment
 * and revision) rather than skip anything.
 */
export async function* readRevisions(index: JournalIndex, from: number, to: number, options: ReadOptions): AsyncGenerator<RevisionRecord> {
  if (to < from) return;
  const segments = segmentsFor(index, from, to);
  const fileOf = (i: number): string => join(options.scratchDir, `${segments[i]!.manifest.name}.segment`);
  // The next segment downloads while this one is replayed: across data centres a segment's round trips
  // would otherwise add up to minutes for an hour of journal. At most two segments are on disk at once.
  const fetchAt = (i: number): Promise<void> => {
    const fetching = fetchSegment(segments[i]!, index.cluster, fileOf(i), options.log).then(() => undefined);
    fetching.catch(() => undefined); // Seen when awaited; never an unhandled rejection meanwhile.
    return fetching;
  };
  let next: Promise<void> | undefined = segments.length > 0 ? fetchAt(0) : undefined;
  let nextIndex = 0;
  try {
    for (let i = 0; i < segments.length; i++) {
      const current = next!;
      next = i + 1 < segments.length ? fetchAt(i + 1) : undefined;
      nextIndex = i + 1;
      try {
        await current;
        for await (const record of segmentRecords(fileOf(i), segments[i]!.manifest, options.identities)) {
          if (record.rev < from) continue;
          yield record;
          if (record.rev >= to) return;
        }
      } finally {
        await rm(fileOf(i), { force: true });
      }
    }
  } finally {
    // Stopped early or failed: the segment being prefetched is waited for and removed.
    if (next) {
      await next.catch(() => undefined);
      await rm(fileOf(nextIndex), { force: true });
    }
  }
}

/**
 * The last revision received at or before `time` within `window`, and when it was received. Reads only the
 * segment that holds it; before the first journal revision of the window, the window's oldest backup.
 */
export async function revisionAtTime(
  index: JournalIndex,
  window: RecoverableWindow,
  time: Date,
  options: ReadOptions,
): Promise<{ readonly revision: number; readonly at: string }> {
  const run = index.runs.find((r) => r.firstRevision <= window.fromRevision + 1 && window.toRevision <= r.throughRevision);
  const fromBackup = { revision: window.fromRevision, at: window.fromTime };
  if (!run) return fromBackup;
  const candidates = run.segments.filter((s) => Date.parse(s.firstReceivedAt) <= time.getTime() && s.lastRevision > window.fromRevision);
  const segment = candidates[candidates.length - 1];
  if (!segment) return fromBackup;
  if (Date.parse(segment.lastReceivedAt) <= time.getTime()) return { revision: segment.lastRevision, at: segment.lastReceivedAt };
  let best = fromBackup;
  for await (const record of readRevisions(index, Math.max(segment.firstRevision, window.fromRevision + 1), segment.lastRevision, options)) {
    if (Date.parse(record.at) > time.getTime()) break;
    best = { revision: record.rev, at: record.at };
  }
  return best;
}

/**
 * When `revision` was received (its record's time), reading only the segment that holds it; for a
 * revision no segment holds, the time of a full backup taken at it. Undefined when neither knows.
 */
export async function receivedAt(index: JournalIndex, revision: number, options: ReadOptions): Promise<string | undefined> {
  const segment = index.segments.find((s) => s.manifest.firstRevision <= revision && revision <= s.manifest.lastRevision);
  if (segment) {
    for await (const record of readRevisions(index, revision, revision, options)) if (record.rev === revision) return record.at;
  }
  return index.backups.find((b) => b.revision === revision)?.time;
}

/** Whether any reachable site holds a journal file of the cluster (one listing per site: cheap). */
export async function hasJournal(stores: readonly Store[], cluster: string): Promise<boolean> {
  const found = await Promise.all(
    stores.map(async (store) => {
      try {
        return (await store.list(journalFolder(cluster))).some((f) => {
          const kind = classifyJournalFile(f.name).kind;
          return kind === 'segment-manifest' || kind === 'gap';
        });
      } catch {
        return false;
      }
    }),
  );
  return found.some(Boolean);
}
