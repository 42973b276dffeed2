/**
 * KV requests in protobuf wire format: the transactions of the journal's writer lock and of a replay, and a
 * count of the keys in a range. Pure.
 */
import { ProtoWriter, WIRE_LENGTH_DELIMITED, WIRE_VARINT, forEachField, varintField } from './protoFields.ts';

/** etcdserverpb.Compare's enums. */
export const CompareResult = { Equal: 0, Greater: 1 } as const;
export const CompareTarget = { Version: 0, Create: 1, Mod: 2 } as const;

export interface TxnResult {
  readonly succeeded: boolean;
  /** The store's revision after the transaction (header.revision). */
  readonly revision: number;
}

/**
 * TxnRequest: if `key` does not exist (create_revision == 0), put it with `value` on `lease`. The oneof
 * target value is written even when 0, so etcd sees which one is meant.
 */
export function createIfAbsentTxn(key: Buffer, value: Buffer, lease: string): Buffer {
  // Compare { result = 1, target = 2, key = 3, create_revision = 5 }; RequestOp { request_put = 2 }
  // PutRequest { key = 1, value = 2, lease = 3 }; TxnRequest { compare = 1, success = 2 }
  const put = new ProtoWriter().bytes(1, key).bytes(2, value).int64(3, lease);
  return new ProtoWriter()
    .message(1, new ProtoWriter().uint(1, CompareResult.Equal).uint(2, CompareTarget.Create).bytes(3, key).uint(5, 0))
    .message(2, new ProtoWriter().message(2, put))
    .finish();
}

/** TxnRequest with no operations: succeeds when `key`'s mod_revision (Compare field 6) is `modRevision`. */
export function modRevisionIsTxn(key: Buffer, modRevision: number): Buffer {
  return new ProtoWriter().message(1, new ProtoWriter().uint(1, CompareResult.Equal).uint(2, CompareTarget.Mod).bytes(3, key).uint(6, modRevision)).finish();
}

/** TxnResponse { header = 1 { revision = 3 }, succeeded = 2 }; the responses (3) are not needed. */
export function decodeTxnResponse(message: Buffer): TxnResult {
  let succeeded = false;
  let revision = 0;
  forEachField(message, (c, field, wireType) => {
    if (field === 2 && wireType === WIRE_VARINT) succeeded = c.varint() !== 0;
    else if (field === 1 && wireType === WIRE_LENGTH_DELIMITED) revision = headerRevision(c.bytes());
    else c.skip(wireType, field);
  });
  return { succeeded, revision };
}

/** RangeRequest { key = 1, count_only = 9 }: how many keys equal `key` (0 or 1), without their values. */
export function countKeyRequest(key: Buffer): Buffer {
  return new ProtoWriter().bytes(1, key).uint(9, 1).finish();
}

/** RangeResponse { header = 1, kvs = 2, more = 3, count = 4 }: the count. */
export function decodeRangeCount(message: Buffer): number {
  return varintField(message, 4);
}

/** ResponseHeader { cluster_id = 1, member_id = 2, revision = 3, raft_term = 4 }: the revision. */
export function headerRevision(header: Buffer): number {
  return varintField(header, 3);
}
