/**
 * Protobuf wire format for etcd's messages, both ways: reading fields out of one whole message held in a
 * buffer (a watch event, a unary answer), every length checked against what is there; and writing requests.
 */
import { GrpcProtocolError, encodeVarint } from './grpcFrames.ts';

export const WIRE_VARINT = 0;
export const WIRE_LENGTH_DELIMITED = 2;

/** Reads protobuf fields from one whole message held in a buffer. */
export class Cursor {
  private at = 0;

  constructor(private readonly buffer: Buffer) {}

  get done(): boolean {
    return this.at >= this.buffer.length;
  }

  /** A varint as a number: exact below 2^53 (revisions, versions, counts). */
  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const byte = this.byte();
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    throw new GrpcProtocolError('varint longer than 64 bits');
  }

  /** A varint as a signed 64-bit integer, in decimal (lease ids use all 63 bits, and int64 may be negative). */
  int64(): string {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.byte();
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asIntN(64, value).toString();
    }
    throw new GrpcProtocolError('varint longer than 64 bits');
  }

  /** A length-delimited value, as a view of the buffer. */
  bytes(): Buffer {
    const length = this.varint();
    if (length > this.buffer.length - this.at) throw new GrpcProtocolError(`a field of ${length} bytes runs past the end of its message`);
    const value = this.buffer.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }

  /** Skips a field of `wireType` we do not read. */
  skip(wireType: number, field: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 2) this.bytes();
    else if (wireType === 1) this.advance(8);
    else if (wireType === 5) this.advance(4);
    else throw new GrpcProtocolError(`unsupported protobuf wire type ${wireType} (field ${field})`);
  }

  private advance(bytes: number): void {
    if (bytes > this.buffer.length - this.at) throw new GrpcProtocolError('a field runs past the end of its message');
    this.at += bytes;
  }

  private byte(): number {
    if (this.at >= this.buffer.length) throw new GrpcProtocolError('message ends inside a varint');
    return this.buffer[this.at++]!;
  }
}

/** Reads fields one at a time: each call gives the field number and wire type; the caller reads or skips the value. */
export function forEachField(buffer: Buffer, onField: (cursor: Cursor, field: number, wireType: number) => void): void {
  const cursor = new Cursor(buffer);
  while (!cursor.done) {
    const key = cursor.varint();
    const field = Math.floor(key / 8);
    if (field === 0) throw new GrpcProtocolError('protobuf field number 0');
    onField(cursor, field, key % 8);
  }
}

/** The value of varint field `field` in `message` (the last one, as protobuf reads repeats), 0 when absent. */
export function varintField(message: Buffer, field: number): number {
  let value = 0;
  forEachField(message, (c, f, wireType) => {
    if (f === field && wireType === WIRE_VARINT) value = c.varint();
    else c.skip(wireType, f);
  });
  return value;
}

/** A protobuf message writer: just what etcd's requests need (varints, int64 in decimal, length-delimited fields). */
export class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  private push(part: Buffer): void {
    this.parts.push(part);
    this.size += part.length;
  }

  /** A varint of a non-negative integer below 2^53 (revisions, versions, lengths). */
  private varint(value: number): void {
    this.push(encodeVarint(value));
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
    if (!/^-?\d+$/.test(decimal)) throw new RangeError(`not a decimal integer: ${JSON.stringify(decimal)}`);
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

