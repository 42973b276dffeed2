import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { NotFoundError, withContext } from '../../src/errors.ts';
import { writeSmallFile } from '../../src/repository/publish.ts';
import { HostKeyError } from '../../src/stores/knownHosts.ts';
import { isTransient as isTransientError } from '../../src/base/failures.ts';
import { describeRetry } from '../../src/base/resilience.ts';
import { withRetry } from '../../src/stores/retry.ts';
import type { Store } from '../../src/stores/store.ts';

function errno(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

/** A fake store whose every method fails with the queued errors first, then succeeds; counts calls. */
function flakyStore(failures: unknown[]): Store & { calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const step = async <T>(method: string, value: T): Promise<T> => {
    calls[method] = (calls[method] ?? 0) + 1;
    if (failures.length > 0) throw failures.shift();
    return value;
  };
  return {
    id: 'fake://store',
    calls,
    write: (_f, _n, content) =>
      step('write', 0).then((size) => {
        content.resume();
        return size;
      }),
    rename: () => step('rename', undefined),
    download: () => step('download', Readable.from([])),
    readFile: () => step('readFile', Buffer.from('ok')),
    list: () => step('list', []),
    remove: () => step('remove', undefined),
    open: () => step('open', undefined),
    close: () => step('close', undefined),
  };
}

function recordingSleep(): { sleep: (ms: number) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms) };
}

describe('isTransientError', () => {
  it('treats network failures as transient, also when wrapped with context', () => {
    assert.equal(isTransientError(errno('ECONNRESET')), true);
    assert.equal(isTransientError(withContext('sftp://x: listing c', errno('ECONNREFUSED'))), true);
    assert.equal(isTransientError(new Error('getConnection: Timed out while waiting for handshake')), true);
    assert.equal(isTransientError(new Error('No response from server')), true);
  });
  it('treats everything else as permanent', () => {
    assert.equal(isTransientError(new NotFoundError('x does not exist')), false);
    assert.equal(isTransientError(withContext('ctx', new NotFoundError('gone'))), false);
    assert.equal(isTransientError(new HostKeyError('host key verification failed')), false);
    // A host key refusal stays permanent even if the socket also reset while failing.
    assert.equal(isTransientError(new Error('ctx', { cause: new HostKeyError('x', { cause: errno('ECONNRESET') }) })), false);
    assert.equal(isTransientError(new Error('All configured authentication methods failed')), false);
    assert.equal(isTransientError(errno('EACCES')), false);
    assert.equal(isTransientError('a string'), false);
  });
});

describe('withRetry', () => {
  it('retries transient failures with exponential backoff, then succeeds', async () => {
    const store = flakyStore([errno('ECONNRESET'), errno('ETIMEDOUT')]);
    const { sleep, delays } = recordingSleep();
    const retried: string[] = [];
    const wrapped = withRetry(store, {
      attempts: 4,
      baseDelayMs: 100,
      sleep,
      onRetry: ({ operation, attempt }) => retried.push(`${operation}#${attempt}`),
    });
    assert.equal((await wrapped.readFile('c', 'm.json')).toString(), 'ok');
    assert.equal(store.calls['readFile'], 3);
    assert.deepEqual(delays, [100, 200]);
    assert.deepEqual(retried, ['reading c/m.json#1', 'reading c/m.json#2']);
    assert.equal(wrapped.id, 'fake://store');
  });

  it('gives up after the configured attempts with the last error', async () => {
    const store = flakyStore([errno('ECONNREFUSED', 'one'), errno('ECONNREFUSED', 'two'), errno('ECONNREFUSED', 'three')]);
    const { sleep, delays } = recordingSleep();
    await assert.rejects(withRetry(store, { attempts: 3, baseDelayMs: 10, sleep }).list('c'), /three/);
    assert.equal(store.calls['list'], 3);
    assert.deepEqual(delays, [10, 20]);
  });

  it('caps the delay', async () => {
    const store = flakyStore([errno('EPIPE'), errno('EPIPE'), errno('EPIPE')]);
    const { sleep, delays } = recordingSleep();
    await withRetry(store, { attempts: 5, baseDelayMs: 1000, maxDelayMs: 1500, sleep }).open();
    assert.deepEqual(delays, [1000, 1500, 1500]);
  });

  it('does not retry NotFoundError or host key refusals', async () => {
    const { sleep, delays } = recordingSleep();
    const missing = flakyStore([new NotFoundError('gone')]);
    await assert.rejects(withRetry(missing, { attempts: 3, baseDelayMs: 1, sleep }).download('c', 'x'), NotFoundError);
    assert.equal(missing.calls['download'], 1);
    const refused = flakyStore([withContext('sftp://x', new HostKeyError('host key verification failed'))]);
    await assert.rejects(withRetry(refused, { attempts: 3, baseDelayMs: 1, sleep }).open(), /host key/);
    assert.equal(refused.calls['open'], 1);
    assert.deepEqual(delays, []);
  });

  it('never retries a write (its stream is consumed once)', async () => {
    const store = flakyStore([errno('ECONNRESET')]);
    const { sleep } = recordingSleep();
    await assert.rejects(
      withRetry(store, { attempts: 3, baseDelayMs: 1, sleep }).write('c', 'x', Readable.from([Buffer.from('x')])),
      /ECONNRESET/,
    );
    assert.equal(store.calls['write'], 1);
  });

  it('retries writing a small file only when replacing', async () => {
    const { sleep } = recordingSleep();
    const create = flakyStore([errno('ECONNRESET')]);
    await assert.rejects(writeSmallFile(withRetry(create, { attempts: 3, baseDelayMs: 1, sleep }), 'c', 'x', Buffer.from('x')));
    assert.equal(create.calls['write'], 1);
    const replace = flakyStore([errno('ECONNRESET')]);
    await writeSmallFile(withRetry(replace, { attempts: 3, baseDelayMs: 1, sleep }), 'c', 'x', Buffer.from('x'), { replace: true });
    assert.equal(replace.calls['write'], 2, 'the whole write (a new temporary file, then the rename) is repeated');
    assert.equal(replace.calls['rename'], 1);
  });

  it('retries remove and passes close through once', async () => {
    const { sleep } = recordingSleep();
    const store = flakyStore([errno('ECONNRESET')]);
    const wrapped = withRetry(store, { attempts: 3, baseDelayMs: 1, sleep });
    await wrapped.remove('c', 'x');
    assert.equal(store.calls['remove'], 2);
    await wrapped.close();
    assert.equal(store.calls['close'], 1);
  });
});

describe('retries are reported', () => {
  it('logs each retry with the store, the attempt and the reason; the final error says how many attempts were made', async () => {
    const store = flakyStore([errno('ECONNRESET', 'read ECONNRESET'), errno('ECONNRESET', 'read ECONNRESET'), errno('ECONNRESET', 'read ECONNRESET')]);
    const { sleep } = recordingSleep();
    const lines: string[] = [];
    const wrapped = withRetry(store, {
      attempts: 3,
      baseDelayMs: 1000,
      sleep,
      onRetry: (info) => lines.push(`${info.store}: ${describeRetry(info)}`),
    });
    await assert.rejects(wrapped.list('prod'), /read ECONNRESET; gave up after 3 attempts$/);
    assert.deepEqual(lines, [
      'fake://store: listing prod: read ECONNRESET; retrying in 1s (attempt 2 of 3)',
      'fake://store: listing prod: read ECONNRESET; retrying in 2s (attempt 3 of 3)',
    ]);
  });
});

describe('withRetry on a store that stays down', () => {
  it('tries later operations once only, until one succeeds again', async () => {
    const { sleep, delays } = recordingSleep();
    const refused = () => errno('ECONNREFUSED');
    const store = flakyStore([refused(), refused(), refused(), refused(), refused()]);
    const retried = withRetry(store, { attempts: 4, baseDelayMs: 10, sleep });
    await assert.rejects(retried.list('c'));
    assert.equal(store.calls['list'], 4, 'the first operation gets the whole retry budget');
    await assert.rejects(retried.readFile('c', 'status.json'));
    assert.equal(store.calls['readFile'], 1, 'the next one fails fast');
    assert.deepEqual(delays, [10, 20, 40]);
    await retried.list('c');
    assert.equal(store.calls['list'], 5, 'a success makes the store healthy again');
  });
});
