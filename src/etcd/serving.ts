/**
 * Is etcd running on this endpoint? Used to make sure etcd is stopped before its data directory is
 * replaced, so only a refused connection counts as "stopped": a TLS or auth mistake must not read as a
 * stopped etcd.
 */
import { isEtcdUnreachable } from '../base/failures.ts';
import { messageOf } from '../errors.ts';
import { connect, type EtcdAccess } from './connection.ts';

export async function etcdAnswers(access: EtcdAccess, endpoint: string): Promise<boolean> {
  const client = await connect({ ...access, callTimeoutMs: 2000 }, [endpoint]);
  try {
    await client.maintenance.status();
    return true;
  } catch (error) {
    if (isEtcdUnreachable(error)) return false;
    throw new Error(`cannot tell whether etcd at ${endpoint} is running (${messageOf(error)}); check endpoints, cacert, cert, key`, {
      cause: error,
    });
  } finally {
    client.close();
  }
}
