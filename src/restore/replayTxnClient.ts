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
import type { RevisionRecord } from '../journal/records.ts';

/** etcdserverpb.Compare's enums. */
const CompareResult = { Equal: 0, Greater: 1 } as const;
const CompareTarget = { Version: 0, Create: 1 } as const;

/** A protobuf message writer: just what the request needs (varints, length-delimited fields). */
class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  private push(part: Buffer): void {
    this.parts.push(part);
    this.size += part.length;
  }

  /** A varint of a non-negative integer below 2^53 (revisions, versions, lengths). */
  private varint(value: number): void {
    const bytes: number[] = [];
    let v = value;
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    this.push(Buffer.from(bytes));
  }

  /** A varint from a decimal int64 (lease ids use all 64 bits; negative ones as two's complement). */
  private varint64(decimal: string): void {
    let v = BigInt.asUintN(64, BigInt(decimal));
    const bytes: number[] = [];
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.push(Buffer.from(bytes));
  }

  uint(field: number, value: number): this {
    this.varint(field << 3);
    this.varint(value);
    return this;
  }

  int64(field: number, decimal: string): this {
    this.varint(field << 3);
    this.varint64(decimal);
    return this;
  }

  bytes(field: number, value: Buffer): this {
    this.varint((field << 3) | 2);
    this.varint(value.length);
    this.push(value);
    return this;
  }

  message(field: number, inner: ProtoWriter): this {
    this.varint((field << 3) | 2);
    this.varint(inner.size);
    for (const part of inner.parts) this.push(part);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

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

export interface TxnResult {
  readonly succeeded: boolean;
  /** The store's revision after the transaction (header.revision). */
  readonly revision: number;
}

/** Reads a varint at `at`; numbers past 2^53 lose precision, which no field read here reaches. */
function readVarint(buffer: Buffer, at: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  let i = at;
  for (;;) {
    if (i >= buffer.length) throw new Error('truncated varint in the transaction response');
    const byte = buffer[i++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: i };
    scale *= 0x80;
  }
}

/** Walks a message's fields, handing each varint or length-delimited field to `visit`. */
function fields(buffer: Buffer, visit: (field: number, value: number | Buffer) => void): void {
  let at = 0;
  while (at < buffer.length) {
    const tag = readVarint(buffer, at);
    at = tag.next;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (wire === 0) {
      const v = readVarint(buffer, at);
      at = v.next;
      visit(field, v.value);
    } else if (wire === 2) {
      const length = readVarint(buffer, at);
      at = length.next + length.value;
      if (at > buffer.length) throw new Error('truncated field in the transaction response');
      visit(field, buffer.subarray(length.next, at));
    } else if (wire === 1) {
      at += 8;
    } else if (wire === 5) {
      at += 4;
    } else {
      throw new Error(`unexpected protobuf wire type ${wire} in the transaction response`);
    }
  }
}

/** TxnResponse { header = 1 { revision = 3 }, succeeded = 2 }; the responses (3) are not needed. */
export function decodeTxnResponse(message: Buffer): TxnResult {
  let succeeded = false;
  let revision = 0;
  fields(message, (field, value) => {
    if (field === 2 && typeof value === 'number') succeeded = value !== 0;
    if (field === 1 && Buffer.isBuffer(value)) {
      fields(value, (f, v) => {
        if (f === 3 && typeof v === 'number') revision = v;
      });
    }
  });
  return { succeeded, revision };
}

/** gRPC percent-encodes its status message; a malformed one is shown as it came. */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
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
  txn(request: Buffer): Promise<TxnResult> {
    if (this.failure) return Promise.reject(new Error(`connection to the throwaway etcd failed: ${this.failure.message}`));
    return new Promise<TxnResult>((resolve, reject) => {
      const stream = this.session.request({
        ':method': 'POST',
        ':path': '/etcdserverpb.KV/Txn',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message: string | undefined;
      const noteStatus = (headers: http2.IncomingHttpHeaders): void => {
        const s = headers['grpc-status'];
        if (typeof s === 'string') status = s;
        const m = headers['grpc-message'];
        if (typeof m === 'string') message = percentDecoded(m);
      };
      // A gRPC error without a body comes as headers only ("trailers-only"); otherwise in the trailers.
      stream.on('response', noteStatus);
      stream.on('trailers', noteStatus);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      let settled = false;
      stream.on('error', (error: Error) => {
        settled = true;
        reject(new Error(`KV.Txn to the throwaway etcd: ${error.message}`, { cause: error }));
      });
      // A stream reset without an error event (etcd going away) must not leave the replay waiting forever.
      stream.on('close', () => {
        if (!settled) reject(new Error(`KV.Txn to the throwaway etcd: the stream closed without an answer (HTTP/2 code ${stream.rstCode ?? 'none'})`));
      });
      stream.on('end', () => {
        settled = true;
        if (status !== '0') {
          reject(new Error(`etcd refused the transaction (gRPC status ${status ?? 'missing'}): ${message ?? 'no message'}`));
          return;
        }
        const body = Buffer.concat(chunks);
        // One length-prefixed gRPC message: a compressed flag, a 4-byte big-endian length, the bytes.
        if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
          reject(new Error(`unexpected KV.Txn response framing from the throwaway etcd (${body.length} bytes)`));
          return;
        }
        try {
          resolve(decodeTxnResponse(body.subarray(5)));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(request.length, 1);
      stream.end(Buffer.concat([prefix, request]));
    });
  }

  close(): void {
    this.session.close();
  }
}
