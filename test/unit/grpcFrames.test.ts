import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  GrpcMessageReader,
  GrpcProtocolError,
  GrpcStatusError,
  authenticateRequest,
  decodeGrpcMessage,
  encodeVarint,
  grpcFrame,
  snapshotBlobReader,
} from '../../src/etcd/grpcFrames.ts';

const tag = (field: number, wireType: number): Buffer => encodeVarint(field * 8 + wireType);
const varintField = (field: number, value: number): Buffer => Buffer.concat([tag(field, 0), encodeVarint(value)]);
const bytesField = (field: number, value: Buffer): Buffer => Buffer.concat([tag(field, 2), encodeVarint(value.length), value]);

/** A ResponseHeader like etcd's: cluster_id, member_id (64-bit, so 10-byte varints), revision, raft_term. */
function responseHeader(): Buffer {
  return Buffer.concat([varintField(1, 2 ** 53 - 1), varintField(2, 2 ** 52 + 7), varintField(3, 12345), varintField(4, 3)]);
}

/** SnapshotResponse as etcd encodes it, in field order; `version` only from 3.6. */
function snapshotResponse(blob: Buffer, remaining: number, version?: string): Buffer {
  return Buffer.concat([
    bytesField(1, responseHeader()),
    ...(remaining > 0 ? [varintField(2, remaining)] : []),
    ...(blob.length > 0 ? [bytesField(3, blob)] : []),
    ...(version !== undefined ? [bytesField(4, Buffer.from(version))] : []),
  ]);
}

/** Three frames: two data chunks (the second with a multi-byte remaining_bytes varint) and the sha trailer. */
function snapshotBody(): { body: Buffer; blobs: Buffer } {
  const blobs = [randomBytes(300), randomBytes(1000), randomBytes(32)];
  const body = Buffer.concat([
    grpcFrame(snapshotResponse(blobs[0] ?? Buffer.alloc(0), 2 ** 40, '3.6.0')),
    grpcFrame(snapshotResponse(blobs[1] ?? Buffer.alloc(0), 32)),
    grpcFrame(snapshotResponse(blobs[2] ?? Buffer.alloc(0), 0)),
  ]);
  return { body, blobs: Buffer.concat(blobs) };
}

/** Feeds `chunks` to a snapshot reader; returns the blob bytes and the message count. */
function readBlobs(chunks: readonly Buffer[]): { data: Buffer; pieces: Buffer[]; messages: number } {
  const pieces: Buffer[] = [];
  const reader = snapshotBlobReader((piece) => pieces.push(piece));
  for (const chunk of chunks) reader.write(chunk);
  reader.finish();
  return { data: Buffer.concat(pieces), pieces, messages: reader.messageCount };
}

function splitAt(buffer: Buffer, ...offsets: number[]): Buffer[] {
  const points = [0, ...offsets, buffer.length];
  return points.slice(1).map((end, i) => buffer.subarray(points[i], end));
}

describe('GrpcMessageReader', () => {
  it('reads several frames from one chunk and hands out views of it, not copies', () => {
    const { body, blobs } = snapshotBody();
    const { data, pieces, messages } = readBlobs([body]);
    assert.ok(data.equals(blobs));
    assert.equal(messages, 3);
    assert.equal(pieces.length, 3);
    for (const piece of pieces) assert.equal(piece.buffer, body.buffer, 'a blob inside one chunk is a subarray of it');
  });

  it('gives the same bytes for a split at every offset (frame header, varints, blob, skipped fields)', () => {
    const { body, blobs } = snapshotBody();
    for (let at = 1; at < body.length; at++) {
      const { data, messages } = readBlobs(splitAt(body, at));
      assert.ok(data.equals(blobs), `split at ${at}`);
      assert.equal(messages, 3, `split at ${at}`);
    }
  });

  it('splits inside each structure explicitly', () => {
    const { body, blobs } = snapshotBody();
    const first = snapshotResponse(blobs.subarray(0, 300), 2 ** 40, '3.6.0');
    const headerLength = 2 + responseHeader().length;
    const cases: Record<string, number> = {
      'frame header after its flag': 1,
      'frame header inside its length': 3,
      'inside the nested response header': 5 + 4,
      'inside the remaining_bytes varint': 5 + headerLength + 3,
      'inside the blob length varint': 5 + headerLength + 1 + encodeVarint(2 ** 40).length + 2,
      'inside the blob': 5 + first.length - 100,
      'inside the skipped version string': 5 + first.length - 2,
      'between frames': 5 + first.length,
    };
    for (const [name, at] of Object.entries(cases)) {
      assert.ok(readBlobs(splitAt(body, at)).data.equals(blobs), name);
    }
  });

  it('reads one byte at a time and in random chunks', () => {
    const { body, blobs } = snapshotBody();
    const bytes = [...body].map((b) => Buffer.from([b]));
    assert.ok(readBlobs(bytes).data.equals(blobs));
    for (let round = 0; round < 50; round++) {
      const offsets = [...new Set(Array.from({ length: 8 }, () => 1 + Math.floor(Math.random() * (body.length - 1))))].sort((a, b) => a - b);
      assert.ok(readBlobs(splitAt(body, ...offsets)).data.equals(blobs), `offsets ${offsets.join(',')}`);
    }
  });

  it('skips unknown fields of every wire type and hands varints to the handler', () => {
    const fixed32 = Buffer.concat([tag(9, 5), Buffer.from([1, 2, 3, 4])]);
    const fixed64 = Buffer.concat([tag(10, 1), Buffer.alloc(8, 0xff)]);
    const message = Buffer.concat([fixed32, varintField(11, 300), bytesField(12, Buffer.from('ignored')), fixed64, bytesField(3, Buffer.from('blob')), bytesField(1000, Buffer.alloc(70))]);
    const body = Buffer.concat([grpcFrame(message), grpcFrame(Buffer.alloc(0)), grpcFrame(message)]);
    const seen: Array<[number, number]> = [];
    const pieces: Buffer[] = [];
    const reader = new GrpcMessageReader({ bytes: (_f, p) => pieces.push(p), varint: (f, v) => seen.push([f, v]) }, new Set([3]));
    for (let at = 0; at < body.length; at += 7) reader.write(body.subarray(at, at + 7));
    reader.finish();
    assert.equal(Buffer.concat(pieces).toString(), 'blobblob');
    assert.deepEqual(seen, [
      [11, 300],
      [11, 300],
    ]);
    assert.equal(reader.messageCount, 3, 'an empty message counts too');
  });

  it('rejects malformed input instead of misreading it', () => {
    const reject = (body: Buffer, pattern: RegExp): void =>
      assert.throws(() => {
        const reader = snapshotBlobReader(() => undefined);
        reader.write(body);
        reader.finish();
      }, (error: unknown) => error instanceof GrpcProtocolError && pattern.test(error.message));
    const compressed = grpcFrame(bytesField(3, Buffer.from('x')));
    compressed[0] = 1;
    reject(compressed, /compressed/);
    reject(grpcFrame(Buffer.concat([tag(3, 2), encodeVarint(50), Buffer.alloc(10)])), /50 bytes but its message has 10 left/);
    reject(grpcFrame(Buffer.concat([tag(3, 3), Buffer.from([0])])), /wire type 3/);
    reject(grpcFrame(Buffer.concat([tag(2, 0), Buffer.alloc(10, 0xff), Buffer.from([1])])), /64 bits/);
    reject(grpcFrame(tag(2, 0)), /tag but no value/);
    reject(grpcFrame(bytesField(3, Buffer.alloc(100))).subarray(0, 50), /ended inside a gRPC message \(/);
    reject(grpcFrame(bytesField(3, Buffer.alloc(100))).subarray(0, 3), /in its header/);
  });
});

describe('gRPC helpers', () => {
  it('frames a message with a zero flag and a big-endian length', () => {
    assert.deepEqual([...grpcFrame(Buffer.from('abc'))], [0, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
    assert.deepEqual([...grpcFrame(Buffer.alloc(0))], [0, 0, 0, 0, 0]);
  });

  it('encodes AuthenticateRequest as protoc does', () => {
    assert.equal(authenticateRequest('root', 'pw').toString('hex'), '0a04726f6f7412027077');
    const long = 'p'.repeat(200);
    assert.ok(authenticateRequest('u', long).subarray(3, 6).equals(Buffer.from([0x12, 0xc8, 0x01])), 'multi-byte length varint');
  });

  it('percent-decodes grpc-message leniently', () => {
    assert.equal(decodeGrpcMessage('etcdserver: user name is empty'), 'etcdserver: user name is empty');
    assert.equal(decodeGrpcMessage('caf%C3%A9 100%25 %zz'), 'café 100% %zz');
    const error = new GrpcStatusError(3, 'etcdserver: authentication failed, invalid user ID or password');
    assert.equal(error.message, 'gRPC status INVALID_ARGUMENT (3): etcdserver: authentication failed, invalid user ID or password');
    assert.equal(new GrpcStatusError(99, '').message, 'gRPC status code (99)');
  });
});
