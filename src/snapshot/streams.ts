/** Small stream helpers shared by the backup and restore pipelines. */
import { Transform, type Duplex, type Readable } from 'node:stream';

/**
 * `source.pipe(transform)`, but an error in `source` also destroys `transform`, so whoever reads the
 * end of the chain sees the failure instead of waiting forever.
 */
export function chain(source: Readable, transform: Duplex | undefined): Readable {
  if (!transform) return source;
  source.on('error', (error) => transform.destroy(error));
  transform.on('close', () => {
    if (!source.readableEnded) source.destroy();
  });
  return source.pipe(transform);
}

/**
 * Joins small chunks into chunks of at least `size` bytes. etcd streams a snapshot in 32 KiB messages, and
 * zlib's compressors pay a thread-pool round trip per write: fed 32 KiB at a time, zstd took twice the CPU.
 */
export function rechunk(size: number): Transform {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const takePending = (): Buffer => {
    const joined = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return joined;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      callback(null, pendingBytes >= size ? takePending() : undefined);
    },
    flush(callback) {
      callback(null, pendingBytes > 0 ? takePending() : undefined);
    },
  });
}
