/**
 * age encryption as a Node.js Transform: age-encryption writes the header (the recipients' stanzas, the
 * header MAC, the payload nonce), and node's own ChaCha20-Poly1305 (OpenSSL) encrypts the payload.
 *
 * Why not age-encryption's stream: it is a web TransformStream, encrypting in JavaScript (@noble/ciphers),
 * and reaching it from node streams takes two adapters (Readable.toWeb copies every chunk into a new
 * Uint8Array) and two more web streams. On a 1 GiB database (~470 MiB of zstd output) that path cost ~4 s of
 * CPU (JavaScript ChaCha20-Poly1305 ran at 133 MiB/s here, OpenSSL's at 630 MiB/s) and allocated every
 * byte three more times (the adapter's copy, the 64 KiB staging copy, the ciphertext), garbage that waits
 * for the next collection: age backups peaked 10-20 MB above zstd ones. Here each byte is allocated once
 * more (its ciphertext), in the chunks the compressor wrote.
 *
 * The format is age's payload (age-encryption.org/v1, "Payload"): HKDF-SHA-256(file key, salt = the
 * header's 16-byte nonce, info "payload") is the key; the plaintext is cut in 64 KiB chunks, each sealed
 * with ChaCha20-Poly1305 under the nonce (11-byte big-endian chunk counter || 0x00, or 0x01 for the last
 * chunk). The last chunk is non-empty unless the whole payload is empty.
 *
 * The file key comes from age-encryption itself, through its Recipient interface (a recipient is handed
 * the file key to wrap; ours wraps nothing and only keeps it), and is checked against the library's own
 * output before use: the library encrypts an empty payload with that key, and we must produce the same
 * final chunk. Any change in how the library derives or uses the key fails there, before a byte of the
 * snapshot is encrypted.
 */
import { createCipheriv, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** age's payload chunk size. */
const CHUNK = 64 * 1024;
const TAG_SIZE = 16;
const HEADER_NONCE_SIZE = 16;

/** The parts of an age file that come before the payload, and the payload's key. */
export interface AgeStart {
  /** The header and the 16-byte payload nonce: the file's first bytes. */
  readonly prefix: Buffer;
  readonly payloadKey: KeyObject;
}

/** Has age-encryption write a header to `recipients`, and derives the payload key from the file key it chose. */
export async function startAgeFile(recipients: readonly string[]): Promise<AgeStart> {
  if (recipients.length === 0) throw new Error('age: no recipient to encrypt to');
  const { Encrypter } = await import('age-encryption');
  const encrypter = new Encrypter();
  for (const recipient of recipients) encrypter.addRecipient(recipient);
  let fileKey: Uint8Array | undefined;
  encrypter.addRecipient({
    wrapFileKey(key: Uint8Array) {
      fileKey = Uint8Array.from(key);
      return [];
    },
  });
  // header || payload nonce || the one sealed (empty, last) chunk of an empty payload
  const emptyFile = Buffer.from(await encrypter.encrypt(new Uint8Array(0)));
  if (fileKey === undefined || emptyFile.length < HEADER_NONCE_SIZE + TAG_SIZE) {
    throw new Error('age-encryption did not hand its file key to the recipients: cannot encrypt the payload natively');
  }
  const prefix = emptyFile.subarray(0, emptyFile.length - TAG_SIZE);
  const nonce = prefix.subarray(prefix.length - HEADER_NONCE_SIZE);
  const payloadKey = createSecretKey(Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32)));
  fileKey.fill(0);
  const expected = emptyFile.subarray(emptyFile.length - TAG_SIZE);
  const [sealed, tag] = seal(payloadKey, 0, true, Buffer.alloc(0));
  if (sealed.length !== 0 || !tag.equals(expected)) {
    throw new Error('age-encryption derives its payload differently than age-encryption.org/v1 says: refusing to encrypt');
  }
  return { prefix: Buffer.from(prefix), payloadKey };
}

/** One sealed chunk: its ciphertext (as long as the plaintext) and its 16-byte tag. */
function seal(key: KeyObject, counter: number, last: boolean, plaintext: Buffer): [Buffer, Buffer] {
  const nonce = Buffer.alloc(12);
  // 48 bits of the 88-bit counter are enough for 16 EiB of payload.
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE });
  const ciphertext = plaintext.length > 0 ? cipher.update(plaintext) : Buffer.alloc(0);
  cipher.final();
  return [ciphertext, cipher.getAuthTag()];
}

/**
 * Encrypts a byte stream into an age file (see the header). Emits the prefix, then each sealed chunk as its
 * ciphertext and its tag, so no chunk is copied again. The latest chunk, even a full one, is held back until
 * more data or the end shows whether it is the last.
 */
export class AgeEncrypter extends Transform {
  private readonly key: KeyObject;
  private prefix: Buffer | undefined;
  /** The newest plaintext, not yet sealed: 0 to CHUNK bytes. */
  private readonly held = Buffer.allocUnsafe(CHUNK);
  private heldBytes = 0;
  private counter = 0;

  constructor(start: AgeStart) {
    super({ highWaterMark: 1 << 20 });
    this.key = start.payloadKey;
    this.prefix = start.prefix;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.pushPrefix();
      let data = chunk;
      if (data.length === 0) {
        callback();
        return;
      }
      if (this.heldBytes > 0) {
        const taken = Math.min(CHUNK - this.heldBytes, data.length);
        data.copy(this.held, this.heldBytes, 0, taken);
        this.heldBytes += taken;
        data = data.subarray(taken);
        // A full held chunk followed by nothing yet may still be the last one.
        if (data.length === 0) {
          callback();
          return;
        }
        this.pushSealed(this.held, false);
        this.heldBytes = 0;
      }
      // Whole chunks of the input are sealed where they lie; the tail (1 byte to a full chunk) is held.
      while (data.length > CHUNK) {
        this.pushSealed(data.subarray(0, CHUNK), false);
        data = data.subarray(CHUNK);
      }
      data.copy(this.held, 0);
      this.heldBytes = data.length;
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.pushPrefix();
      this.pushSealed(this.held.subarray(0, this.heldBytes), true);
      this.heldBytes = 0;
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  private pushPrefix(): void {
    if (this.prefix === undefined) return;
    this.push(this.prefix);
    this.prefix = undefined;
  }

  private pushSealed(plaintext: Buffer, last: boolean): void {
    const [ciphertext, tag] = seal(this.key, this.counter++, last, plaintext);
    if (ciphertext.length > 0) this.push(ciphertext);
    this.push(tag);
  }
}
