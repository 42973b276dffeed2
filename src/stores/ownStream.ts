/** Shared by every backend: the upload owns its content stream, and small files are published one way. */
import type { Readable } from 'node:stream';
import type { PendingUpload } from './store.ts';

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

/**
 * Publishes a fully written small file (manifest, status): `replace` renames it over an existing file
 * atomically (backend-specific), otherwise the pending upload's own create-only commit. The temporary
 * file is removed if either fails.
 */
export async function publishSmallFile(pending: PendingUpload, replace: (() => Promise<void>) | undefined): Promise<void> {
  try {
    await (replace ? replace() : pending.commit());
  } catch (error) {
    await pending.abort();
    throw error;
  }
}
