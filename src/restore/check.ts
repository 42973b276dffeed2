/** After a restore: wait until etcd answers, then compare revision and key count with the manifest. */
import type { Manifest } from '../repository/manifest.ts';
import { connect, type EtcdAccess } from '../etcd/connection.ts';
import { countKeys } from '../etcd/keys.ts';
import { messageOf } from '../errors.ts';

export interface RestoredState {
  readonly revision: number;
  readonly keys: number;
  readonly warnings: readonly string[];
}

/**
 * Polls `endpoint` until its Status answers (a member restored alone answers before it has a leader).
 * `dead()` lets the caller stop early when the process it started has exited.
 */
export async function waitServing(
  access: EtcdAccess,
  endpoint: string,
  options: { timeoutMs: number; sleep: (ms: number) => Promise<void>; dead?: () => string | undefined },
): Promise<void> {
  let lastError = 'no answer yet';
  for (let waited = 0; waited <= options.timeoutMs; waited += 500) {
    const dead = options.dead?.();
    if (dead) throw new Error(dead);
    const client = await connect({ ...access, callTimeoutMs: 2000 }, [endpoint]);
    try {
      await client.maintenance.status();
      return;
    } catch (error) {
      lastError = messageOf(error);
    } finally {
      client.close();
    }
    await options.sleep(500);
  }
  throw new Error(`etcd at ${endpoint} did not answer within ${options.timeoutMs / 1000}s: ${lastError}`);
}

/**
 * Checks a restored member against the backup's manifest. With history kept (no compaction mark), keys
 * are counted at the manifest's revision, which is exact. After --mark-compacted, only the latest
 * revision can be read: exact when the manifest says so, else a mismatch is a warning.
 */
export async function checkRestored(
  access: EtcdAccess,
  endpoint: string,
  manifest: Manifest,
  expect: { readonly bumpRevision: number; readonly historyKept: boolean },
): Promise<RestoredState> {
  const client = await connect(access, [endpoint]);
  try {
    const status = await client.maintenance.status();
    const revision = Number(status.header.revision);
    const minimum = manifest.revision + expect.bumpRevision;
    if (revision < minimum) {
      throw new Error(`restored revision ${revision} is below the backup's ${manifest.revision}${expect.bumpRevision ? ` + bump ${expect.bumpRevision}` : ''}`);
    }
    const warnings: string[] = [];
    const keys = await countKeys(client, expect.historyKept ? manifest.revision : undefined);
    if (keys !== manifest.keyCount) {
      const message = `restored member holds ${keys} keys, the backup's manifest says ${manifest.keyCount}`;
      if (expect.historyKept || manifest.keyCountExact) throw new Error(message);
      warnings.push(`${message} (writes landed while the snapshot started, so the manifest's count is approximate)`);
    }
    return { revision, keys, warnings };
  } finally {
    client.close();
  }
}
