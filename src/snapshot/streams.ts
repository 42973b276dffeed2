/** Small stream helpers shared by the backup and restore pipelines. */
import type { Duplex, Readable } from 'node:stream';

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
