/**
 * etcd appends the sha256 of the database to every snapshot it streams (the last 32 bytes).
 * `SnapshotVerifier` passes bytes through unchanged while hashing all but the final 32 bytes, so the
 * check costs no second read. That digest, once it matches, is the snapshot's identity in the manifest
 * (one hash pass: on a 2-core runner the CPU is the bottleneck of the whole pipeline).
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError } from '../errors.ts';

export const TRAILER_SIZE = 32;

export interface VerifiedSnapshot {
  /** Bytes in the stream, trailer included. */
  readonly size: number;
  /** sha256 (hex) of the database, as etcd's trailer records it and as `etcdutl snapshot restore` checks it. */
  readonly sha256: string;
}

export class SnapshotVerifier extends Transform {
  private readonly dbHash: Hash = createHash('sha256');
  /** The newest bytes, not yet known to be data rather than the trailer. */
  private tail: Buffer = Buffer.alloc(0);
  private size = 0;
  private verdict: VerifiedSnapshot | undefined;

  constructor(private readonly what: string) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (chunk.length >= TRAILER_SIZE) {
      this.dbHash.update(this.tail);
      this.dbHash.update(chunk.subarray(0, chunk.length - TRAILER_SIZE));
      this.tail = Buffer.from(chunk.subarray(chunk.length - TRAILER_SIZE));
    } else {
      const combined = Buffer.concat([this.tail, chunk]);
      const keep = Math.min(TRAILER_SIZE, combined.length);
      this.dbHash.update(combined.subarray(0, combined.length - keep));
      this.tail = combined.subarray(combined.length - keep);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.size <= TRAILER_SIZE) {
      callback(new IntegrityError(`${this.what}: snapshot is ${this.size} bytes, too short to be an etcd snapshot`));
      return;
    }
    const expected = this.dbHash.digest();
    if (!expected.equals(this.tail)) {
      callback(
        new IntegrityError(
          `${this.what}: etcd's sha256 trailer does not match the data (the snapshot is truncated or corrupt)`,
        ),
      );
      return;
    }
    this.verdict = { size: this.size, sha256: expected.toString('hex') };
    callback();
  }

  /** The verified result; throws if the stream has not ended successfully. */
  result(): VerifiedSnapshot {
    if (!this.verdict) throw new IntegrityError(`${this.what}: snapshot was not verified to the end`);
    return this.verdict;
  }
}
