/**
 * etcd's Watch messages in protobuf wire format: the two requests we send (create, progress) and a reader
 * that turns the response stream into plain values.
 *
 * Why by hand: through etcd3 -> grpc-js -> protobufjs each response became an object tree (toObject, a
 * Buffer copy per field, Long for every int64) and the journal's follower spent ~40% of its CPU there at a
 * Kubernetes-like load. Here each event is decoded once from the received bytes, and only the fields the
 * journal records are read.
 *
 * Pure: no I/O, so the decoding is unit-tested against protobufjs's encoding of etcd's own .proto files,
 * across every chunk boundary.
 */
import { GrpcMessageReader, GrpcProtocolError } from './grpcFrames.ts';
import { headerRevision } from './kvMessages.ts';
import { ProtoWriter, WIRE_LENGTH_DELIMITED, WIRE_VARINT, forEachField } from './protoFields.ts';

const ALL_KEYS = Buffer.from([0]);

/** mvccpb.KeyValue, as the journal needs it. */
export interface WatchedKeyValue {
  readonly key: Buffer;
  /** Empty for a delete. */
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** The lease id as etcd's int64, in decimal ("0": no lease). */
  readonly lease: string;
}

export interface WatchedEvent {
  readonly type: 'put' | 'delete';
  readonly kv: WatchedKeyValue;
}

/** One WatchResponse, by what it means for a client that watches one range. */
export type WatchResponseMessage =
  | { readonly kind: 'created' }
  /** Whole revisions, in order (etcd never splits a revision across responses unless asked to fragment). */
  | { readonly kind: 'events'; readonly headerRevision: number; readonly events: readonly WatchedEvent[] }
  /** No events: everything up to `revision` has been sent on this stream. */
  | { readonly kind: 'progress'; readonly revision: number }
  /** The start revision was compacted: events before `compactRevision` are gone (the watch is over). */
  | { readonly kind: 'compacted'; readonly compactRevision: number }
  | { readonly kind: 'canceled'; readonly reason: string };

/** What a watch covers: one key, or the range [key, rangeEnd) (etcd's conventions for "\0"). */
export interface WatchRange {
  readonly key: Buffer;
  readonly rangeEnd?: Buffer;
}

/** Every key: key "\0", range_end "\0" (etcd's `--prefix ""` / `--from-key ""`). */
export const WHOLE_KEYSPACE: WatchRange = { key: ALL_KEYS, rangeEnd: ALL_KEYS };

/**
 * WatchRequest { create_request = 1: WatchCreateRequest { key = 1, range_end = 2, start_revision = 3 } },
 * without prev_kv, filters or fragmenting; from `startRevision`, or from now when it is left out.
 */
export function watchCreateRequest(range: WatchRange, startRevision?: number): Buffer {
  if (startRevision !== undefined && (!Number.isSafeInteger(startRevision) || startRevision < 1)) {
    throw new RangeError(`a watch starts at a revision >= 1, not ${startRevision}`);
  }
  const create = new ProtoWriter().bytes(1, range.key);
  if (range.rangeEnd) create.bytes(2, range.rangeEnd);
  if (startRevision !== undefined) create.uint(3, startRevision);
  return new ProtoWriter().message(1, create).finish();
}

/** WatchRequest { progress_request = 3: WatchProgressRequest {} } (etcd 3.4+). */
export const WATCH_PROGRESS_REQUEST: Buffer = new ProtoWriter().message(3, new ProtoWriter()).finish();

/** WatchResponse fields. */
const Response = { Header: 1, Created: 3, Canceled: 4, CompactRevision: 5, CancelReason: 6, Fragment: 7, Events: 11 } as const;
/** mvccpb.Event fields, and its type enum. */
const EVENT_TYPE = 1;
const EVENT_KV = 2;
const EVENT_DELETE = 1;
/** mvccpb.KeyValue fields. */
const Kv = { Key: 1, CreateRevision: 2, ModRevision: 3, Version: 4, Value: 5, Lease: 6 } as const;

const NO_BYTES: Buffer = Buffer.alloc(0);

function decodeKeyValue(bytes: Buffer): WatchedKeyValue {
  let key: Buffer = NO_BYTES;
  let value: Buffer = NO_BYTES;
  let createRevision = 0;
  let modRevision = 0;
  let version = 0;
  let lease = '0';
  forEachField(bytes, (c, field, wireType) => {
    if (wireType === WIRE_LENGTH_DELIMITED && field === Kv.Key) key = c.bytes();
    else if (wireType === WIRE_LENGTH_DELIMITED && field === Kv.Value) value = c.bytes();
    else if (wireType === WIRE_VARINT && field === Kv.CreateRevision) createRevision = c.varint();
    else if (wireType === WIRE_VARINT && field === Kv.ModRevision) modRevision = c.varint();
    else if (wireType === WIRE_VARINT && field === Kv.Version) version = c.varint();
    else if (wireType === WIRE_VARINT && field === Kv.Lease) lease = c.int64();
    else c.skip(wireType, field);
  });
  return { key, value, createRevision, modRevision, version, lease };
}

/** One mvccpb.Event; its key and value are views of `bytes`. */
export function decodeEvent(bytes: Buffer): WatchedEvent {
  let type: 'put' | 'delete' = 'put';
  let kv: WatchedKeyValue | undefined;
  forEachField(bytes, (c, field, wireType) => {
    if (field === EVENT_TYPE && wireType === WIRE_VARINT) type = c.varint() === EVENT_DELETE ? 'delete' : 'put';
    else if (field === EVENT_KV && wireType === WIRE_LENGTH_DELIMITED) kv = decodeKeyValue(c.bytes());
    else c.skip(wireType, field);
  });
  if (!kv || kv.key.length === 0 || kv.modRevision < 1) throw new GrpcProtocolError('a watch event without a key or a revision');
  return { type, kv };
}

/**
 * A reader for the Watch response stream: feed it the HTTP/2 body chunks, get one WatchResponseMessage per
 * response. Events are decoded as each arrives, so a long response (a journal catching up) is never held
 * whole; only the event being received is, when it spans chunks.
 */
export function watchResponseReader(onResponse: (response: WatchResponseMessage) => void): GrpcMessageReader {
  let pieces: Buffer[] = [];
  let events: WatchedEvent[] = [];
  let revision = 0;
  let created = false;
  let canceled = false;
  let compactRevision = 0;
  let reason = '';
  const take = (): Buffer => {
    const whole = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    pieces = [];
    return whole;
  };
  return new GrpcMessageReader(
    {
      bytes: (_field, piece) => pieces.push(piece),
      fieldEnd: (field) => {
        const value = take();
        if (field === Response.Events) events.push(decodeEvent(value));
        else if (field === Response.Header) revision = headerRevision(value);
        else if (field === Response.CancelReason) reason = value.toString('utf8');
      },
      varint: (field, value) => {
        if (field === Response.Created) created = value !== 0;
        else if (field === Response.Canceled) canceled = value !== 0;
        else if (field === Response.CompactRevision) compactRevision = value;
        else if (field === Response.Fragment && value !== 0) throw new GrpcProtocolError('a fragmented watch response, although none was asked for');
      },
      end: () => {
        const response: WatchResponseMessage =
          compactRevision > 0
            ? { kind: 'compacted', compactRevision }
            : canceled
              ? { kind: 'canceled', reason }
              : created
                ? { kind: 'created' }
                : events.length === 0
                  ? { kind: 'progress', revision }
                  : { kind: 'events', headerRevision: revision, events };
        events = [];
        revision = 0;
        created = false;
        canceled = false;
        compactRevision = 0;
        reason = '';
        onResponse(response);
      },
    },
    new Set([Response.Header, Response.CancelReason, Response.Events]),
  );
}
