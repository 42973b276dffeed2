/**
 * The GitHub side of alarms: building an Octokit client that works against github.com and GitHub
 * Enterprise Server alike, and running its calls under the one retry policy (base/resilience.ts). Octokit is
 * built without any retry plugin (and with `request.retries: 0` should one ever be added), so that policy is
 * the only one: exponential backoff on 5xx, network errors and rate limits; everything else (401, 404, 422, a
 * plain 403 for missing permissions) fails at once, with a hint of what to fix (base/failures.ts decides).
 */
import { Octokit } from '@octokit/rest';
import { classifyGitHubFailure, hasResponse, statusOf, type FailureClass } from '../base/failures.ts';
import { describeRetry, retry, type RetryPolicy } from '../base/resilience.ts';
import { InputError, messageOf } from '../errors.ts';

export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

/** Where our messages go (matches @actions/core's info/warning, and a CLI's console). */
export interface NotifyLog {
  info(message: string): void;
  warning(message: string): void;
}

export type Sleep = (ms: number) => Promise<void>;

/** The REST API root: GITHUB_API_URL when set (GitHub Enterprise: `https://ghe.example.com/api/v3`), else github.com. */
export function githubApiUrl(env: Readonly<Record<string, string | undefined>>): string {
  const configured = env['GITHUB_API_URL']?.trim();
  return (configured === undefined || configured === '' ? DEFAULT_GITHUB_API_URL : configured).replace(/\/+$/, '');
}

/** Splits `owner/repo` (as in GITHUB_REPOSITORY). */
export function parseRepository(text: string): { owner: string; repo: string } {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(text.trim());
  if (!m) {
    throw new InputError(`repository ${JSON.stringify(text)} is not of the form owner/repo`);
  }
  return { owner: m[1]!, repo: m[2]! };
}

export interface GitHubClientOptions {
  readonly token: string;
  /** REST API root; see githubApiUrl(). */
  readonly baseUrl?: string;
  /** Octokit's own warnings (deprecations) go to `log.warning`; its per-request logging is dropped. */
  readonly log?: NotifyLog;
  readonly userAgent?: string;
}

export function createOctokit(options: GitHubClientOptions): Octokit {
  const noop = (): void => {};
  return new Octokit({
    auth: options.token,
    baseUrl: (options.baseUrl ?? DEFAULT_GITHUB_API_URL).replace(/\/+$/, ''),
    userAgent: options.userAgent ?? 'etcd-dr',
    // No retry plugin is loaded; `retries: 0` keeps it that way should one be, so withGitHubRetry is the only policy.
    request: { retries: 0 },
    log: {
      debug: noop,
      info: noop,
      warn: (message: string) => options.log?.warning(`GitHub: ${message}`),
      // Failed requests are reported by us, with context, once retries are exhausted.
      error: noop,
    },
  });
}

export type { RetryPolicy } from '../base/resilience.ts';

/** 3 retries after 1 s, 2 s and 4 s (a retry-after header may ask for longer, up to a minute). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 4, baseDelayMs: 1000, maxDelayMs: 60_000 };

function describe(error: unknown, failure: FailureClass): string {
  const status = statusOf(error);
  const base =
    status === undefined
      ? messageOf(error)
      : hasResponse(error)
        ? `HTTP ${status}: ${messageOf(error)}`
        : `network error: ${messageOf(error)}`;
  return failure.hint !== undefined ? `${base} (${failure.hint})` : base;
}

export interface RetryDeps {
  readonly sleep: Sleep;
  readonly log: NotifyLog;
  readonly policy?: RetryPolicy;
}

/**
 * Runs one GitHub call with the one retry policy (base/resilience.ts), each retry logged with its attempt
 * number and reason. Throws, with `what` as context, once the call failed in a way that is not retryable or
 * the attempts are used up (then saying how many were made).
 */
export async function withGitHubRetry<T>(what: string, fn: () => Promise<T>, deps: RetryDeps): Promise<T> {
  let last: unknown;
  let attempts = 0;
  try {
    return await retry(
      what,
      async () => {
        attempts++;
        try {
          return await fn();
        } catch (error) {
          last = error;
          throw error;
        }
      },
      {
        policy: deps.policy ?? DEFAULT_RETRY_POLICY,
        classify: classifyGitHubFailure,
        describe: (error) => describe(error, classifyGitHubFailure(error)),
        sleep: deps.sleep,
        onRetry: (info) => deps.log.info(describeRetry(info)),
      },
    );
  } catch {
    const failure = classifyGitHubFailure(last);
    const detail = describe(last, failure);
    const gaveUp = failure.retryable ? `; gave up after ${attempts} attempts` : '';
    throw new Error(`${what}: ${detail}${gaveUp}`, { cause: last });
  }
}
