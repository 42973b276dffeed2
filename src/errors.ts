/**
 * Errors that carry context. Every layer wraps what it catches with what it was doing, so a failure at
 * 3 a.m. reads as a sentence ("uploading X to sftp://dc2: connection refused") instead of a bare errno.
 */

/** Bad input from a user (workflow inputs, CLI flags, dispatch inputs). Raised before any side effect. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** A named object does not exist in a store. Stores raise this (and only this) for a missing object. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** Data failed an integrity check (etcd's sha256 trailer, a manifest checksum, a size). */
export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
}

/** Returns the message of anything thrown, for logs and summaries. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Wraps `error` with what we were doing, keeping the original as `cause` and the error's class. */
export function withContext(context: string, error: unknown): Error {
  const message = `${context}: ${messageOf(error)}`;
  if (error instanceof NotFoundError) return new NotFoundError(message, { cause: error });
  if (error instanceof IntegrityError) return new IntegrityError(message, { cause: error });
  if (error instanceof InputError) return new InputError(message, { cause: error });
  return new Error(message, { cause: error });
}

/** Runs `fn`, adding `context` to any error it throws. */
export async function inContext<T>(context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw withContext(context, error);
  }
}
