/**
 * A lock held in etcd itself: a key under etcd-dr's prefix, attached to a lease with a TTL. Workflow
 * concurrency groups serialise runs inside GitHub; this also covers the CLI and anything else outside
 * it. A crashed holder stops renewing the lease, so the lock frees itself after `ttlSeconds`.
 *
 * A run that finds the lock held waits for it rather than failing at once: the holder may have died
 * seconds ago (a cancelled job, a rebooted node), and a failed backup opens an alarm. It waits as long as
 * the holder's lease has left (etcd tells us), plus a margin, polling once a second; only a holder that
 * keeps renewing its lease -- a run that is alive -- makes it give up.
 */
import type { Etcd3, Lease } from 'etcd3';
import { messageOf } from '../errors.ts';

/** Keys etcd-dr itself writes. Key counts in manifests exclude them so restores compare like with like. */
export const OWN_PREFIX = '/etcd-dr/';

export function lockKey(cluster: string): string {
  return `${OWN_PREFIX}locks/${cluster}`;
}

export interface HeldLock {
  release(): Promise<void>;
}

export class LockBusyError extends Error {
  override readonly name = 'LockBusyError';
}

/**
 * What waiting for a held lock needs. BackupDeps fits it as it is. The defaults are the real clock and
 * timer, and a log to stderr (which an action's step log shows too).
 */
export interface LockWait {
  /** Where the waiting line goes (a Log's info, which BackupDeps.log has). */
  readonly log: { info(message: string): void };
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  /** Seconds waited beyond the holder lease's remaining time (LOCK_WAIT_MARGIN_SECONDS). */
  readonly marginSeconds?: number;
}

/**
 * etcd expires a lease when its leader's lessor next looks (every 500 ms) and the revoke has gone through
 * raft; on a busy control-plane node that can take a few seconds past the TTL.
 */
export const LOCK_WAIT_MARGIN_SECONDS = 5;
/** How often a waiting run tries again: a transaction a second is nothing to etcd, and waits at most ~1 s too long. */
export const LOCK_POLL_MS = 1000;

const defaultWait: LockWait = {
  log: { info: (message) => process.stderr.write(`${message}\n`) },
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * How long to wait for a held lock before giving up: the holder lease's remaining seconds when etcd told
 * us (plus one: etcd says a lease expires "in under TTL+1 seconds"), else our own TTL (runs of one
 * cluster share the setting), plus the margin.
 */
export function lockWaitSeconds(holderRemainingSeconds: number | undefined, ttlSeconds: number, marginSeconds: number): number {
  const expiresWithin = holderRemainingSeconds === undefined ? ttlSeconds : Math.max(0, holderRemainingSeconds) + 1;
  return expiresWithin + marginSeconds;
}

/** The lock's value as we write it, for people reading it with etcdctl and for our messages. */
function lockValue(holder: string, now: Date): string {
  return JSON.stringify({ holder, pid: process.pid, since: now.toISOString() });
}

/** "runner-on-node-2 (pid 4242, since 2026-...)" from a lock value; the raw value if it is not ours. */
export function describeHolder(value: string): string {
  try {
    const parsed = JSON.parse(value) as { holder?: unknown; pid?: unknown; since?: unknown };
    if (typeof parsed.holder !== 'string') return value;
    const details = [
      ...(typeof parsed.pid === 'number' ? [`pid ${parsed.pid}`] : []),
      ...(typeof parsed.since === 'string' ? [`since ${parsed.since}`] : []),
    ];
    return details.length > 0 ? `${parsed.holder} (${details.join(', ')})` : parsed.holder;
  } catch {
    return value;
  }
}

interface CurrentHolder {
  readonly value: string;
  /** The holder's lease ID; '0' when the key has none. */
  readonly lease: string;
}

/**
 * One attempt: the key is created on our lease if absent ('taken'), else who holds it ('vanished' when it
 * was deleted between the compare and the read: free now, try again).
 */
async function tryTake(client: Etcd3, key: string, value: string, leaseId: string): Promise<'taken' | 'vanished' | CurrentHolder> {
  const result = await client
    .if(key, 'Create', '==', 0)
    .then(client.put(key).value(value).lease(leaseId))
    .else(client.get(key))
    .commit();
  if (result.succeeded) return 'taken';
  const kv = result.responses[0]?.response_range?.kvs[0];
  return kv === undefined ? 'vanished' : { value: kv.value.toString(), lease: kv.lease };
}

/** Seconds the lease has left (0 once gone), or undefined when etcd would not say. */
async function remainingSeconds(client: Etcd3, leaseId: string): Promise<number | undefined> {
  try {
    const ttl = Number((await client.leaseClient.leaseTimeToLive({ ID: leaseId })).TTL);
    return Number.isFinite(ttl) ? Math.max(0, ttl) : undefined;
  } catch {
    return undefined;
  }
}

export async function acquireLock(
  client: Etcd3,
  cluster: string,
  holder: string,
  ttlSeconds: number,
  onLost: (error: Error) => void,
  wait: Partial<LockWait> = {},
): Promise<HeldLock> {
  const { log, now, sleep, marginSeconds = LOCK_WAIT_MARGIN_SECONDS } = { ...defaultWait, ...wait };
  const key = lockKey(cluster);
  const lease: Lease = client.lease(ttlSeconds, { autoKeepAlive: true });
  const leaseId = await lease.grant();
  try {
    let deadline: { readonly at: number; readonly seconds: number; readonly polls: number } | undefined;
    for (let poll = 0; ; poll++) {
      const current = await tryTake(client, key, lockValue(holder, now()), leaseId);
      if (current === 'taken') break;
      if (current === 'vanished') continue;
      const held = `another etcd-dr run holds the lock ${key}: ${describeHolder(current.value)}`;
      if (current.lease === '0') {
        throw new LockBusyError(
          `${held}; the key has no lease, so it never frees itself: if no etcd-dr run is active, delete it (etcdctl del ${key})`,
        );
      }
      if (deadline === undefined) {
        const remaining = await remainingSeconds(client, current.lease);
        const seconds = lockWaitSeconds(remaining, ttlSeconds, marginSeconds);
        // The poll count bounds the wait too, should `sleep` return early (a test's fake timer).
        deadline = { at: now().getTime() + seconds * 1000, seconds, polls: Math.ceil((seconds * 1000) / LOCK_POLL_MS) };
        const expiry =
          remaining === undefined
            ? `its lease (remaining time unknown) expires within ${ttlSeconds} s`
            : `its lease expires in ${remaining} s`;
        log.info(`${held}; ${expiry} unless that run renews it: waiting up to ${seconds} s for the lock`);
      }
      const left = deadline.at - now().getTime();
      if (left <= 0 || poll >= deadline.polls) {
        throw new LockBusyError(
          `${held}, and still did after waiting ${deadline.seconds} s: that run is alive and renewing its lease ` +
            `(a crashed run's lock frees itself when its lease runs out); try again when it has finished`,
        );
      }
      await sleep(Math.min(LOCK_POLL_MS, left));
    }
  } catch (error) {
    await lease.revoke().catch(() => undefined);
    throw error;
  }
  lease.on('lost', (error: Error) => onLost(new Error(`lost the lock ${key}: ${messageOf(error)}`)));
  return {
    release: async () => {
      lease.removeAllListeners('lost');
      // Revoking the lease deletes the key; if etcd is gone the TTL does it.
      await lease.revoke().catch(() => undefined);
    },
  };
}
