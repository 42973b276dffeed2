/** Shared by every backend: a write owns its content stream. */
import type { Readable } from 'node:stream';

/**
 * Runs `upload` with `content` guarded: until the upload's pipeline reads `content`, an error it emits
 * would have no listener and crash the process (the pipeline still sees it: the stream keeps it). If the
 * upload fails before reading it, destroying it tells its producer (e.g. etcdctl) that nobody will.
 * Also guards a download on its way to a local file (restore/fetch.ts, restore/etcdTools.ts).
 */
export async function owningStream<T>(content: Readable, upload: () => Promise<T>): Promise<T> {
  const keepEarlyError = (): void => {};
  content.on('error', keepEarlyError);
  try {
    return await upload();
  } catch (error) {
    content.destroy();
    throw error;
  } finally {
    content.off('error', keepEarlyError);
  }
}
