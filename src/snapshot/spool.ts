/**
 * A file on local disk that one writer fills while any number of readers follow it.
 *
 * Why: etcd holds a read transaction open for as long as the snapshot streams, and the database
 * grows under writes meanwhile, so the stream must never wait for a store. The writer (the checked,
 * compressed, encrypted snapshot) never waits for a reader; each reader (one upload per store) tails the
 * file at its own pace, so a slow data centre delays only its own upload.
 */
import { EventEmitter, once } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';

const READ_CHUNK = 1 << 20;

export class Spool {
  private written = 0;
  private finished = false;
  private failure: Error | undefined;
  private readonly progress = new EventEmitter();
  private handle: FileHandle | undefined;

  private constructor(readonly path: string) {
    // Every reader waits on this emitter; more than the default ten is normal with many stores.
    this.progress.setMaxListeners(0);
  }

  /** Creates (truncates) the spool file, readable and writable by us alone. */
  static async create(path: string): Promise<Spool> {
    const spool = new Spool(path);
    spool.handle = await open(path, 'w+', 0o600);
    return spool;
  }

  get size(): number {
    return this.written;
  }

  /** A Writable that appends to the spool; readers see bytes as soon as each write lands. */
  writer(): Writable {
    const handle = this.requireHandle();
    return new Writable({
      highWaterMark: 4 << 20,
      writev: (chunks, callback) => {
        const buffers = chunks.map((c) => c.chunk as Buffer);
        handle.writev(buffers, this.written).then(
          ({ bytesWritten }) => {
            this.written += bytesWritten;
            this.progress.emit('progress');
            callback();
          },
          (error: Error) => callback(error),
        );
      },
      final: (callback) => {
        this.finished = true;
        this.progress.emit('progress');
        callback();
      },
      destroy: (error, callback) => {
        if (error && !this.finished) this.fail(error);
        callback(error);
      },
    });
  }

  /** Marks the spool failed: every reader errors with `error` instead of ending. */
  fail(error: Error): void {
    if (this.finished || this.failure) return;
    this.failure = error;
    this.progress.emit('progress');
  }

  /** A Readable of the spool's bytes from the start, following the writer until it finishes. */
  reader(): Readable {
    const handle = this.requireHandle();
    let position = 0;
    // Small: one spool per stage and per site, each buffering this much at most (memory stays flat).
    const readable = new Readable({
      highWaterMark: 1 << 20,
      read: () => {
        void pump();
      },
    });
    let pumping = false;
    const pump = async (): Promise<void> => {
      if (pumping) return;
      pumping = true;
      try {
        for (;;) {
          if (readable.destroyed) return;
          if (this.failure) {
            readable.destroy(this.failure);
            return;
          }
          if (position < this.written) {
            const length = Math.min(READ_CHUNK, this.written - position);
            const buffer = Buffer.allocUnsafe(length);
            const { bytesRead } = await handle.read(buffer, 0, length, position);
            position += bytesRead;
            if (!readable.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead))) return;
            continue;
          }
          if (this.finished) {
            readable.push(null);
            return;
          }
          await once(this.progress, 'progress');
        }
      } catch (error) {
        readable.destroy(error as Error);
      } finally {
        pumping = false;
      }
    };
    return readable;
  }

  /** Closes the file handle; the caller removes the file. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  private requireHandle(): FileHandle {
    if (!this.handle) throw new Error(`spool ${this.path} is closed`);
    return this.handle;
  }
}
