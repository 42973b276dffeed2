/**
 * A Kubernetes-like write load for journal tests: puts of new keys, updates, deletes, multi-key
 * transactions, keys attached to short leases that expire (etcd deletes them itself), run through the
 * etcd3 client. Records what it wrote and when etcd acknowledged it.
 */
import type { Etcd3 } from 'etcd3';

export interface LoadStats {
  writes: number;
  /** etcd's revision after the last write. */
  lastRevision: number;
  /** Client-side time of each acknowledged revision (ms since epoch). */
  readonly ackedAt: Map<number, number>;
}

export async function kubernetesLikeLoad(client: Etcd3, options: { durationMs: number; ratePerSecond: number; prefix?: string }, signal?: AbortSignal): Promise<LoadStats> {
  const prefix = options.prefix ?? '/registry';
  const stats: LoadStats = { writes: 0, lastRevision: 0, ackedAt: new Map() };
  const end = Date.now() + options.durationMs;
  const interval = 1000 / options.ratePerSecond;
  const live: string[] = [];
  let i = 0;
  const note = (revision: string | number): void => {
    const rev = Number(revision);
    stats.ackedAt.set(rev, Date.now());
    stats.lastRevision = Math.max(stats.lastRevision, rev);
    stats.writes++;
  };
  while (Date.now() < end && !signal?.aborted) {
    const started = Date.now();
    const value = JSON.stringify({ kind: 'Pod', i, spec: 'x'.repeat(1024 + (i % 1024)) });
    const kind = i % 10;
    try {
      if (kind < 4 || live.length < 5) {
        const key = `${prefix}/pods/ns-${i % 7}/pod-${i}`;
        note((await client.put(key).value(value).exec()).header.revision);
        live.push(key);
      } else if (kind < 6) {
        const key = live[i % live.length]!;
        note((await client.put(key).value(value).exec()).header.revision);
      } else if (kind === 6) {
        const key = live.splice(i % live.length, 1)[0]!;
        note((await client.delete().key(key).exec()).header.revision);
      } else if (kind === 7) {
        const a = `${prefix}/events/ev-${i}`;
        const b = live[i % live.length]!;
        const res = await client.if(b, 'Version', '>', 0).then(client.put(a).value(value), client.put(b).value(value)).else(client.put(a).value('else')).commit();
        note(res.header.revision);
      } else if (kind === 8) {
        const lease = client.lease(2, { autoKeepAlive: false });
        const res = await lease.put(`${prefix}/leases/kube-node-lease/node-${i}`).value(value).exec();
        note(res.header.revision);
      } else {
        const key = `${prefix}/configmaps/cm-${i % 13}`;
        note((await client.put(key).value(value).exec()).header.revision);
      }
    } catch {
      // A write that failed (member stopped mid-test) is not part of the history: etcd did not apply it
      // (or, if it did, the journal will show it; the tests compare against etcd's own history).
    }
    i++;
    const wait = interval - (Date.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return stats;
}
