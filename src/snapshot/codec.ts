/**
 * How a raw snapshot becomes the stored object and back: compression (zstd, gzip or none) then age
 * encryption. Streams only: memory stays flat whatever the database size.
 */
import { Readable, type Duplex } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import zlib from 'node:zlib';
import { InputError, messageOf } from '../errors.ts';
import { AgeEncrypter, startAgeFile } from './agePayload.ts';
import { chain } from './streams.ts';
import type { Compression } from '../repository/layout.ts';

/** zstd is in Node's zlib from 22.15 on; the break-glass CLI may be started with an older node. */
export function requireZstd(): void {
  if (typeof zlib.createZstdCompress !== 'function') {
    throw new Error(`zstd needs Node.js 24 (this is ${process.version}); run etcd-dr with the node the action uses`);
  }
}

/** 1 MiB output chunks: with the default 16 KiB, per-chunk overhead made decompression 3x slower. */
const CODEC_BUFFERS = { chunkSize: 1 << 20 };

export function compressor(compression: Compression): Duplex | undefined {
  switch (compression) {
    case 'zstd':
      requireZstd();
      // Level 1: on a 2-core runner compression competes with the gRPC stream and two SSH uploads for
      // CPU; level 1 runs about twice as fast as the default 3 for a few percent larger objects.
      // Large output chunks keep the per-chunk overhead of every later stage (hash, spool, SSH) low.
      return zlib.createZstdCompress({
        // The frame checksum lets a restore notice a damaged copy while decompressing, before etcd's trailer.
        params: { [zlib.constants.ZSTD_c_compressionLevel]: 1, [zlib.constants.ZSTD_c_checksumFlag]: 1 },
        ...CODEC_BUFFERS,
      });
    case 'gzip':
      // Level 1: gzip is CPU-bound; the higher levels cost far more time than they save bytes.
      return zlib.createGzip({ level: 1, ...CODEC_BUFFERS });
    case 'none':
      return undefined;
  }
}

export function decompressor(compression: Compression): Duplex | undefined {
  switch (compression) {
    case 'zstd':
      requireZstd();
      return zlib.createZstdDecompress(CODEC_BUFFERS);
    case 'gzip':
      return zlib.createGunzip(CODEC_BUFFERS);
    case 'none':
      return undefined;
  }
}

const RECIPIENT = /^age1[0-9a-z]+$/;
const IDENTITY = /^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/;

/** Validates age recipients (one per line, `#` comments allowed, as in age's recipients files). */
export function parseRecipients(text: string): string[] {
  const recipients = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  for (const recipient of recipients) {
    if (!RECIPIENT.test(recipient)) {
      throw new InputError(`encrypt-to: ${JSON.stringify(recipient.slice(0, 20))}... is not an age recipient (age1...)`);
    }
  }
  return recipients;
}

/**
 * Checks every recipient with age itself (bech32 checksum, key type): parseRecipients only knows the shape,
 * and a typo must fail before the backup touches etcd, not once the snapshot is streaming.
 */
export async function checkRecipients(recipients: readonly string[]): Promise<void> {
  if (recipients.length === 0) return;
  const { Encrypter } = await loadAge();
  const encrypter = new Encrypter();
  for (const recipient of recipients) {
    try {
      encrypter.addRecipient(recipient);
    } catch (error) {
      throw new InputError(`encrypt-to: ${JSON.stringify(recipient.slice(0, 20))}... is not a valid age recipient (${messageOf(error)})`);
    }
  }
}

/** Validates age identities (an identity file's text: `AGE-SECRET-KEY-1...` lines, comments allowed). */
export function parseIdentities(text: string): string[] {
  const identities = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (identities.length === 0) throw new InputError('decrypt-identity is empty: the backup is encrypted and needs an age identity');
  for (const identity of identities) {
    if (!IDENTITY.test(identity)) {
      throw new InputError('decrypt-identity: a line is not an age identity (AGE-SECRET-KEY-1...)');
    }
  }
  return identities;
}

/** age and its crypto libraries take ~60 ms to load: only runs that encrypt or decrypt pay for it. */
function loadAge(): Promise<typeof import('age-encryption')> {
  return import('age-encryption');
}

/**
 * Encrypts a byte stream to the recipients: age-encryption writes the header, node's ChaCha20-Poly1305
 * the payload (agePayload.ts says why: ~4 s of CPU and 10-20 MB of peak memory per GiB backed up).
 */
export async function encryptStream(input: Readable, recipients: readonly string[]): Promise<Readable> {
  return chain(input, new AgeEncrypter(await startAgeFile(recipients)));
}

/** Decrypts a byte stream; rejects before any plaintext if no identity matches the header. */
export async function decryptStream(input: Readable, identities: readonly string[]): Promise<Readable> {
  const { Decrypter } = await loadAge();
  const decrypter = new Decrypter();
  for (const identity of identities) decrypter.addIdentity(identity);
  const output = await decrypter.decrypt(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
  return Readable.fromWeb(output as unknown as WebReadableStream<Uint8Array>);
}
