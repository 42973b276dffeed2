/**
 * The hand-written encoding and decoding of the journal's etcd messages (src/etcd/watchMessages.ts,
 * leaseMessages.ts, kvMessages.ts) checked against protobufjs
 * reading etcd's own .proto files (the ones etcd3 ships): what we send is the request etcd expects, and
 * every response etcd can send reads back the same, however HTTP/2 splits the body.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { GrpcProtocolError, MessageCollector, grpcFrame } from '../../src/etcd/grpcFrames.ts';
import { countKeyRequest, createIfAbsentTxn, decodeRangeCount, decodeTxnResponse, modRevisionIsTxn } from '../../src/etcd/kvMessages.ts';
import { decodeLeaseGrant, decodeLeaseTimeToLive, leaseGrantRequest, leaseIdRequest } from '../../src/etcd/leaseMessages.ts';
import { WATCH_PROGRESS_REQUEST, WHOLE_KEYSPACE, decodeEvent, watchCreateRequest, watchResponseReader, type WatchResponseMessage } from '../../src/etcd/watchMessages.ts';

const require = createRequire(import.meta.url);
const PROTO = path.join(path.dirname(require.resolve('etcd3/package.json')), 'proto', 'rpc.proto');

/** etcd's message types, as protobufjs reads them from the .proto files etcd3 ships (field names as written). */
let root: protobuf.Root;
const type = (name: string): protobuf.Type => root.lookupType(name);
let WatchRequest: protobuf.Type;
let WatchResponse: protobuf.Type;
let Event: protobuf.Type;

before(async () => {
  root = await new protobuf.Root().load(PROTO, { keepCase: true });
  root.resolveAll();
  WatchRequest = type('etcdserverpb.WatchRequest');
  WatchResponse = type('etcdserverpb.WatchResponse');
  Event = type('mvccpb.Event');
});

/** A WatchResponse as etcd sends it, header first. */
function response(fields: Record<string, unknown>): Buffer {
  const header = { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: fields['revision'] ?? 0, raft_term: 3 };
  return Buffer.from(WatchResponse.encode(WatchResponse.fromObject({ header, watch_id: 0, ...fields })).finish());
}

function put(key: string, value: Buffer, rev: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'Put', kv: { key: Buffer.from(key), value, create_revision: rev, mod_revision: rev, version: 1, ...extra } };
}

/** Reads `body` fed in the given pieces. */
function readAll(pieces: readonly Buffer[]): WatchResponseMessage[] {
  const out: WatchResponseMessage[] = [];
  const reader = watchResponseReader((r) => out.push(r));
  for (const piece of pieces) reader.write(piece);
  reader.finish();
  return out;
}

/** Plain values, so views and copies compare equal. */
function plain(messages: readonly WatchResponseMessage[]): unknown {
  return JSON.parse(JSON.stringify(messages, (_k, v: unknown) => (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('hex') : v)));
}

describe('watch requests', () => {
  it('create: every key ("\\0" to "\\0") from the start revision, no prev_kv, no fragmenting', () => {
    const decoded = WatchRequest.toObject(WatchRequest.decode(watchCreateRequest(WHOLE_KEYSPACE, 2 ** 40 + 5)), { longs: String, bytes: Array }) as {
      create_request: Record<string, unknown>;
    };
    assert.deepEqual(decoded.create_request, { key: [0], range_end: [0], start_revision: String(2 ** 40 + 5) });
  });

  it('create for one key from now: the key alone, no range end, no start revision', () => {
    const decoded = WatchRequest.toObject(WatchRequest.decode(watchCreateRequest({ key: Buffer.from('/etcd-dr/journal-writer/c') })), { longs: String, bytes: String }) as {
      create_request: Record<string, unknown>;
    };
    assert.deepEqual(decoded.create_request, { key: Buffer.from('/etcd-dr/journal-writer/c').toString('base64') });
  });

  it('refuses a start revision below 1', () => {
    assert.throws(() => watchCreateRequest(WHOLE_KEYSPACE, 0), /revision >= 1/);
  });

  it('progress: an empty progress_request', () => {
    const decoded = WatchRequest.decode(WATCH_PROGRESS_REQUEST) as unknown as { progress_request?: object; create_request?: object };
    assert.deepEqual({ ...decoded.progress_request }, {});
    assert.ok(!decoded.create_request, "no create_request");
  });
});

describe('watch responses', () => {
  const value = Buffer.alloc(1500, 'v');
  const lease63 = '7587872458837063001';
  const body = (): Buffer =>
    Buffer.concat([
      grpcFrame(response({ created: true, revision: 10 })),
      grpcFrame(
        response({
          revision: 13,
          events: [
            put('/registry/pods/a', value, 11, { lease: lease63, version: 3, create_revision: 4 }),
            put('/registry/pods/b', Buffer.alloc(0), 11),
            { type: 'Delete', kv: { key: Buffer.from('/registry/pods/c'), mod_revision: 12 } },
            put('/registry/leases/n', Buffer.from('x'), 13, { lease: '-2' }),
          ],
        }),
      ),
      grpcFrame(response({ revision: 13, watch_id: -1 })),
      grpcFrame(response({ revision: 20, compact_revision: 15, canceled: true })),
      grpcFrame(response({ revision: 20, canceled: true, cancel_reason: 'etcdserver: no leader' })),
    ]);
  const expected = [
    { kind: 'created' },
    {
      kind: 'events',
      headerRevision: 13,
      events: [
        { type: 'put', kv: { key: '/registry/pods/a', value, createRevision: 4, modRevision: 11, version: 3, lease: lease63 } },
        { type: 'put', kv: { key: '/registry/pods/b', value: Buffer.alloc(0), createRevision: 11, modRevision: 11, version: 1, lease: '0' } },
        { type: 'delete', kv: { key: '/registry/pods/c', value: Buffer.alloc(0), createRevision: 0, modRevision: 12, version: 0, lease: '0' } },
        { type: 'put', kv: { key: '/registry/leases/n', value: Buffer.from('x'), createRevision: 13, modRevision: 13, version: 1, lease: '-2' } },
      ],
    },
    { kind: 'progress', revision: 13 },
    { kind: 'compacted', compactRevision: 15 },
    { kind: 'canceled', reason: 'etcdserver: no leader' },
  ].map((m) =>
    m.kind === 'events'
      ? { ...m, events: (m.events as { type: string; kv: { key: string } & Record<string, unknown> }[]).map((e) => ({ ...e, kv: { ...e.kv, key: Buffer.from(e.kv.key) } })) }
      : m,
  );

  it('reads created, events (64-bit and negative lease ids, empty values, deletes), progress, compaction and cancellation', () => {
    assert.deepEqual(plain(readAll([body()])), plain(expected as WatchResponseMessage[]));
  });

  it('reads the same whatever the chunk boundaries: split at every byte', () => {
    const whole = body();
    const want = JSON.stringify(plain(expected as WatchResponseMessage[]));
    for (let at = 1; at < whole.length; at++) {
      assert.equal(JSON.stringify(plain(readAll([whole.subarray(0, at), whole.subarray(at)]))), want, `split at ${at}`);
    }
  });

  it('hands the values of an event received in one chunk as views of it, not copies', () => {
    const whole = body();
    const [, events] = readAll([whole]);
    assert.equal(events?.kind, 'events');
    if (events?.kind === 'events') assert.equal(events.events[0]!.kv.value.buffer, whole.buffer);
  });

  it('refuses an event without a key or a revision, and a fragmented response it never asked for', () => {
    assert.throws(() => decodeEvent(Buffer.from(Event.encode(Event.fromObject({ type: 'Put', kv: { value: Buffer.from('x') } })).finish())), GrpcProtocolError);
    assert.throws(() => readAll([grpcFrame(response({ revision: 3, fragment: true, events: [put('/k', value, 3)] }))]), /fragmented/);
  });

  it('refuses a truncated event: a value that runs past its message', () => {
    const event = Buffer.from(Event.encode(Event.fromObject(put('/k', value, 3))).finish());
    assert.throws(() => decodeEvent(event.subarray(0, event.length - 10)), GrpcProtocolError);
  });
});

describe('LeaseTimeToLive messages', () => {
  const Request = (): protobuf.Type => type('etcdserverpb.LeaseTimeToLiveRequest');
  const Answer = (): protobuf.Type => type('etcdserverpb.LeaseTimeToLiveResponse');

  it('asks for a lease id of all 63 bits, exactly', () => {
    const decoded = Request().toObject(Request().decode(leaseIdRequest('7587872458837063001')), { longs: String }) as { ID: string };
    assert.equal(decoded.ID, '7587872458837063001');
  });

  it('reads the remaining and granted TTL, and -1 for a lease etcd no longer knows', () => {
    const answer = (fields: Record<string, unknown>): Buffer =>
      Buffer.from(Answer().encode(Answer().fromObject({ header: { revision: 9 }, ID: '7587872458837063001', ...fields })).finish());
    assert.deepEqual(decodeLeaseTimeToLive(answer({ TTL: 28, grantedTTL: 30 })), { ttl: 28, grantedTtl: 30 });
    assert.deepEqual(decodeLeaseTimeToLive(answer({ TTL: -1 })), { ttl: -1, grantedTtl: 0 });
  });

  it('refuses an id that is not a decimal integer', () => {
    assert.throws(() => leaseIdRequest('12ab'), /not a decimal integer/);
  });
});

describe('MessageCollector', () => {
  it('keeps each message of a body whole, however it was split, and refuses a body cut inside one', () => {
    const body = Buffer.concat([grpcFrame(Buffer.from('first')), grpcFrame(Buffer.alloc(0)), grpcFrame(Buffer.from('third'))]);
    for (let at = 0; at <= body.length; at++) {
      const collector = new MessageCollector();
      collector.write(body.subarray(0, at));
      collector.write(body.subarray(at));
      collector.finish();
      assert.deepEqual(collector.messages.map((m) => m.toString()), ['first', '', 'third']);
    }
    const cut = new MessageCollector();
    cut.write(body.subarray(0, body.length - 2));
    assert.throws(() => cut.finish(), GrpcProtocolError);
  });
});

describe('the writer lock messages', () => {
  const Txn = (): protobuf.Type => type('etcdserverpb.TxnRequest');
  const TxnAnswer = (): protobuf.Type => type('etcdserverpb.TxnResponse');
  const Range = (): protobuf.Type => type('etcdserverpb.RangeRequest');
  const RangeAnswer = (): protobuf.Type => type('etcdserverpb.RangeResponse');
  const Grant = (): protobuf.Type => type('etcdserverpb.LeaseGrantRequest');
  const GrantAnswer = (): protobuf.Type => type('etcdserverpb.LeaseGrantResponse');
  const key = Buffer.from('/etcd-dr/journal-writer/prod');
  const asObject = (type: protobuf.Type, bytes: Buffer): unknown => type.toObject(type.decode(bytes), { longs: String, enums: String, bytes: String, defaults: false });

  it('take: if the key was never created, put it on the lease', () => {
    assert.deepEqual(asObject(Txn(), createIfAbsentTxn(key, Buffer.from('{"holder":"n1"}'), '7587872458837063001')), {
      compare: [{ result: 'Equal', target: 'Create', key: key.toString('base64'), create_revision: '0' }],
      success: [{ request_put: { key: key.toString('base64'), value: Buffer.from('{"holder":"n1"}').toString('base64'), lease: '7587872458837063001' } }],
    });
  });

  it('confirm: the key still carries our mod revision', () => {
    assert.deepEqual(asObject(Txn(), modRevisionIsTxn(key, 714)), { compare: [{ result: 'Equal', target: 'Mod', key: key.toString('base64'), mod_revision: '714' }] });
  });

  it("reads a transaction's outcome and revision, and a range's count", () => {
    const txn = Buffer.from(TxnAnswer().encode(TxnAnswer().fromObject({ header: { revision: 715, member_id: '10276657743932975437' }, succeeded: true })).finish());
    assert.deepEqual(decodeTxnResponse(txn), { succeeded: true, revision: 715 });
    assert.deepEqual(decodeTxnResponse(Buffer.from(TxnAnswer().encode(TxnAnswer().fromObject({ header: { revision: 716 } })).finish())), { succeeded: false, revision: 716 });
    assert.deepEqual(asObject(Range(), countKeyRequest(key)), { key: key.toString('base64'), count_only: true });
    assert.equal(decodeRangeCount(Buffer.from(RangeAnswer().encode(RangeAnswer().fromObject({ header: { revision: 3 }, count: 1 })).finish())), 1);
    assert.equal(decodeRangeCount(Buffer.from(RangeAnswer().encode(RangeAnswer().fromObject({ header: { revision: 3 } })).finish())), 0);
  });

  it("grant: asks for the TTL, reads the id etcd picked, and etcd's error", () => {
    assert.deepEqual(asObject(Grant(), leaseGrantRequest(15)), { TTL: '15' });
    const answer = (fields: Record<string, unknown>): Buffer => Buffer.from(GrantAnswer().encode(GrantAnswer().fromObject({ header: { revision: 3 }, ...fields })).finish());
    assert.deepEqual(decodeLeaseGrant(answer({ ID: '7587872458837063001', TTL: 15 })), { id: '7587872458837063001', ttl: 15, error: '' });
    assert.deepEqual(decodeLeaseGrant(answer({ error: 'etcdserver: too many requests' })), { id: '0', ttl: 0, error: 'etcdserver: too many requests' });
    assert.throws(() => leaseGrantRequest(0), /TTL/);
  });
});
