/**
 * The storage interface every backend implements (SFTP, local directory; S3 would be one more file).
 * Modelled on restic's backend: few methods, each with a written contract, and backends move bytes at
 * paths and nothing else. Every name a backend sees comes from the repository (src/repository/layout.ts):
 * it writes, renames and deletes exactly those names and never invents one (not even a temporary name:
 * the repository uploads under a temporary name it chose and renames it). Retries are a wrapper
 * (retry.ts), not something each backend re-implements. test/stores/conformance.ts checks every backend
 * against these contracts.
 */
import type { Readable } from 'node:stream';

export interface StoredFile {
  /** File name inside the folder (no path separators). */
  readonly name: string;
  readonly size: number;
  readonly modifiedAt: Date;
}

export interface Store {
  /** Where this store is, for logs and summaries, without credentials (e.g. `sftp://backup@dc1:22/srv/etcd`). */
  readonly id: string;

  /**
   * Streams `content` into a NEW file `folder/name` with mode 0600, creating `folder` (0700) if needed; an
   * existing file of that name is an error, never overwritten. Resolves with the number of bytes written
   * once every byte is durably written and the size on the store was checked against it. If `content`
   * errors or the write fails, what was written is removed (best effort) and the promise rejects; if it
   * fails before reading `content`, `content` is destroyed (its producer learns nobody will read it).
   */
  write(folder: string, name: string, content: Readable): Promise<number>;

  /**
   * Renames `folder/from` to `folder/to`. Without `replace` it never overwrites: it fails with an error
   * saying `to` already exists (and leaves both files as they were). With `replace` an existing `to` is
   * replaced atomically where the backend can (readers see the old or the new file, never a partial one).
   */
  rename(folder: string, from: string, to: string, options?: { replace?: boolean }): Promise<void>;

  /** Opens `folder/name` for reading. Rejects with NotFoundError when it does not exist. */
  download(folder: string, name: string): Promise<Readable>;

  /** Reads a small file whole. Rejects with NotFoundError when it does not exist. */
  readFile(folder: string, name: string): Promise<Buffer>;

  /** Lists regular files directly in `folder` (temporary ones included). A missing folder is an empty list. */
  list(folder: string): Promise<StoredFile[]>;

  /** Deletes `folder/name`. Deleting a file that does not exist succeeds. */
  remove(folder: string, name: string): Promise<void>;

  /** Checks the store is reachable and writable-to-be (connects, authenticates, verifies host key). */
  open(): Promise<void>;

  /** Releases connections. Safe to call more than once; a later operation (or open()) connects again. */
  close(): Promise<void>;
}
