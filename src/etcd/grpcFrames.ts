/**
 * Just enough gRPC-over-HTTP/2 framing and protobuf wire format to stream etcd's Maintenance.Snapshot
 * (and call Auth.Authenticate) without grpc-js and protobufjs. Their per-message cost (object decoding,
 * a Buffer copy per field, promise/event machinery per 32 KiB chunk) made the generic client use twice
 * the CPU of etcdctl; here the blob bytes are handed on as views of the buffers HTTP/2 received.
 *
 * Pure: no I/O, so the parser is unit-tested across every chunk boundary.
 */

/** The response bytes are not the gRPC/protobuf we expect (or the stream stopped inside a message). */
export class GrpcProtocolError extends Error {
  override readonly name = 'GrpcProtocolError';
}

/** Receives the fields of each message as the reader decodes them. */
export interface MessageHandler {
  /**
   * A piece of a wanted length-delimited field, in order. A value that lies within one received chunk
   * arrives whole, as a view of that chunk (no copy); one that spans chunks arrives in several pieces.
   * Empty values produce no call.
   */
  bytes?(field: number, piece: Buffer): void;
  /**
   * A wanted length-delimited field is complete (after its last piece; also for an empty value): a caller
   * that decodes a nested message (a watch event) knows where one ends and the next begins.
   */
  fieldEnd?(field: number): void;
  /** A varint field (precise up to 2^53, which covers every count etcd sends). */
  varint?(field: number, value: number): void;
  /** A whole message has been read. */
  end?(): void;
}

/** gRPC frame header: 1 byte compressed flag + 4 bytes big-endian message length. */
const FRAME_HEADER_SIZE = 5;
/** A varint never takes more than 10 bytes (64 bits in 7-bit groups). */
const MAX_VARINT_BYTES = 10;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** Where the reader is: parsing state survives chunk boundaries at any byte. */
const State = { FrameHeader: 0, Tag: 1, VarintValue: 2, Length: 3, Deliver: 4, Skip: 5 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * Reads a stream of gRPC length-prefixed messages (the body of a gRPC response) and decodes each as a
 * flat protobuf message, incrementally: `write` takes chunks split anywhere. Length-delimited fields in
 * `wanted` go to the handler as pieces; every other field (nested headers, fields added by newer etcd
 * versions) is skipped without being buffered. Nothing is ever accumulated, so memory does not depend
 * on message size.
 *
 * Protobuf says a repeated scalar field's last value wins; a streaming reader cannot know a field is
 * not repeated until the message ends, so each occurrence is delivered. etcd sends each field once.
 */
export class GrpcMessageReader implements ResponseBodyReader {
  private state: State = State.FrameHeader;
  /** Frame header bytes collected so far, when a header is split across chunks. */
  private readonly header = Buffer.alloc(FRAME_HEADER_SIZE);
  private headerFilled = 0;
  /** Bytes of the current message not yet consumed. */
  private messageLeft = 0;
  /** Bytes of the current Deliver/Skip run not yet consumed. */
  private runLeft = 0;
  private field = 0;
  private varintValue = 0;
  private varintBytes = 0;
  private messages = 0;

  constructor(
    private readonly handler: MessageHandler,
    private readonly wanted: ReadonlySet<number>,
  ) {}

  /** Messages fully read so far. */
  get messageCount(): number {
    return this.messages;
  }

  /** Consumes one chunk of the response body. Throws GrpcProtocolError on malformed input. */
  write(chunk: Buffer): void {
    let at = 0;
    const length = chunk.length;
    while (at < length) {
      switch (this.state) {
        case State.FrameHeader: {
          if (this.headerFilled === 0 && length - at >= FRAME_HEADER_SIZE) {
            // Common case: the whole header is in this chunk; read it in place.
            this.startMessage(chunk[at] ?? 0, chunk.readUInt32BE(at + 1));
            at += FRAME_HEADER_SIZE;
          } else {
            const take = Math.min(FRAME_HEADER_SIZE - this.headerFilled, length - at);
            chunk.copy(this.header, this.headerFilled, at, at + take);
            this.headerFilled += take;
            at += take;
            if (this.headerFilled === FRAME_HEADER_SIZE) {
              this.headerFilled = 0;
              this.startMessage(this.header[0] ?? 0, this.header.readUInt32BE(1));
            }
          }
          break;
        }
        case State.Tag:
        case State.VarintValue:
        case State.Length: {
          // Varints are a few bytes per ~32 KiB message: byte at a time keeps split varints simple.
          const byte = chunk[at] ?? 0;
          at += 1;
          this.consume(1);
          if (this.varintBytes === MAX_VARINT_BYTES - 1 && byte > 1) throw new GrpcProtocolError('varint longer than 64 bits');
          this.varintValue += (byte & 0x7f) * 2 ** (7 * this.varintBytes);
          this.varintBytes += 1;
          if (byte & 0x80) {
            if (this.messageLeft === 0) throw new GrpcProtocolError('message ends inside a varint');
            break;
          }
          const value = this.varintValue;
          this.varintValue = 0;
          this.varintBytes = 0;
          this.varintDone(value);
          break;
        }
        case State.Deliver:
        case State.Skip: {
          const take = Math.min(this.runLeft, length - at);
          if (this.state === State.Deliver) this.handler.bytes?.(this.field, chunk.subarray(at, at + take));
          at += take;
          this.runLeft -= take;
          this.consume(take);
          if (this.runLeft === 0) {
            if (this.state === State.Deliver) this.handler.fieldEnd?.(this.field);
            this.fieldDone();
          }
          break;
        }
      }
    }
  }

  /** The body has ended: throws if it ended inside a frame (a cut connection, not a complete answer). */
  finish(): void {
    if (this.state !== State.FrameHeader || this.headerFilled !== 0) {
      throw new GrpcProtocolError(
        `the response ended inside a gRPC message (${this.headerFilled > 0 ? 'in its header' : `${this.messageLeft} bytes missing`})`,
      );
    }
  }

  private startMessage(flag: number, size: number): void {
    // We never send grpc-accept-encoding, so a conforming server never compresses.
    if (flag !== 0) throw new GrpcProtocolError(`compressed gRPC message (flag ${flag}) although none was accepted`);
    this.messageLeft = size;
    this.state = State.Tag;
    if (size === 0) this.messageDone();
  }

  private consume(bytes: number): void {
    this.messageLeft -= bytes;
    if (this.messageLeft < 0) throw new GrpcProtocolError('a protobuf field runs past the end of its gRPC message');
  }

  private varintDone(value: number): void {
    switch (this.state) {
      case State.Tag: {
        this.field = Math.floor(value / 8);
        const wireType = value % 8;
        if (this.field === 0) throw new GrpcProtocolError('protobuf field number 0');
        if (this.messageLeft === 0) throw new GrpcProtocolError(`field ${this.field} has a tag but no value`);
        if (wireType === WIRE_VARINT) this.state = State.VarintValue;
        else if (wireType === WIRE_LENGTH_DELIMITED) this.state = State.Length;
        else if (wireType === WIRE_FIXED64) this.startRun(State.Skip, 8);
        else if (wireType === WIRE_FIXED32) this.startRun(State.Skip, 4);
        // 3/4 are the long-deprecated groups (no proto3 message has them), 6/7 do not exist.
        else throw new GrpcProtocolError(`unsupported protobuf wire type ${wireType} (field ${this.field})`);
        return;
      }
      case State.VarintValue:
        this.handler.varint?.(this.field, value);
        this.fieldDone();
        return;
      case State.Length:
        if (value > this.messageLeft) {
          throw new GrpcProtocolError(`field ${this.field} is ${value} bytes but its message has ${this.messageLeft} left`);
        }
        this.startRun(this.wanted.has(this.field) ? State.Deliver : State.Skip, value);
        return;
      default:
        return;
    }
  }

  private startRun(state: typeof State.Deliver | typeof State.Skip, bytes: number): void {
    if (bytes > this.messageLeft) throw new GrpcProtocolError(`field ${this.field} runs past the end of its message`);
    this.state = state;
    this.runLeft = bytes;
    if (bytes === 0) {
      if (state === State.Deliver) this.handler.fieldEnd?.(this.field);
      this.fieldDone();
    }
  }

  private fieldDone(): void {
    this.state = State.Tag;
    if (this.messageLeft === 0) this.messageDone();
  }

  private messageDone(): void {
    this.state = State.FrameHeader;
    this.messages += 1;
    this.handler.end?.();
  }
}

/** What a gRPC call hands the response body to: chunks as they arrive, then the end of the body. */
export interface ResponseBodyReader {
  write(chunk: Buffer): void;
  /** The body has ended: throws if it stopped inside a message. */
  finish(): void;
}

/**
 * Keeps each response message whole, for unary calls whose answers are a few bytes (a lease's TTL): simpler
 * than decoding field by field as GrpcMessageReader does for streams of any size.
 */
export class MessageCollector implements ResponseBodyReader {
  private chunks: Buffer[] = [];
  private collected: Buffer[] = [];

  /** The messages of the body, once finish() returned. */
  get messages(): readonly Buffer[] {
    return this.collected;
  }

  write(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  finish(): void {
    const body = Buffer.concat(this.chunks);
    this.chunks = [];
    const messages: Buffer[] = [];
    let at = 0;
    while (at < body.length) {
      if (body.length - at < FRAME_HEADER_SIZE) throw new GrpcProtocolError('the response ended inside a gRPC message header');
      if (body[at] !== 0) throw new GrpcProtocolError(`compressed gRPC message (flag ${body[at]}) although none was accepted`);
      const size = body.readUInt32BE(at + 1);
      if (size > body.length - at - FRAME_HEADER_SIZE) throw new GrpcProtocolError(`the response ended inside a gRPC message (${size - (body.length - at - FRAME_HEADER_SIZE)} bytes missing)`);
      messages.push(body.subarray(at + FRAME_HEADER_SIZE, at + FRAME_HEADER_SIZE + size));
      at += FRAME_HEADER_SIZE + size;
    }
    this.collected = messages;
  }
}

/** SnapshotResponse { header = 1; remaining_bytes = 2; blob = 3; version = 4 (3.6+) }: only the blob matters. */
export const SNAPSHOT_BLOB_FIELD = 3;
/** AuthenticateResponse { header = 1; token = 2 }. */
export const AUTHENTICATE_TOKEN_FIELD = 2;

/** A reader that hands on the snapshot's bytes (pieces of each SnapshotResponse.blob) in order. */
export function snapshotBlobReader(onBytes: (piece: Buffer) => void, onMessage?: () => void): GrpcMessageReader {
  return new GrpcMessageReader(
    { bytes: (_field, piece) => onBytes(piece), ...(onMessage ? { end: onMessage } : {}) },
    new Set([SNAPSHOT_BLOB_FIELD]),
  );
}

/** Wraps one serialized message in a gRPC frame (uncompressed). */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, FRAME_HEADER_SIZE);
  return frame;
}

/** Protobuf encoding of a message made only of string fields, in the order given. */
export function encodeStrings(fields: ReadonlyArray<readonly [field: number, value: string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [field, value] of fields) {
    const bytes = Buffer.from(value, 'utf8');
    parts.push(encodeVarint(field * 8 + WIRE_LENGTH_DELIMITED), encodeVarint(bytes.length), bytes);
  }
  return Buffer.concat(parts);
}

/** AuthenticateRequest { name = 1; password = 2 }. */
export function authenticateRequest(name: string, password: string): Buffer {
  return encodeStrings([
    [1, name],
    [2, password],
  ]);
}

export function encodeVarint(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot encode ${value} as a varint`);
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** gRPC status codes by number, for messages a person can read. */
const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** A call that etcd answered with a non-OK gRPC status (bad credentials, no such method, overload...). */
export class GrpcStatusError extends Error {
  override readonly name = 'GrpcStatusError';

  constructor(
    /** The gRPC status code (never 0). */
    readonly code: number,
    /** The server's grpc-message, percent-decoded ('' when absent). */
    readonly details: string,
  ) {
    super(`gRPC status ${STATUS_NAMES[code] ?? 'code'} (${code})${details ? `: ${details}` : ''}`);
  }
}

/**
 * grpc-message is percent-encoded UTF-8. The spec asks receivers to be lenient: a malformed escape is
 * kept as written rather than failing the whole error report.
 */
export function decodeGrpcMessage(raw: string): string {
  return raw.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8'));
}
