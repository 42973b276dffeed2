/** Lease calls over the journal's HTTP/2 client (see http2Client.ts for why not etcd3's). */
import { messageOf } from '../errors.ts';
import { GrpcMessageReader, grpcFrame } from './grpcFrames.ts';
import type { EtcdHttp2Client } from './http2Client.ts';
import { decodeLeaseGrant, decodeLeaseTimeToLive, leaseGrantRequest, leaseIdRequest, type LeaseTimeToLive } from './leaseMessages.ts';

const LEASE = '/etcdserverpb.Lease/';

/** Grants a lease of `ttlSeconds`; resolves with its id (decimal). */
export async function grantLease(client: EtcdHttp2Client, ttlSeconds: number): Promise<string> {
  const granted = decodeLeaseGrant(await client.call(`${LEASE}LeaseGrant`, leaseGrantRequest(ttlSeconds)));
  if (granted.error !== '' || granted.id === '0') throw new Error(`etcd granted no lease: ${granted.error || 'no id in the answer'}`);
  return granted.id;
}

/** Revokes the lease: etcd deletes the keys attached to it at once. */
export async function revokeLease(client: EtcdHttp2Client, id: string): Promise<void> {
  await client.call(`${LEASE}LeaseRevoke`, leaseIdRequest(id));
}

/** The lease's remaining and granted TTL; -1 and 0 when etcd no longer knows it. */
export async function leaseTimeToLive(client: EtcdHttp2Client, id: string): Promise<LeaseTimeToLive> {
  return decodeLeaseTimeToLive(await client.call(`${LEASE}LeaseTimeToLive`, leaseIdRequest(id)));
}

export interface KeepAliveEvents {
  /** etcd renewed the lease (its TTL starts again from now). */
  onRenewed(): void;
  /** etcd says the lease is gone (expired or revoked): called once, and the keep-alive stops. */
  onGone(error: Error): void;
  /** The stream failed (connection lost); it is opened again. The lease may still expire meanwhile: the caller keeps count. */
  onTrouble(error: Error): void;
}

/**
 * Keeps the lease alive on a LeaseKeepAlive stream, renewing every third of its TTL (as etcd's clients do),
 * opening the stream again through the next endpoint when it fails. Returns the function that stops it.
 */
export function keepLeaseAlive(client: EtcdHttp2Client, id: string, ttlSeconds: number, events: KeepAliveEvents): () => void {
  const everyMs = Math.max(500, (ttlSeconds * 1000) / 3);
  const request = grpcFrame(leaseIdRequest(id));
  let stopped = false;
  let current: { write(): void; close(): void } | undefined;
  let timer: NodeJS.Timeout | undefined;

  const stop = (): void => {
    stopped = true;
    clearInterval(timer);
    current?.close();
  };
  let opening = false;
  const trouble = (error: Error): void => {
    if (stopped) return;
    current = undefined;
    // Its member may be gone or leaderless: the next stream goes through the next endpoint.
    client.dropConnection();
    events.onTrouble(error);
  };
  const open = async (): Promise<void> => {
    const answers = keepAliveAnswers((ttl) => {
      if (stopped) return;
      if (ttl > 0) events.onRenewed();
      else {
        stop();
        events.onGone(new Error(`etcd no longer knows lease ${id} (it expired or was revoked)`));
      }
    });
    const { call } = await client.openStream(`${LEASE}LeaseKeepAlive`, answers);
    if (stopped) {
      call.abort(new Error('keep-alive stopped'));
      return;
    }
    current = {
      write: () => {
        if (!call.stream.destroyed) call.stream.write(request);
      },
      close: () => call.abort(new Error('keep-alive stopped')),
    };
    call.done.then(
      () => trouble(new Error('etcd ended the lease keep-alive stream')),
      (error: unknown) => trouble(new Error(`lease keep-alive: ${messageOf(error)}`)),
    );
    current.write();
  };
  const tick = (): void => {
    if (stopped || opening) return;
    if (current) {
      current.write();
      return;
    }
    opening = true;
    open()
      .catch((error: unknown) => trouble(new Error(`lease keep-alive: ${messageOf(error)}`)))
      .finally(() => (opening = false));
  };
  timer = setInterval(tick, everyMs);
  timer.unref();
  tick();
  return stop;
}

/**
 * LeaseKeepAliveResponse { header = 1; ID = 2; TTL = 3 } frames, as they come: each answer's TTL (0, the
 * field left out, when etcd no longer knows the lease).
 */
function keepAliveAnswers(onTtl: (ttl: number) => void): GrpcMessageReader {
  let ttl = 0;
  return new GrpcMessageReader(
    {
      varint: (field, value) => {
        // An int64: a negative one arrives as a 10-byte varint far above 2^53, and means no lease as 0 does.
        if (field === 3) ttl = value > Number.MAX_SAFE_INTEGER ? 0 : value;
      },
      end: () => {
        onTtl(ttl);
        ttl = 0;
      },
    },
    new Set<number>(),
  );
}
