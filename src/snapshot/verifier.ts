/**
 * etcd appends the sha256 of the database to every snapshot it streams (the last 32 bytes).
 *
 * `SnapshotTrailer` passes bytes through unchanged and keeps that trailer apart, at no cost: a restore
 * compares it with the manifest and leaves the content check to `etcdutl`/`etcdctl snapshot restore`,
 * which hash the whole database against the trailer anyway (see restore/fetch.ts).
 * `SnapshotVerifier` also hashes all but the final 32 bytes, so the check costs no second read: a backup
 * is published only once it passed. That digest is the snapshot's identity in the manifest.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError } from '../errors.ts';

export const TRAILER_SIZE = 32;

export interface SnapshotIdentity {
  /** Bytes in the stream, trailer included. */
  readonly size: number;
  /** sha256 (hex) of the database, as etcd's trailer records it and as `etcdutl snapshot restore` checks it. */
  readonly sha256: string;
}

export class SnapshotTrailer extends Transform {
  /** The newest bytes, not yet known to be data rather than the trailer. */
  private tail: Buffer = Buffer.alloc(0);
  private size = 0;
  private verdict: SnapshotIdentity | undefined;

  constructor(protected readonly what: string) {
    super({ highWaterMark: 1 << 20 });
  }

  /** Bytes now known to be database, not trailer, in stream order. */
  protected data(_bytes: Buffer): void {}

  /** Called once at the end with the trailer; an error fails the stream. */
  protected check(_trailer: Buffer): IntegrityError | undefined {
    return undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (chunk.length >= TRAILER_SIZE) {
      if (this.tail.length > 0) this.data(this.tail);
      this.data(chunk.subarray(0, chunk.length - TRAILER_SIZE));
      this.tail = Buffer.from(chunk.subarray(chunk.length - TRAILER_SIZE));
    } else {
      const combined = Buffer.concat([this.tail, chunk]);
      const keep = Math.min(TRAILER_SIZE, combined.length);
      this.data(combined.subarray(0, combined.length - keep));
      this.tail = combined.subarray(combined.length - keep);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.size <= TRAILER_SIZE) {
      callback(new IntegrityError(`${this.what}: snapshot is ${this.size} bytes, too short to be an etcd snapshot`));
      return;
    }
    const failure = this.check(this.tail);
    if (failure) {
      callback(failure);
      return;
    }
    this.verdict = { size: this.size, sha256: this.tail.toString('hex') };
    callback();
  }

  /** Size and trailer of the whole stream; throws if the stream has not ended successfully. */
  result(): SnapshotIdentity {
    if (!this.verdict) throw new IntegrityError(`${this.what}: snapshot was not read to the end`);
    return this.verdict;
  }
}

/** The trailer, and the proof that the data matches it. */
export class SnapshotVerifier extends SnapshotTrailer {
  private readonly dbHash: Hash = createHash('sha256');

  protected override data(bytes: Buffer): void {
    this.dbHash.update(bytes);
  }

  protected override check(trailer: Buffer): IntegrityError | undefined {
    if (this.dbHash.digest().equals(trailer)) return undefined;
    return new IntegrityError(`${this.what}: etcd's sha256 trailer does not match the data (the snapshot is truncated or corrupt)`);
  }
}
