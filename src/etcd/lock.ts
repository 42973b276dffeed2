/**
 * A lock held in etcd itself: a key under etcd-dr's prefix, attached to a lease with a TTL. Workflow
 * concurrency groups serialise runs inside GitHub; this also covers the CLI and anything else outside
 * it. A crashed holder stops renewing the lease, so the lock frees itself after `ttlSeconds`.
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

export async function acquireLock(
  client: Etcd3,
  cluster: string,
  holder: string,
  ttlSeconds: number,
  onLost: (error: Error) => void,
): Promise<HeldLock> {
  const key = lockKey(cluster);
  const lease: Lease = client.lease(ttlSeconds, { autoKeepAlive: true });
  const leaseId = await lease.grant();
  const value = JSON.stringify({ holder, pid: process.pid });
  const result = await client
    .if(key, 'Create', '==', 0)
    .then(client.put(key).value(value).lease(leaseId))
    .else(client.get(key))
    .commit();
  if (!result.succeeded) {
    await lease.revoke().catch(() => undefined);
    const current = result.responses[0]?.response_range?.kvs[0]?.value.toString() ?? 'unknown';
    throw new LockBusyError(
      `another etcd-dr run holds the lock ${key} (${current}); it frees itself when that run's lease expires if the run died`,
    );
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
