/** Shared by every backend's upload: the upload owns its content stream from the moment it is called. */
import type { Readable } from 'node:stream';

/**
 * Runs `upload` with `content` guarded: until the upload's pipeline reads `content`, an error it emits
 * would have no listener and crash the process (the pipeline still sees it: the stream keeps it). If the
 * upload fails before reading it, destroying it tells its producer (e.g. etcdctl) that nobody will.
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
