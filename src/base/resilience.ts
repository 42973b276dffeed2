/**
 * The one retry policy and wrapper for everything that talks over a network (stores, GitHub). What is worth
 * retrying is the caller's `classify` (base/failures.ts holds every classification); how often and how long to
 * wait is the policy. Every retry is reported (attempt number, reason, delay) through `onRetry`, and an error
 * that outlived every attempt says how many were made. cockatiel (in the tree through etcd3) was considered:
 * its policies do the same loop, but a server's retry-after, a per-store "gave up" memory and a reason per
 * retry would each need its own hook, which is more code than this loop.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { messageOf, withContext } from '../errors.ts';

export interface RetryPolicy {
  /** Total tries, including the first (1 = no retries). */
  readonly attempts: number;
  /** Delay before the first retry; doubled for each further one (capped at maxDelayMs). */
  readonly baseDelayMs: number;
  /** Cap on any single delay, including one a server asked for. */
  readonly maxDelayMs?: number;
}

/** What a failed try means for the next one. */
export interface Failure {
  readonly retryable: boolean;
  /** A delay the other side asked for (e.g. HTTP retry-after), in ms. */
  readonly retryAfterMs?: number;
}

export interface RetryInfo {
  readonly operation: string;
  /** The attempt that failed (1-based). */
  readonly attempt: number;
  /** How many attempts are allowed in all. */
  readonly attempts: number;
  /** Wait before the next attempt. */
  readonly delayMs: number;
  /** Why the attempt failed, as one line. */
  readonly reason: string;
  readonly error: unknown;
}

export interface RetryOptions {
  readonly policy: RetryPolicy;
  readonly classify: (error: unknown) => Failure;
  /** Overrides policy.attempts for this call (e.g. 1 for a store that stayed down through a whole round). */
  readonly attempts?: number;
  /** The reason to log for a failure; default its message. */
  readonly describe?: (error: unknown) => string;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each wait, e.g. to log "retrying in 2 s (attempt 2 of 4): connection reset". */
  readonly onRetry?: (info: RetryInfo) => void;
}

/** The wait before retry number `retryIndex` (0-based): exponential, at least what the server asked for, capped. Pure. */
export function backoffMs(policy: RetryPolicy, retryIndex: number, retryAfterMs?: number): number {
  const backoff = policy.baseDelayMs * 2 ** retryIndex;
  const wanted = retryAfterMs !== undefined ? Math.max(backoff, retryAfterMs) : backoff;
  return Math.min(wanted, policy.maxDelayMs ?? Number.POSITIVE_INFINITY);
}

/**
 * `error` with "; gave up after N attempts" added to its message, same class (NotFoundError stays one),
 * the original as `cause` (so classification still sees the network error inside).
 */
export function gaveUp(error: unknown, attempts: number): Error {
  const wrapped = withContext('', error);
  wrapped.message = `${messageOf(error)}; gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') Object.assign(wrapped, { code });
  return wrapped;
}

/**
 * Runs `fn` until it succeeds, fails in a way `classify` says is not retryable (thrown as is), or the attempts
 * are used up (thrown through gaveUp, saying how many were made).
 */
export async function retry<T>(operation: string, fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? options.policy.attempts);
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const failure = options.classify(error);
      if (!failure.retryable) throw error;
      if (attempt >= attempts) throw gaveUp(error, attempt);
      const delayMs = backoffMs(options.policy, attempt - 1, failure.retryAfterMs);
      const reason = options.describe?.(error) ?? messageOf(error);
      options.onRetry?.({ operation, attempt, attempts, delayMs, reason, error });
      await sleep(delayMs);
    }
  }
}

/** The usual log line for a retry: `listing prod: retrying in 2s (attempt 2 of 4): connection reset`. */
export function describeRetry(info: RetryInfo): string {
  return `${info.operation}: ${info.reason}; retrying in ${info.delayMs / 1000}s (attempt ${info.attempt + 1} of ${info.attempts})`;
}
