/**
 * KV.Txn for the replay, written straight onto one HTTP/2 connection to the throwaway etcd.
 *
 * Why not the etcd3 client: a replay sends one transaction per source revision, one at a time (etcd does not
 * order concurrent requests, and a revision must land as exactly the next one). Measured on 5,400 revisions
 * (bench/pitr.ts's mix), the etcd3 client spent ~0.55 ms of CPU per transaction (its retry/circuit-breaker
 * policies, grpc-js's call stack, reflective protobuf encoding and toObject of the response) while etcd
 * spent less than that applying it, and neither can work while the other does. Here a transaction is
 * encoded by hand from the journal's record (five message types, a few fields each) and only the two
 * fields the replay reads are decoded from the response (succeeded, header.revision).
 *
 * Scope: a loopback etcd this process started, plain HTTP/2 (no TLS, no auth), one request at a time. Any
 * gRPC status other than OK becomes an error carrying etcd's message.
 */
import http2 from 'node:http2';
import { withContext } from '../errors.ts';
import { GrpcStatusError, MessageCollector } from '../etcd/grpcFrames.ts';
import { grpcCall } from '../etcd/http2Session.ts';
import { CompareResult, CompareTarget, decodeTxnResponse, type TxnResult } from '../etcd/kvMessages.ts';
import { ProtoWriter } from '../etcd/protoFields.ts';
import type { RevisionRecord } from '../journal/records.ts';


/**
 * etcdserverpb.TxnRequest for one source revision: each put compares the key's version with the one before
 * it (0: absent) and, for an update, its create revision; each delete needs the key to exist. The oneof
 * target value is always written, 0 included, so etcd sees which one is meant.
 */
export function encodeRevisionTxn(record: RevisionRecord): Buffer {
  const txn = new ProtoWriter();
  const ops: ProtoWriter[] = [];
  for (const event of record.events) {
    const key = Buffer.from(event.key, 'base64');
    if (event.type === 'put') {
      // Compare { result = 1, target = 2, key = 3, version = 4 | create_revision = 5 }
      txn.message(1, new ProtoWriter().uint(1, CompareResult.Equal).uint(2, CompareTarget.Version).bytes(3, key).uint(4, event.version - 1));
      if (event.version > 1) {
        txn.message(1, new ProtoWriter().uint(1, CompareResult.Equal).uint(2, CompareTarget.Create).bytes(3, key).uint(5, event.createRevision));
      }
      // RequestOp { request_put = 2 } PutRequest { key = 1, value = 2, lease = 3 }
      const put = new ProtoWriter().bytes(1, key).bytes(2, Buffer.from(event.value, 'base64'));
      if (event.lease !== '0') put.int64(3, event.lease);
      ops.push(new ProtoWriter().message(2, put));
    } else {
      txn.message(1, new ProtoWriter().uint(1, CompareResult.Greater).uint(2, CompareTarget.Version).bytes(3, key).uint(4, 0));
      // RequestOp { request_delete_range = 3 } DeleteRangeRequest { key = 1 }
      ops.push(new ProtoWriter().message(3, new ProtoWriter().bytes(1, key)));
    }
  }
  // TxnRequest { compare = 1, success = 2 }
  for (const op of ops) txn.message(2, op);
  return txn.finish();
}

/** One HTTP/2 connection to a throwaway etcd, for KV.Txn calls made one after another. */
export class ReplayTxnClient {
  private readonly session: http2.ClientHttp2Session;
  private failure: Error | undefined;

  constructor(clientUrl: string) {
    // A revision's request can be tens of MiB (the throwaway etcd's limit is raised to fit): node's default
    // 10 MiB of session memory would refuse it.
    this.session = http2.connect(clientUrl, { maxSessionMemory: 1024 });
    this.session.on('error', (error: Error) => (this.failure = error));
  }

  /** Sends one transaction and waits for etcd's answer. */
  async txn(request: Buffer): Promise<TxnResult> {
    if (this.failure) throw new Error(`connection to the throwaway etcd failed: ${this.failure.message}`);
    const answers = new MessageCollector();
    try {
      // A stream reset without an answer (etcd going away) rejects too: the replay never waits forever.
      await grpcCall(this.session, '/etcdserverpb.KV/Txn', request, undefined, answers).done;
    } catch (error) {
      if (error instanceof GrpcStatusError) throw new Error(`etcd refused the transaction (${error.message})`);
      throw withContext('KV.Txn to the throwaway etcd', error);
    }
    const [answer, ...more] = answers.messages;
    if (answer === undefined || more.length > 0) throw new Error(`KV.Txn to the throwaway etcd: ${answers.messages.length} answers to one transaction`);
    return decodeTxnResponse(answer);
  }

  close(): void {
    this.session.close();
  }
}
