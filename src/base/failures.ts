/**
 * Every decision about what an error MEANS, in one file: is it worth retrying (a flaky network), was access
 * denied, is the thing missing, was a host key refused, did age or etcd's restore tool find the data corrupt.
 * Most of the libraries we use say so only in message text (ssh2 puts no code on a stalled handshake, age and
 * etcdutl only print sentences), so the patterns live here, each next to the real text it matches, and
 * test/unit/failures.test.ts checks them against texts produced by the real components.
 */
import { messageOf } from '../errors.ts';

/** Walks an error and its causes (context wrappers keep the original as `cause`). */
function* causeChain(error: unknown): Generator<Error> {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 10; depth++) {
    yield current;
    current = current.cause;
  }
}

const codeOf = (error: Error): unknown => (error as Error & { code?: unknown }).code;

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
  /timed out while waiting for handshake/i, // ssh2: "Timed out while waiting for handshake"
  /no response from server/i, // ssh2-sftp-client: "No response from server"
  /unexpected (end|close) event/i,
  /connection (lost|closed|reset)/i,
  /keepalive timeout/i, // ssh2: "Keepalive timeout"
  /not connected/i, // ssh2: "Not connected" (a call on a dropped channel)
];
// Errors that are the answer, not a hiccup: retrying cannot change them.
const PERMANENT_NAMES = new Set(['NotFoundError', 'InputError', 'IntegrityError', 'HostKeyError']);

/** Whether `error` (or anything in its cause chain) is a transient network failure, and nothing in it is permanent. */
export function isTransient(error: unknown): boolean {
  let transient = false;
  for (const current of causeChain(error)) {
    if (PERMANENT_NAMES.has(current.name)) return false;
    if ((current as Error & { level?: unknown }).level === 'client-authentication') return false;
    const code = codeOf(current);
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) transient = true;
    if (TRANSIENT_MESSAGES.some((re) => re.test(current.message))) transient = true;
  }
  return transient;
}

/** Whether a missing file or object is the reason (our NotFoundError, ENOENT, SFTP status 2). */
export function isNotFound(error: unknown): boolean {
  for (const current of causeChain(error)) {
    if (current.name === 'NotFoundError' || codeOf(current) === 'ENOENT') return true;
  }
  return false;
}

/** Whether access was refused: EACCES/EPERM, SFTP "Permission denied" (status 3). */
export function isPermissionDenied(error: unknown): boolean {
  for (const current of causeChain(error)) {
    const code = codeOf(current);
    if (code === 'EACCES' || code === 'EPERM' || code === 3 || /permission denied/i.test(current.message)) return true;
  }
  return false;
}

/** Whether a server's host key was refused (never retried, never trusted on first use). */
export function isHostKeyRefusal(error: unknown): boolean {
  for (const current of causeChain(error)) if (current.name === 'HostKeyError') return true;
  return false;
}

/** What went wrong connecting to an SSH server, from ssh2's error (ssh2 gives a code only for socket errors). */
export type SshConnectFailure = 'refused' | 'timeout' | 'unresolved' | 'authentication' | 'host-key-type' | 'other';

export function sshConnectFailure(error: unknown): SshConnectFailure {
  const message = messageOf(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'ECONNREFUSED') return 'refused';
  // ssh2: "Timed out while waiting for handshake"; net: ETIMEDOUT.
  if (code === 'ETIMEDOUT' || /timed out/i.test(message)) return 'timeout';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unresolved';
  // ssh2: "All configured authentication methods failed".
  if (/authentication methods failed/i.test(message)) return 'authentication';
  // ssh2: "Handshake failed: no matching host key format".
  if (/no matching host key format/i.test(message)) return 'host-key-type';
  return 'other';
}

/** ssh2 throws "Server does not support this extended request" when an SFTP extension (posix-rename) is missing. */
export function isUnsupportedSftpExtension(error: unknown): boolean {
  return /does not support/i.test(messageOf(error));
}

/** An etcd endpoint that is not listening (yet): gRPC's "connect ECONNREFUSED ..." / "socket hang up". */
export function isEtcdUnreachable(error: unknown): boolean {
  return /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|socket hang up/.test(messageOf(error));
}

/** age could not decrypt with the identities given: "no identity matched any of the file's recipients". */
export function isAgeWrongIdentity(error: unknown): boolean {
  return /identit|no.*match|stanza/i.test(messageOf(error));
}

/** age found the ciphertext damaged (it authenticates every 64 KiB chunk): "invalid tag", a truncated stream. */
export function isAgeCorruption(error: unknown): boolean {
  return /invalid tag|ciphertext|stream ended/i.test(messageOf(error));
}

/** etcdutl/etcdctl snapshot restore: "expected sha256 [..], got [..]" when the database does not match its trailer. */
export function isSnapshotHashMismatch(error: unknown): boolean {
  return /expected sha256/i.test(messageOf(error));
}

// GitHub (Octokit): the HTTP status and headers say it all.

/** The HTTP status of an Octokit RequestError (network failures are reported by Octokit as 500). */
export function statusOf(error: unknown): number | undefined {
  if (typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number') {
    return error.status;
  }
  return undefined;
}

/** Octokit reports a request that got no HTTP answer (refused, DNS, TLS, abort) as status 500 without a response. */
export function hasResponse(error: unknown): boolean {
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

/** A failed GitHub call: worth retrying?, how long the server asked us to wait, and what it means. */
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
