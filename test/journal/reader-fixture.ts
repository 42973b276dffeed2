/**
 * Journal segments for reader and point-in-time tests, made from a test recorder's revisions with the
 * journal writer's own encoder and publisher (src/journal/encode.ts, publishSegment.ts): the bytes and
 * manifests on the sites are what the writer would put there, chained from a real full backup.
 */
import type { LeaseGrant, RevisionRecord } from '../../src/journal/records.ts';
import { encodeSegment } from '../../src/journal/encode.ts';
import { publishSegment } from '../../src/journal/publishSegment.ts';
import { JOURNAL_FORMAT, SEGMENT_KIND, segmentName, segmentObjectFile, type SegmentManifest } from '../../src/journal/segment.ts';
import type { Store } from '../../src/stores/store.ts';

export interface ChainBase {
  readonly name: string;
  readonly revision: number;
  readonly snapshotSha256: string;
}

export interface PublishOptions {
  readonly revisionsPerSegment: number;
  readonly recipients?: readonly string[];
  readonly compression?: 'zstd' | 'gzip' | 'none';
}

/** Publishes records base.revision+1 .. last as chained segments on every store; returns their manifests in order. */
export async function publishRecorded(
  stores: readonly Store[],
  cluster: string,
  base: ChainBase,
  records: readonly RevisionRecord[],
  leases: ReadonlyMap<string, LeaseGrant>,
  options: PublishOptions,
): Promise<SegmentManifest[]> {
  const compression = options.compression ?? 'zstd';
  const recipients = options.recipients ?? [];
  const chainRecords = records.filter((r) => r.rev > base.revision);
  if (chainRecords[0]?.rev !== base.revision + 1) throw new Error(`fixture: records must start at ${base.revision + 1}, got ${chainRecords[0]?.rev}`);
  const seenLeases = new Set<string>();
  const manifests: SegmentManifest[] = [];
  let previousSha256 = base.snapshotSha256;
  for (let i = 0; i < chainRecords.length; i += options.revisionsPerSegment) {
    const part = chainRecords.slice(i, i + options.revisionsPerSegment);
    const first = part[0]!;
    const last = part[part.length - 1]!;
    const segmentLeases: LeaseGrant[] = [];
    for (const record of part) {
      for (const e of record.events) {
        if (e.type === 'put' && e.lease !== '0' && !seenLeases.has(e.lease)) {
          seenLeases.add(e.lease);
          const grant = leases.get(e.lease);
          if (grant) segmentLeases.push(grant);
        }
      }
    }
    const object = await encodeSegment(part, compression, recipients);
    const name = segmentName(cluster, first.rev, last.rev);
    const manifest: SegmentManifest = {
      format: JOURNAL_FORMAT,
      kind: SEGMENT_KIND,
      name,
      cluster,
      firstRevision: first.rev,
      lastRevision: last.rev,
      revisions: part.length,
      events: part.reduce((n, r) => n + r.events.length, 0),
      firstReceivedAt: first.at,
      lastReceivedAt: last.at,
      completeThrough: { revision: last.rev, at: last.at },
      object: { file: segmentObjectFile(name, compression, recipients.length > 0), size: object.bytes.length, sha256: object.sha256 },
      previousSha256,
      baseBackup: base.name,
      leases: segmentLeases,
      compression,
      encryptedTo: [...recipients],
      writer: { holder: 'test-fixture', member: 'test' },
      toolVersion: 'test',
    };
    const results = await publishSegment(stores, manifest, object.bytes);
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0) throw new Error(`fixture: publishing ${name} failed: ${failed.map((f) => f.error).join('; ')}`);
    manifests.push(manifest);
    previousSha256 = object.sha256;
  }
  return manifests;
}
