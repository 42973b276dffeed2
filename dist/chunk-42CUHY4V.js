import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);

// src/errors.ts
var InputError = class extends Error {
  name = "InputError";
};
var NotFoundError = class extends Error {
  name = "NotFoundError";
};
var IntegrityError = class extends Error {
  name = "IntegrityError";
};
function messageOf(error) {
  if (error instanceof Error) return error.message;
  return String(error);
}
function withContext(context, error) {
  const message = `${context}: ${messageOf(error)}`;
  if (error instanceof NotFoundError) return new NotFoundError(message, { cause: error });
  if (error instanceof IntegrityError) return new IntegrityError(message, { cause: error });
  if (error instanceof InputError) return new InputError(message, { cause: error });
  return new Error(message, { cause: error });
}
async function inContext(context, fn) {
  try {
    return await fn();
  } catch (error) {
    throw withContext(context, error);
  }
}

// src/base/failures.ts
function* causeChain(error) {
  let current = error;
  for (let depth = 0; current instanceof Error && depth < 10; depth++) {
    yield current;
    current = current.cause;
  }
}
var codeOf = (error) => error.code;
var TRANSIENT_CODES = /* @__PURE__ */ new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN"
]);
var TRANSIENT_MESSAGES = [
  /timed out while waiting for handshake/i,
  // ssh2: "Timed out while waiting for handshake"
  /no response from server/i,
  // ssh2-sftp-client: "No response from server"
  /unexpected (end|close) event/i,
  /connection (lost|closed|reset)/i,
  /keepalive timeout/i,
  // ssh2: "Keepalive timeout"
  /not connected/i
  // ssh2: "Not connected" (a call on a dropped channel)
];
var PERMANENT_NAMES = /* @__PURE__ */ new Set(["NotFoundError", "InputError", "IntegrityError", "HostKeyError"]);
function isTransient(error) {
  let transient = false;
  for (const current of causeChain(error)) {
    if (PERMANENT_NAMES.has(current.name)) return false;
    if (current.level === "client-authentication") return false;
    const code = codeOf(current);
    if (typeof code === "string" && TRANSIENT_CODES.has(code)) transient = true;
    if (TRANSIENT_MESSAGES.some((re) => re.test(current.message))) transient = true;
  }
  return transient;
}
function isPermissionDenied(error) {
  for (const current of causeChain(error)) {
    const code = codeOf(current);
    if (code === "EACCES" || code === "EPERM" || code === 3 || /permission denied/i.test(current.message)) return true;
  }
  return false;
}
function sshConnectFailure(error) {
  const message = messageOf(error);
  const code = error?.code;
  if (code === "ECONNREFUSED") return "refused";
  if (code === "ETIMEDOUT" || /timed out/i.test(message)) return "timeout";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "unresolved";
  if (/authentication methods failed/i.test(message)) return "authentication";
  if (/no matching host key format/i.test(message)) return "host-key-type";
  return "other";
}
function isUnsupportedSftpExtension(error) {
  return /does not support/i.test(messageOf(error));
}
function isEtcdUnreachable(error) {
  return /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|socket hang up/.test(messageOf(error));
}
function isAgeWrongIdentity(error) {
  return /identit|no.*match|stanza/i.test(messageOf(error));
}
function isAgeCorruption(error) {
  return /invalid tag|ciphertext|stream ended/i.test(messageOf(error));
}
function isSnapshotHashMismatch(error) {
  return /expected sha256/i.test(messageOf(error));
}
function statusOf(error) {
  if (typeof error === "object" && error !== null && "status" in error && typeof error.status === "number") {
    return error.status;
  }
  return void 0;
}
function hasResponse(error) {
  return typeof error === "object" && error !== null && "response" in error && error.response !== void 0;
}
function headersOf(error) {
  if (typeof error !== "object" || error === null || !("response" in error)) return {};
  const response = error.response;
  if (typeof response !== "object" || response === null || !("headers" in response)) return {};
  const headers = response.headers;
  if (typeof headers !== "object" || headers === null) return {};
  const out = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== void 0 && value !== null) out[key.toLowerCase()] = String(value);
  }
  return out;
}
function classifyGitHubFailure(error) {
  const status = statusOf(error);
  const headers = headersOf(error);
  const retryAfterSeconds = headers["retry-after"] !== void 0 ? Number(headers["retry-after"]) : void 0;
  const retryAfterMs = retryAfterSeconds !== void 0 && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0 ? retryAfterSeconds * 1e3 : void 0;
  if (status === void 0) {
    return { retryable: true };
  }
  if (!hasResponse(error)) return { retryable: true, hint: "no answer from GitHub" };
  if (status >= 500) return { retryable: true, hint: "GitHub server error" };
  if (status === 403 || status === 429) {
    const exhausted = headers["x-ratelimit-remaining"] === "0";
    if (exhausted || retryAfterMs !== void 0 || status === 429) {
      const reset = Number(headers["x-ratelimit-reset"]);
      const until = Number.isFinite(reset) && reset > 0 ? ` until ${new Date(reset * 1e3).toISOString()}` : "";
      return {
        retryable: true,
        ...retryAfterMs !== void 0 ? { retryAfterMs } : {},
        hint: `rate limited${until}`
      };
    }
    return { retryable: false, hint: "the token lacks permission: the workflow needs `permissions: issues: write`" };
  }
  if (status === 401) return { retryable: false, hint: "the token was rejected (expired or wrong)" };
  if (status === 404) {
    return { retryable: false, hint: "the repository was not found, or the token cannot see it (check owner/repo and GITHUB_API_URL)" };
  }
  if (status === 410) return { retryable: false, hint: "issues are disabled on this repository" };
  return { retryable: false };
}

// src/base/resilience.ts
import { setTimeout as delay } from "node:timers/promises";
function backoffMs(policy, retryIndex, retryAfterMs) {
  const backoff = policy.baseDelayMs * 2 ** retryIndex;
  const wanted = retryAfterMs !== void 0 ? Math.max(backoff, retryAfterMs) : backoff;
  return Math.min(wanted, policy.maxDelayMs ?? Number.POSITIVE_INFINITY);
}
function gaveUp(error, attempts) {
  const wrapped = withContext("", error);
  wrapped.message = `${messageOf(error)}; gave up after ${attempts} attempt${attempts === 1 ? "" : "s"}`;
  const code = error?.code;
  if (typeof code === "string") Object.assign(wrapped, { code });
  return wrapped;
}
async function retry(operation, fn, options) {
  const attempts = Math.max(1, options.attempts ?? options.policy.attempts);
  const sleep = options.sleep ?? ((ms) => delay(ms));
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
function describeRetry(info) {
  return `${info.operation}: ${info.reason}; retrying in ${info.delayMs / 1e3}s (attempt ${info.attempt + 1} of ${info.attempts})`;
}

export {
  InputError,
  NotFoundError,
  IntegrityError,
  messageOf,
  withContext,
  inContext,
  isTransient,
  isPermissionDenied,
  sshConnectFailure,
  isUnsupportedSftpExtension,
  isEtcdUnreachable,
  isAgeWrongIdentity,
  isAgeCorruption,
  isSnapshotHashMismatch,
  statusOf,
  hasResponse,
  classifyGitHubFailure,
  retry,
  describeRetry
};
