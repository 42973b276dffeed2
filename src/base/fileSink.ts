/**
 * Write streams over files that are already open. `createWriteStream(path)` opens its file asynchronously: when
 * the pipeline fails at once (its source had already failed), a clean-up `rm` can run before that open and the
 * open then creates the file after all, leaving an empty file behind.
 */
import { promises as fs, type WriteStream } from 'node:fs';

export interface FileSinkOptions {
  /** 'w' to truncate, 'wx' to require a new file. */
  readonly flags: 'w' | 'wx';
  readonly mode: number;
  /** fsync before close, so a finished pipeline means the bytes are on disk. */
  readonly flush?: boolean;
}

/**
 * Opens `path` and returns a write stream that closes it (also when destroyed). Call it inside owningStream
 * (base/ownStream.ts) over the stream that feeds it, so a failed open does not leave that stream hanging.
 */
export async function openFileSink(path: string, options: FileSinkOptions): Promise<WriteStream> {
  const handle = await fs.open(path, options.flags, options.mode);
  return handle.createWriteStream({ flush: options.flush ?? false });
}
