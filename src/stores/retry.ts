/**
 * Retries as a wrapper around any Store (restic's approach), so backends stay simple. Only operations that
 * can be repeated safely are retried, and only on errors that look like a flaky network. `write` is never
 * retried: its content stream is consumed once, so the caller retries the whole backup instead. `rename`
 * is not retried either: a rename whose answer was lost did happen, and repeating it would fail on the
 * missing source. A caller that can repeat a whole step (the repository replacing status.json: a new
 * temporary file, then a rename) runs it through `retryingOn(store, ...)`, with this store's retry state.
 */
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Store, StoredFile } from './store.ts';

export interface RetryPolicy {
  /** Total tries, including the first (1 = no retries). */
  readonly attempts: number;
  /** Delay before the first retry; doubled for each further one (capped at maxDelayMs). */
  readonly baseDelayMs: number;
  readonly maxDelayMs?: number;
  /** For tests: replaces the real timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each retry, e.g. to log it. */
  readonly onRetry?: (info: { operation: string; attempt: number; delayMs: number; error: unknown }) => void;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 4, baseDelayMs: 1000, maxDelayMs: 15_000 };

// errno codes of a network that may come back; everything else (permissions, full disk, missing file,
// refused host key, failed authentication) will fail the same way again.
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);
// ssh2 reports a lost connection and a stalled handshake only in these messages (no code).
const TRANSIENT_MESSAGES = [
  /timed out while waiting for handshake/i,
  /no response from server/i,
  /unexpected (end|close) event/i,
  /connection (lost|closed|reset)/i,
  /keepalive timeout/i,
  /not connected/i,
];
const PERMANENT_NAMES = new Set(['NotFoundError', 'InputError', 'IntegrityError', 'HostKeyError']);

/** Whether `error` (or anything in its cause chain) is a transient network failure, and nothing is permanent. */
export function isTransientError(error: unknown): boolean {
  let transient = false;
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    if (!(current instanceof Error)) break;
    if (PERMANENT_NAMES.has(current.name)) return false;
    const { code, level } = current as Error & { code?: unknown; level?: unknown };
    if (level === 'client-authentication') return false;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) transient = true;
    if (TRANSIENT_MESSAGES.some((re) => re.test(current instanceof Error ? current.message : ''))) transient = true;
    current = current.cause;
  }
  return transient;
}

// SFTP status 3 (SSH_FX_PERMISSION_DENIED): OpenSSH's answer to a request its account may not make, e.g. a
// REMOVE on an append-only account (`internal-sftp -P remove,rmdir`) or any write on a read-only one (-R).
const SFTP_PERMISSION_DENIED = 3;
const DENIED_CODES = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * Whether `error` (or anything in its cause chain) is the store refusing the operation for lack of rights:
 * a site account that may not delete or write, not a failure of the store. Such an error is permanent.
 */
export function isPermissionDenied(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 10; depth++) {
    const { code } = current as Error & { code?: unknown };
    if (code === SFTP_PERMISSION_DENIED || (typeof code === 'string' && DENIED_CODES.has(code))) return true;
    current = current.cause;
  }
  return false;
}

type Retrying = <T>(operation: string, fn: () => Promise<T>) => Promise<T>;
const retriers = new WeakMap<Store, Retrying>();

/**
 * Runs `fn` (a step made of several calls on `store` that may be repeated as a whole) with the retries of
 * `store` when it is a withRetry wrapper, once otherwise.
 */
export function retryingOn<T>(store: Store, operation: string, fn: () => Promise<T>): Promise<T> {
  const retrying = retriers.get(store);
  return retrying ? retrying(operation, fn) : fn();
}

export function withRetry(store: Store, policy: RetryPolicy = DEFAULT_RETRY_POLICY): Store {
  const sleep = policy.sleep ?? ((ms: number) => delay(ms));
  const maxDelay = policy.maxDelayMs ?? Number.POSITIVE_INFINITY;

  // Once a store stayed unreachable through a whole round of retries, later operations in the same run
  // try once only: a site that is down must not multiply the run's time by its number of operations.
  let givenUp = false;

  async function retrying<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const attempts = givenUp ? 1 : policy.attempts;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn();
        givenUp = false;
        return result;
      } catch (error) {
        const transient = isTransientError(error);
        if (transient && attempt >= attempts) givenUp = true;
        if (attempt >= attempts || !transient) throw error;
        const delayMs = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), maxDelay);
        policy.onRetry?.({ operation, attempt, delayMs, error });
        await sleep(delayMs);
      }
    }
  }

  const wrapped: Store = {
    id: store.id,
    write: (folder: string, name: string, content: Readable): Promise<number> => store.write(folder, name, content),
    rename: (folder: string, from: string, to: string, options?: { replace?: boolean }): Promise<void> =>
      store.rename(folder, from, to, options),
    // Retries opening the stream only; a failure mid-read surfaces to the caller (it already has bytes).
    download: (folder: string, name: string): Promise<Readable> =>
      retrying(`downloading ${folder}/${name}`, () => store.download(folder, name)),
    readFile: (folder: string, name: string): Promise<Buffer> =>
      retrying(`reading ${folder}/${name}`, () => store.readFile(folder, name)),
    list: (folder: string): Promise<StoredFile[]> => retrying(`listing ${folder}`, () => store.list(folder)),
    remove: (folder: string, name: string): Promise<void> =>
      retrying(`removing ${folder}/${name}`, () => store.remove(folder, name)),
    open: (): Promise<void> => retrying('connecting', () => store.open()),
    close: (): Promise<void> => store.close(),
  };
  retriers.set(wrapped, retrying);
  return wrapped;
}
