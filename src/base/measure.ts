/** A pass-through that counts and hashes what flows through it (the stored object's size and sha256). */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class Measure extends Transform {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private digest: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.digest = this.hash.digest('hex');
    callback();
  }

  get size(): number {
    return this.bytes;
  }

  /** sha256 hex of everything that passed; only after the stream ended. */
  get sha256(): string {
    if (this.digest === undefined) throw new Error('Measure: stream has not ended');
    return this.digest;
  }
}
