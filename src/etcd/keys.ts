/** Counting keys, as a manifest records them and a restore checks them. */
import type { Etcd3 } from 'etcd3';
import { OWN_PREFIX } from './lock.ts';

/**
 * Live keys at `revision` (latest when omitted), excluding etcd-dr's own keys, so that a count taken
 * while our lock was held matches a count taken on a restored member after the lock's lease is gone.
 * Reads are member-local (serializable): we count what the member we snapshot holds, and this still
 * works when quorum is lost.
 */
export async function countKeys(client: Etcd3, revision?: number): Promise<number> {
  const build = (prefix: string) => {
    const builder = client.getAll().prefix(prefix).serializable(true);
    return revision === undefined ? builder : builder.revision(revision);
  };
  const [all, own] = await Promise.all([build('').count(), build(OWN_PREFIX).count()]);
  return all - own;
}
