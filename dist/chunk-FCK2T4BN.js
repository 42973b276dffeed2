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

export {
  InputError,
  NotFoundError,
  IntegrityError,
  messageOf,
  withContext,
  inContext
};
