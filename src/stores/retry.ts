/**
 * Retries as a wrapper around any Store (restic's approach), so backends stay simple. Only operations that
 * can be repeated safely are retried, and only on errors that look like a flaky network. `write` is never
 * retried: its content stream is consumed once, so the caller retries the whole backup instead. `rename`
 * is not retried either: a rename whose answer was lost did happen, and repeating it would fail on the
 * missing source. A caller that can repeat a whole step (the repository replacing status.json: a new
 * temporary file, then a rename) runs it through `retryingOn(store, ...)`, with this store's retry state.
 */
import type { Readable } from 'node:stream';
import { isTransient } from '../base/failures.ts';
import { retry, type RetryInfo, type RetryPolicy as BasePolicy } from '../base/resilience.ts';
import type { Store, StoredFile } from './store.ts';

export interface RetryPolicy extends BasePolicy {
  /** For tests: replaces the real timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each retry (which store, attempt, reason, delay): openStores logs it. */
  readonly onRetry?: (info: RetryInfo & { readonly store: string }) => void;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 4, baseDelayMs: 1000, maxDelayMs: 15_000 };

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
  // Once a store stayed unreachable through a whole round of retries, later operations in the same run
  // try once only: a site that is down must not multiply the run's time by its number of operations.
  let givenUp = false;

  async function retrying<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await retry(operation, fn, {
        policy,
        classify: (error) => ({ retryable: isTransient(error) }),
        ...(givenUp ? { attempts: 1 } : {}),
        ...(policy.sleep ? { sleep: policy.sleep } : {}),
        ...(policy.onRetry ? { onRetry: (info: RetryInfo) => policy.onRetry!({ ...info, store: store.id }) } : {}),
      });
      givenUp = false;
      return result;
    } catch (error) {
      if (isTransient(error)) givenUp = true;
      throw error;
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
