/**
 * The second half of the write contract every backend keeps (store.ts `write`), once: the backend has just
 * created the file new (O_EXCL, before this is called: a file that already existed is not ours to remove);
 * copy the content counting the bytes, then check that the size the backend reports is what was sent, and
 * on any failure remove the partial file before rethrowing, so a failed write leaves nothing behind.
 */
export interface NewFileSteps {
  /** Copies the content into the opened file, calling `counted` with the length of every chunk written. */
  readonly copy: (counted: (bytes: number) => void) => Promise<void>;
  /** The size the backend reports for the file once the copy finished. */
  readonly storedSize: () => Promise<number>;
  /** How the size mismatch names what holds the file: "the file", "the server". */
  readonly holder: string;
  /** Where, added to the mismatch message when the backend's context does not say it already. */
  readonly where?: string;
  /** Releases what the copy did not get to release (an open handle), before the removal. */
  readonly release?: () => Promise<void>;
  readonly remove: () => Promise<void>;
}

/** Returns the number of bytes written. */
export async function fillNewFile(steps: NewFileSteps): Promise<number> {
  let written = 0;
  try {
    await steps.copy((bytes) => {
      written += bytes;
    });
    const size = await steps.storedSize();
    if (size !== written) {
      throw new Error(`wrote ${written} bytes but ${steps.holder} has ${size}${steps.where ? ` in ${steps.where}` : ''}`);
    }
  } catch (error) {
    await steps.release?.().catch(() => undefined);
    await steps.remove().catch(() => undefined);
    throw error;
  }
  return written;
}
