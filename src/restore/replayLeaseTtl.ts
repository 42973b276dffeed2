/**
 * Shortens the TTL of leases inside a snapshot file, in place. Why: a lease that was already in the full
 * backup keeps the TTL it was granted (say 3600 s), and etcd refreshes every lease to its TTL when a
 * restored member starts; but at the target it had less left. etcd's API cannot lower a lease's TTL (a
 * LeaseGrant with the same id is refused while it exists, and revoking it would delete its keys at a new
 * revision), so the snapshot itself is edited.
 *
 * How, and why it is safe: etcd keeps each lease in the bbolt bucket "lease" as key = the id (8 bytes, big
 * endian) and value = leasepb.Lease {1: ID, 2: TTL, 3: RemainingTTL} (protobuf, fields in order), and bbolt
 * stores a leaf element's value right after its key. The bytes id ++ 0x08 varint(id) 0x10 varint(ttl) are
 * found and the TTL's varint is rewritten with the SAME length (a smaller number padded with continuation
 * bytes, which protobuf decoders accept), so no page changes size; bbolt keeps no checksums of data pages.
 * Stale copies in freed pages are rewritten too (harmless). Then etcd's sha256 trailer is recomputed, so
 * `etcdutl snapshot restore` checks the edited database as it checks any snapshot. Streams, in place:
 * memory stays flat whatever the database size.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { TRAILER_SIZE, type SnapshotIdentity } from '../snapshot/verifier.ts';

export interface LeaseTtlChange {
  readonly id: string;
  readonly from: number;
  readonly to: number;
}

function varint(value: bigint): Buffer {
  const bytes: number[] = [];
  let v = value;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v > 0n);
  return Buffer.from(bytes);
}

/** `value` as a varint of exactly `length` bytes (padded with continuation bytes); undefined if it does not fit. */
export function paddedVarint(value: number, length: number): Buffer | undefined {
  const minimal = varint(BigInt(value));
  if (minimal.length > length) return undefined;
  const out = Buffer.alloc(length);
  let v = BigInt(value);
  for (let i = 0; i < length; i++) {
    const last = i === length - 1;
    out[i] = Number(v & 0x7fn) | (last ? 0 : 0x80);
    v >>= 7n;
  }
  return out;
}

/** The bytes that identify a lease's stored record, up to and including its TTL varint. */
export function leaseRecordPrefix(id: string, ttl: number): { readonly pattern: Buffer; readonly ttlOffset: number; readonly ttlLength: number } {
  const key = Buffer.alloc(8);
  key.writeBigUInt64BE(BigInt(id));
  const ttl8 = varint(BigInt(ttl));
  const head = Buffer.concat([key, Buffer.from([0x08]), varint(BigInt(id)), Buffer.from([0x10])]);
  return { pattern: Buffer.concat([head, ttl8]), ttlOffset: head.length, ttlLength: ttl8.length };
}

const CHUNK = 4 << 20;

/**
 * Rewrites the TTLs in `file` (a raw snapshot with its trailer) and recomputes the trailer. Returns how
 * many records were rewritten per lease (a lease found nowhere is left out) and the new identity.
 */
export async function shortenLeaseTtls(
  file: string,
  changes: readonly LeaseTtlChange[],
): Promise<{ readonly rewritten: ReadonlyMap<string, number>; readonly snapshot: SnapshotIdentity }> {
  const handle = await open(file, 'r+');
  try {
    const size = (await handle.stat()).size;
    if (size <= TRAILER_SIZE) throw new Error(`${file} is too short to be an etcd snapshot`);
    const dataSize = size - TRAILER_SIZE;
    const patterns = changes.map((c) => ({ change: c, ...leaseRecordPrefix(c.id, c.from) }));
    const overlap = Math.max(0, ...patterns.map((p) => p.pattern.length)) - 1;
    const rewritten = new Map<string, number>();
    const hash = createHash('sha256');
    const buffer = Buffer.alloc(CHUNK + overlap);
    let carried = 0;
    let position = 0;
    // Each pass: [carried bytes of the previous chunk][new chunk]. Matches are patched in the buffer and
    // on disk; the hash takes every byte once, when it can no longer be part of a later match.
    while (position < dataSize) {
      const want = Math.min(CHUNK, dataSize - position);
      const { bytesRead } = await handle.read(buffer, carried, want, position);
      if (bytesRead === 0) break;
      const filled = carried + bytesRead;
      const start = position - carried;
      for (const p of patterns) {
        let at = buffer.indexOf(p.pattern, 0);
        while (at >= 0 && at + p.pattern.length <= filled) {
          const ttl = paddedVarint(p.change.to, p.ttlLength)!;
          ttl.copy(buffer, at + p.ttlOffset);
          await handle.write(ttl, 0, ttl.length, start + at + p.ttlOffset);
          rewritten.set(p.change.id, (rewritten.get(p.change.id) ?? 0) + 1);
          at = buffer.indexOf(p.pattern, at + 1);
          if (at >= filled) break;
        }
      }
      position += bytesRead;
      const keep = position < dataSize ? Math.min(overlap, filled) : 0;
      hash.update(buffer.subarray(0, filled - keep));
      buffer.copy(buffer, 0, filled - keep, filled);
      carried = keep;
    }
    const trailer = hash.digest();
    await handle.write(trailer, 0, TRAILER_SIZE, dataSize);
    await handle.sync();
    return { rewritten, snapshot: { size, sha256: trailer.toString('hex') } };
  } finally {
    await handle.close();
  }
}
