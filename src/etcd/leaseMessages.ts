/**
 * Lease requests and answers in protobuf wire format: grant, revoke and keep-alive for the journal's writer
 * lock, and LeaseTimeToLive for every lease the journal meets (a Kubernetes-like load brings new ones all the
 * time). Pure.
 */
import { ProtoWriter, WIRE_LENGTH_DELIMITED, WIRE_VARINT, forEachField } from './protoFields.ts';

/** LeaseGrantRequest { TTL = 1; ID = 2 (0: etcd picks) }. */
export function leaseGrantRequest(ttlSeconds: number): Buffer {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw new RangeError(`a lease TTL is a whole number of seconds >= 1, not ${ttlSeconds}`);
  return new ProtoWriter().uint(1, ttlSeconds).finish();
}

/** LeaseGrantResponse { header = 1; ID = 2; TTL = 3; error = 4 }. */
export function decodeLeaseGrant(message: Buffer): { readonly id: string; readonly ttl: number; readonly error: string } {
  let id = '0';
  let ttl = 0;
  let error = '';
  forEachField(message, (c, field, wireType) => {
    if (field === 2 && wireType === WIRE_VARINT) id = c.int64();
    else if (field === 3 && wireType === WIRE_VARINT) ttl = Number(c.int64());
    else if (field === 4 && wireType === WIRE_LENGTH_DELIMITED) error = c.bytes().toString('utf8');
    else c.skip(wireType, field);
  });
  return { id, ttl, error };
}

/** LeaseRevokeRequest, LeaseKeepAliveRequest and LeaseTimeToLiveRequest (keys not asked): { ID = 1 }. */
export function leaseIdRequest(id: string): Buffer {
  return new ProtoWriter().int64(1, id).finish();
}

export interface LeaseTimeToLive {
  /** Seconds left; -1 when etcd no longer knows the lease (it expired or was revoked). */
  readonly ttl: number;
  /** The TTL the lease was granted with (0 when etcd no longer knows it). */
  readonly grantedTtl: number;
}

/** LeaseTimeToLiveResponse { header = 1; ID = 2; TTL = 3 (int64); grantedTTL = 4 (int64); keys = 5 }. */
export function decodeLeaseTimeToLive(message: Buffer): LeaseTimeToLive {
  let ttl = 0;
  let grantedTtl = 0;
  forEachField(message, (c, field, wireType) => {
    if (field === 3 && wireType === WIRE_VARINT) ttl = Number(c.int64());
    else if (field === 4 && wireType === WIRE_VARINT) grantedTtl = Number(c.int64());
    else c.skip(wireType, field);
  });
  return { ttl, grantedTtl };
}
