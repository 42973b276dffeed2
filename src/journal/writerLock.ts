/**
 * One journal writer per cluster, hot standbys: a key in etcd attached to a lease. Whoever creates the
 * key (txn createRevision == 0) writes; the others watch the key and try again when it is deleted (the
 * writer released it, or its lease expired because it died or lost etcd). Separate from the backup lock
 * (etcd/lock.ts) because a journal writer holds its lock for hours while backups come and go.
 *
 * Never two writers: the keep-alive says when etcd reports the lease gone, but a partitioned writer may not
 * hear that for a while. So the writer also keeps the time of its last acknowledged keep-alive and treats
 * the lock as gone `ttl - margin` after it (the lease cannot have expired earlier: etcd counts the TTL from
 * that keep-alive), and before publishing it checks the key still carries its own modRevision.
 *
 * Through the journal's own HTTP/2 client (etcd/http2Client.ts), like the rest of the follower.
 */
import { messageOf } from '../errors.ts';
import type { EtcdHttp2Client } from '../etcd/http2Client.ts';
import { countKeyRequest, createIfAbsentTxn, decodeRangeCount, decodeTxnResponse, modRevisionIsTxn, type TxnResult } from '../etcd/kvMessages.ts';
import { grantLease, keepLeaseAlive, revokeLease } from '../etcd/leases.ts';
import { openWatch } from '../etcd/watch.ts';

const TXN = '/etcdserverpb.KV/Txn';
const RANGE = '/etcdserverpb.KV/Range';

async function txn(client: EtcdHttp2Client, request: Buffer): Promise<TxnResult> {
  return decodeTxnResponse(await client.call(TXN, request));
}

export const JOURNAL_LOCK_PREFIX = '/etcd-dr/journal-writer/';

export function journalLockKey(cluster: string): string {
  return `${JOURNAL_LOCK_PREFIX}${cluster}`;
}

export interface WriterLock {
  readonly key: string;
  /** The lock key's modRevision when we created it: the fencing token. */
  readonly modRevision: number;
  readonly leaseId: string;
  /** False once the lease is known or presumed gone; never becomes true again. */
  held(): boolean;
  /** Resolves when the lock is lost (lease lost or presumed expired). */
  readonly lost: Promise<Error>;
  /**
   * Linearizable check with etcd that the key is still ours: true, false (someone else's, or gone: the lock
   * is then marked lost), or undefined when etcd did not answer (a leader election: ask again; if etcd stays
   * away, the keep-alive reckoning declares the lock lost).
   */
  confirm(): Promise<boolean | undefined>;
  /** Milliseconds of validity left by our own conservative reckoning. */
  remainingMs(now: number): number;
  release(): Promise<void>;
}

export interface LockHolder {
  readonly holder: string;
  readonly member: string;
}

/** Tries once; undefined when someone else holds the lock. */
export async function tryAcquireWriterLock(
  client: EtcdHttp2Client,
  cluster: string,
  who: LockHolder,
  ttlSeconds: number,
  clock: () => number = Date.now,
): Promise<WriterLock | undefined> {
  const key = journalLockKey(cluster);
  const keyBytes = Buffer.from(key);
  const grantedAt = clock();
  let leaseId: string;
  try {
    leaseId = await grantLease(client, ttlSeconds);
  } catch (error) {
    throw new Error(`granting a ${ttlSeconds} s lease for the journal lock: ${messageOf(error)}`);
  }
  const revoke = (): Promise<void> => revokeLease(client, leaseId).catch(() => undefined);
  const value = JSON.stringify({ holder: who.holder, member: who.member, pid: process.pid, since: new Date(grantedAt).toISOString() });
  let result: TxnResult;
  try {
    result = await txn(client, createIfAbsentTxn(keyBytes, Buffer.from(value), leaseId));
  } catch (error) {
    await revoke();
    throw new Error(`taking the journal lock ${key}: ${messageOf(error)}`);
  }
  if (!result.succeeded) {
    await revoke();
    return undefined;
  }
  const modRevision = result.revision;
  const ttlMs = ttlSeconds * 1000;
  const marginMs = Math.min(2000, ttlMs / 4);
  let lastAck = grantedAt;
  let isHeld = true;
  let resolveLost!: (error: Error) => void;
  const lost = new Promise<Error>((resolve) => (resolveLost = resolve));
  const lose = (error: Error): void => {
    if (!isHeld) return;
    isHeld = false;
    clearInterval(timer);
    stopKeepAlive();
    resolveLost(error);
  };
  const stopKeepAlive = keepLeaseAlive(client, leaseId, ttlSeconds, {
    onRenewed: () => {
      lastAck = clock();
    },
    onGone: (error) => lose(new Error(`lost the journal lock ${key}: ${error.message}`)),
    // Counted by the reckoning below: the lock is lost only if no renewal comes in time.
    onTrouble: () => undefined,
  });
  const timer = setInterval(() => {
    if (clock() - lastAck > ttlMs - marginMs) {
      lose(new Error(`lost the journal lock ${key}: no keep-alive acknowledged for ${Math.round((clock() - lastAck) / 1000)} s (TTL ${ttlSeconds} s)`));
    }
  }, 200);
  timer.unref();
  return {
    key,
    modRevision,
    leaseId,
    held: () => isHeld,
    lost,
    remainingMs: (now) => (isHeld ? ttlMs - marginMs - (now - lastAck) : 0),
    confirm: async () => {
      if (!isHeld) return false;
      try {
        const check = await txn(client, modRevisionIsTxn(keyBytes, modRevision));
        if (!check.succeeded) lose(new Error(`lost the journal lock ${key}: the key is no longer ours`));
        return check.succeeded && isHeld;
      } catch {
        return isHeld ? undefined : false;
      }
    },
    release: async () => {
      const wasHeld = isHeld;
      isHeld = false;
      clearInterval(timer);
      stopKeepAlive();
      if (wasHeld) resolveLost(new Error('released'));
      await revoke();
    },
  };
}

/**
 * Waits until the lock key is absent (or `signal` aborts), watching it so a release or expiry is seen at
 * once; a timer re-checks in case the watch missed it (etcd restarted, the key deleted before the watch began).
 */
export async function waitForLockFree(client: EtcdHttp2Client, cluster: string, signal: AbortSignal, recheckMs = 2000): Promise<void> {
  const key = Buffer.from(journalLockKey(cluster));
  const free = async (): Promise<boolean> => {
    try {
      return decodeRangeCount(await client.call(RANGE, countKeyRequest(key))) === 0;
    } catch {
      return false;
    }
  };
  // An AbortSignal fires once: a stop that came before this wait is only in `aborted`.
  if (signal.aborted || (await free()) || signal.aborted) return;
  await new Promise<void>((resolve) => {
    let watch: { close(): void } | undefined;
    let over = false;
    const done = (): void => {
      if (over) return;
      over = true;
      clearInterval(timer);
      signal.removeEventListener('abort', done);
      watch?.close();
      resolve();
    };
    signal.addEventListener('abort', done);
    const timer = setInterval(() => {
      void free().then((isFree) => {
        if (isFree) done();
      });
    }, recheckMs);
    openWatch(client.access, client.access.endpoints, { key }, undefined, {
      onResponse: (response) => {
        if (response.kind === 'events' && response.events.some((e) => e.type === 'delete')) done();
      },
      // The timer still checks: a lost watch only makes the wait up to recheckMs longer.
      onEnd: () => undefined,
    }).then(
      (opened) => {
        if (over) opened.close();
        else watch = opened;
      },
      () => undefined,
    );
  });
}
