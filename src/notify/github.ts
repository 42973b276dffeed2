/**
 * The GitHub side of alarms: building an Octokit client that works against github.com and GitHub
 * Enterprise Server alike, and a retry wrapper for its calls. Octokit is built without any retry plugin
 * (and with `request.retries: 0` should one ever be added), so the retry policy below is the only one:
 * exponential backoff on 5xx, network errors and rate limits; everything else (401, 404, 422, a plain 403
 * for missing permissions) fails at once, with a hint of what to fix.
 */
import { Octokit } from '@octokit/rest';
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

export interface RetryPolicy {
  /** Retries after the first attempt (3 -> up to 4 requests). */
  readonly retries: number;
  /** Delay before the first retry; doubled for each further one (1s, 2s, 4s). */
  readonly baseDelayMs: number;
  /** Cap on any single delay, including one asked for by a `retry-after` header. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 3, baseDelayMs: 1000, maxDelayMs: 60_000 };

/** The HTTP status of an Octokit RequestError (network failures are reported by Octokit as 500). */
export function statusOf(error: unknown): number | undefined {
  if (typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number') {
    return error.status;
  }
  return undefined;
}

/** Octokit reports a request that got no HTTP answer (refused, DNS, TLS, abort) as status 500 without a response. */
function hasResponse(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'response' in error && error.response !== undefined;
}

function headersOf(error: unknown): Record<string, string> {
  if (typeof error !== 'object' || error === null || !('response' in error)) return {};
  const response = error.response;
  if (typeof response !== 'object' || response === null || !('headers' in response)) return {};
  const headers = response.headers;
  if (typeof headers !== 'object' || headers === null) return {};
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined && value !== null) out[key.toLowerCase()] = String(value);
  }
  return out;
}

export interface FailureClass {
  readonly retryable: boolean;
  /** Delay the server asked for (`retry-after`), in ms. */
  readonly retryAfterMs?: number;
  /** A sentence on what the failure means / what to fix, for the final message. */
  readonly hint?: string;
}

/** Decides whether a failed GitHub call is worth retrying. Pure. */
export function classifyGitHubFailure(error: unknown): FailureClass {
  const status = statusOf(error);
  const headers = headersOf(error);
  const retryAfterSeconds = headers['retry-after'] !== undefined ? Number(headers['retry-after']) : undefined;
  const retryAfterMs =
    retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0
      ? retryAfterSeconds * 1000
      : undefined;
  if (status === undefined) {
    // Not an Octokit error at all (a bug, or a fetch failure surfaced unusually): treat as transient.
    return { retryable: true };
  }
  if (!hasResponse(error)) return { retryable: true, hint: 'no answer from GitHub' };
  if (status >= 500) return { retryable: true, hint: 'GitHub server error' };
  if (status === 403 || status === 429) {
    const exhausted = headers['x-ratelimit-remaining'] === '0';
    if (exhausted || retryAfterMs !== undefined || status === 429) {
      const reset = Number(headers['x-ratelimit-reset']);
      const until = Number.isFinite(reset) && reset > 0 ? ` until ${new Date(reset * 1000).toISOString()}` : '';
      return {
        retryable: true,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        hint: `rate limited${until}`,
      };
    }
    return { retryable: false, hint: 'the token lacks permission: the workflow needs `permissions: issues: write`' };
  }
  if (status === 401) return { retryable: false, hint: 'the token was rejected (expired or wrong)' };
  if (status === 404) {
    return { retryable: false, hint: 'the repository was not found, or the token cannot see it (check owner/repo and GITHUB_API_URL)' };
  }
  if (status === 410) return { retryable: false, hint: 'issues are disabled on this repository' };
  return { retryable: false };
}

/** The delay before retry number `retryIndex` (0-based). Pure. */
export function retryDelayMs(policy: RetryPolicy, retryIndex: number, failure: FailureClass): number {
  const backoff = policy.baseDelayMs * 2 ** retryIndex;
  const wanted = failure.retryAfterMs !== undefined ? Math.max(backoff, failure.retryAfterMs) : backoff;
  return Math.min(wanted, policy.maxDelayMs);
}

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
 * Runs one GitHub call with our retry policy. Throws, with `what` as context, once the call failed in
 * a way that is not retryable or the retries are used up.
 */
export async function withGitHubRetry<T>(what: string, fn: () => Promise<T>, deps: RetryDeps): Promise<T> {
  const policy = deps.policy ?? DEFAULT_RETRY_POLICY;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const failure = classifyGitHubFailure(error);
      const detail = describe(error, failure);
      if (!failure.retryable) {
        throw new Error(`${what}: ${detail}`, { cause: error });
      }
      if (attempt >= policy.retries) {
        throw new Error(`${what}: ${detail}; gave up after ${attempt + 1} attempts`, { cause: error });
      }
      const delay = retryDelayMs(policy, attempt, failure);
      deps.log.info(`${what}: ${detail}; retrying in ${delay / 1000}s (attempt ${attempt + 2} of ${policy.retries + 1})`);
      await deps.sleep(delay);
    }
  }
}
