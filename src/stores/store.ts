/**
 * The storage interface every backend implements (SFTP, local directory; S3 would be one more file).
 * Modelled on restic's backend: few methods, each with a written contract, names are plain file names
 * inside one folder per cluster (the layout lives in catalog/naming.ts, not here), and retries are a
 * wrapper (retry.ts), not something each backend re-implements. test/stores/conformance.ts checks every
 * backend against these contracts.
 */
import type { Readable } from 'node:stream';

export interface StoredFile {
  /** File name inside the folder (no path separators). */
  readonly name: string;
  readonly size: number;
  readonly modifiedAt: Date;
}

/** An upload that has been fully written under a temporary name but is not yet visible under its final name. */
export interface PendingUpload {
  /** Bytes written. */
  readonly size: number;
  /**
   * Makes the upload visible under its final name by renaming it. Fails (and leaves the temporary file
   * for `abort`) if the final name already exists: a backup is never overwritten.
   */
  commit(): Promise<void>;
  /** Removes the temporary file. Never throws: it is cleanup on an error path. */
  abort(): Promise<void>;
}

export interface Store {
  /** Where this store is, for logs and summaries, without credentials (e.g. `sftp://backup@dc1:22/srv/etcd`). */
  readonly id: string;

  /**
   * Streams `content` into `folder/<temporary name>` with mode 0600, creating `folder` if needed.
   * Resolves once every byte is written and the written size was checked; only then may the caller
   * `commit()`. If `content` errors or the write fails, the temporary file is removed and the promise rejects.
   * Nothing ever appears under `name` before `commit()`.
   */
  upload(folder: string, name: string, content: Readable): Promise<PendingUpload>;

  /** Convenience for small files (manifests, status): upload + commit, replacing an existing file atomically when `replace`. */
  writeFile(folder: string, name: string, data: Buffer, options?: { replace?: boolean }): Promise<void>;

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
