/**
 * One journal writer per cluster, hot standbys: a key in etcd attached to a lease. Whoever creates the
 * key (txn createRevision == 0) writes; the others watch the key and try again when it is deleted (the
 * writer released it, or its lease expired because it died or lost etcd). Separate from the backup lock
 * (etcd/lock.ts) because a journal writer holds its lock for hours while backups come and go.
 *
 * Never two writers: etcd3's lease emits `lost` once etcd says the lease is gone, but a partitioned writer
 * may not hear that for a while. So the writer also keeps the time of its last acknowledged keep-alive and
 * treats the lock as gone `ttl - margin` after it (the lease cannot have expired earlier: etcd counts the
 * TTL from that keep-alive), and before publishing it checks the key still carries its own modRevision.
 */
import type { Etcd3, Lease } from 'etcd3';
import { messageOf } from '../errors.ts';

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
  client: Etcd3,
  cluster: string,
  who: LockHolder,
  ttlSeconds: number,
  clock: () => number = Date.now,
): Promise<WriterLock | undefined> {
  const key = journalLockKey(cluster);
  const lease: Lease = client.lease(ttlSeconds, { autoKeepAlive: true });
  const grantedAt = clock();
  let leaseId: string;
  try {
    leaseId = await lease.grant();
  } catch (error) {
    lease.release();
    throw new Error(`granting a ${ttlSeconds} s lease for the journal lock: ${messageOf(error)}`);
  }
  const value = JSON.stringify({ holder: who.holder, member: who.member, pid: process.pid, since: new Date(grantedAt).toISOString() });
  let result;
  try {
    result = await client.if(key, 'Create', '==', 0).then(client.put(key).value(value).lease(leaseId)).commit();
  } catch (error) {
    await lease.revoke().catch(() => undefined);
    throw new Error(`taking the journal lock ${key}: ${messageOf(error)}`);
  }
  if (!result.succeeded) {
    await lease.revoke().catch(() => undefined);
    return undefined;
  }
  const modRevision = Number(result.header.revision);
  const ttlMs = ttlSeconds * 1000;
  // Keep a margin for clock rate differences and for an in-flight publish to finish or be abandoned.
  const marginMs = Math.min(2000, ttlMs / 4);
  let lastAck = grantedAt;
  let isHeld = true;
  let resolveLost!: (error: Error) => void;
  const lost = new Promise<Error>((resolve) => (resolveLost = resolve));
  const lose = (error: Error): void => {
    if (!isHeld) return;
    isHeld = false;
    clearInterval(timer);
    resolveLost(error);
  };
  lease.on('keepaliveSucceeded', () => {
    lastAck = clock();
  });
  lease.on('lost', (error: Error) => lose(new Error(`lost the journal lock ${key}: ${messageOf(error)}`)));
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
        const check = await client.if(key, 'Mod', '==', modRevision).commit();
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
      lease.removeAllListeners();
      if (wasHeld) resolveLost(new Error('released'));
      // Revoking the lease deletes the key at once, so a standby takes over without waiting for the TTL.
      await lease.revoke().catch(() => lease.release());
    },
  };
}

/**
 * Waits until the lock key is absent (or `signal` aborts), watching it so a release or expiry is seen at
 * once; a timer re-checks in case the watch missed it (etcd restarted, stream re-created).
 */
export async function waitForLockFree(client: Etcd3, cluster: string, signal: AbortSignal, recheckMs = 2000): Promise<void> {
  const key = journalLockKey(cluster);
  const free = async (): Promise<boolean> => {
    try {
      return (await client.get(key).string()) === null;
    } catch {
      return false;
    }
  };
  if (await free()) return;
  let watcher;
  try {
    watcher = await client.watch().key(key).create();
  } catch {
    watcher = undefined;
  }
  try {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearInterval(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      watcher?.on('delete', done);
      signal.addEventListener('abort', done);
      const timer = setInterval(() => {
        void free().then((isFree) => {
          if (isFree) done();
        });
      }, recheckMs);
    });
  } finally {
    await watcher?.cancel().catch(() => undefined);
  }
}
