/**
 * Reads a journal the way an operator would check it on a site's disk: every segment manifest in
 * `<root>/<cluster>/journal/`, the object it names decompressed (and decrypted), its records parsed, and
 * the hash chain and revision contiguity checked. Test-side only; the product's reader is src/journal/reader.ts.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { decompressor, decryptStream } from '../../src/snapshot/codec.ts';
import { parseRecord, type JournalRecord, type RevisionRecord } from '../../src/journal/records.ts';
import { classifyJournalFile, parseGapRecord, parseSegmentManifest, type GapRecord, type SegmentManifest } from '../../src/journal/segment.ts';

export interface SiteJournal {
  readonly segments: readonly { readonly manifest: SegmentManifest; readonly records: readonly JournalRecord[] }[];
  readonly gaps: readonly GapRecord[];
  readonly files: readonly string[];
}

export async function readSiteJournal(root: string, cluster: string, identities: readonly string[] = []): Promise<SiteJournal> {
  const dir = path.join(root, cluster, 'journal');
  const files = (await readdir(dir).catch(() => [] as string[])).sort();
  const segments: { manifest: SegmentManifest; records: JournalRecord[] }[] = [];
  const gaps: GapRecord[] = [];
  for (const file of files) {
    const kind = classifyJournalFile(file);
    if (kind.kind === 'gap') gaps.push(parseGapRecord(await readFile(path.join(dir, file), 'utf8'), file));
    if (kind.kind !== 'segment-manifest') continue;
    const manifest = parseSegmentManifest(await readFile(path.join(dir, file), 'utf8'), file);
    const bytes = await readFile(path.join(dir, manifest.object.file));
    if (bytes.length !== manifest.object.size) throw new Error(`${manifest.object.file}: size ${bytes.length}, manifest ${manifest.object.size}`);
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== manifest.object.sha256) throw new Error(`${manifest.object.file}: sha256 differs from its manifest`);
    segments.push({ manifest, records: await decodeSegment(bytes, manifest, identities, file) });
  }
  return { segments, gaps, files };
}

/** A segment object's records: decrypted (when its manifest names recipients), decompressed, parsed line by line. */
export async function decodeSegment(bytes: Buffer, manifest: SegmentManifest, identities: readonly string[], file: string): Promise<JournalRecord[]> {
  let stream: Readable = Readable.from([bytes]);
  if (manifest.encryptedTo.length > 0) stream = await decryptStream(stream, identities);
  const d = decompressor(manifest.compression);
  if (d) stream = stream.pipe(d);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l !== '');
  return lines.map((l, i) => parseRecord(l, `${file} line ${i + 1}`));
}

/** Every revision record across segments in order; throws on a hole, a duplicate or a broken hash link. */
export function verifiedRevisions(journal: SiteJournal, startAfter: number, chainStartSha256?: string): RevisionRecord[] {
  const out: RevisionRecord[] = [];
  let expected = startAfter + 1;
  let previous = chainStartSha256;
  for (const { manifest, records } of journal.segments) {
    if (manifest.lastRevision < expected) continue; // before the base backup
    if (manifest.firstRevision !== expected) throw new Error(`${manifest.name}: starts at ${manifest.firstRevision}, expected ${expected}`);
    if (previous !== undefined && manifest.previousSha256 !== previous) throw new Error(`${manifest.name}: hash chain broken`);
    for (const r of records) {
      if (r.type !== 'rev') continue;
      if (r.rev !== expected) throw new Error(`${manifest.name}: revision ${r.rev}, expected ${expected}`);
      out.push(r);
      expected++;
    }
    if (expected !== manifest.lastRevision + 1) throw new Error(`${manifest.name}: records end at ${expected - 1}, manifest says ${manifest.lastRevision}`);
    previous = manifest.object.sha256;
  }
  return out;
}
