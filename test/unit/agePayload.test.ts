import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { decryptStream, encryptStream } from '../../src/snapshot/codec.ts';

const CHUNK = 64 * 1024;

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** `data` cut into pieces of the given sizes (the last piece takes the rest). */
function pieces(data: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    if (at >= data.length) break;
    out.push(data.subarray(at, at + size));
    at += size;
  }
  if (at < data.length) out.push(data.subarray(at));
  return out;
}

describe('age encryption of a stream (header by age-encryption, payload by node\'s ChaCha20-Poly1305)', () => {
  it('age-encryption decrypts what we encrypt, at every size around its 64 KiB chunks and however the input is cut', async () => {
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 16 * CHUNK, 16 * CHUNK + 5, 3 * CHUNK + 12345];
    const cuts: readonly (readonly number[])[] = [[1 << 20], [1], [CHUNK], [CHUNK - 1, 2, CHUNK + 7], [1000, 70000, 1 << 20]];
    for (const size of sizes) {
      const plaintext = randomBytes(size);
      for (const cut of cuts) {
        const ciphertext = await collect(await encryptStream(Readable.from(pieces(plaintext, cut)), [recipient]));
        const decrypter = new Decrypter();
        decrypter.addIdentity(identity);
        const decrypted = Buffer.from(await decrypter.decrypt(ciphertext));
        assert.ok(decrypted.equals(plaintext), `size ${size}, input cut as ${cut.join(',')}`);
        // The same length as age-encryption's own output: one 16-byte tag per 64 KiB chunk, header and nonce.
        const reference = new Encrypter();
        reference.addRecipient(recipient);
        const theirs = await reference.encrypt(plaintext);
        assert.equal(ciphertext.length, theirs.length, `size ${size}: ciphertext length`);
      }
    }
  });

  it('encrypts to every recipient: each identity alone decrypts, through the restore\'s own decryptStream', async () => {
    const identities = [await generateX25519Identity(), await generateX25519Identity()];
    const recipients = await Promise.all(identities.map((i) => identityToRecipient(i)));
    const plaintext = randomBytes(5 * CHUNK + 3);
    const ciphertext = await collect(await encryptStream(Readable.from([plaintext]), recipients));
    for (const identity of identities) {
      const decrypted = await collect(await decryptStream(Readable.from([ciphertext]), [identity]));
      assert.ok(decrypted.equals(plaintext));
    }
  });

  it('uses a new file key each time: the same input never gives the same ciphertext', async () => {
    const recipient = await identityToRecipient(await generateX25519Identity());
    const plaintext = Buffer.alloc(CHUNK * 2, 1);
    const a = await collect(await encryptStream(Readable.from([plaintext]), [recipient]));
    const b = await collect(await encryptStream(Readable.from([plaintext]), [recipient]));
    assert.notDeepEqual(a.subarray(-CHUNK), b.subarray(-CHUNK));
  });

  it('a chunk sealed out of place (reordered, or the last one dropped) fails decryption', async () => {
    const identity = await generateX25519Identity();
    const plaintext = randomBytes(3 * CHUNK + 100);
    const ciphertext = await collect(await encryptStream(Readable.from([plaintext]), [await identityToRecipient(identity)]));
    const sealed = CHUNK + 16;
    const payloadStart = ciphertext.length - (3 * sealed + 100 + 16);
    const [c0, c1] = [ciphertext.subarray(payloadStart, payloadStart + sealed), ciphertext.subarray(payloadStart + sealed, payloadStart + 2 * sealed)];
    const swapped = Buffer.concat([ciphertext.subarray(0, payloadStart), c1, c0, ciphertext.subarray(payloadStart + 2 * sealed)]);
    const truncated = ciphertext.subarray(0, ciphertext.length - (100 + 16));
    for (const [what, bad] of [['swapped chunks', swapped], ['last chunk dropped', truncated]] as const) {
      await assert.rejects(collect(await decryptStream(Readable.from([bad]), [identity])), `${what} must not decrypt`);
    }
  });

  it('an error in the input reaches whoever reads the encrypted stream', async () => {
    const recipient = await identityToRecipient(await generateX25519Identity());
    const input = new Readable({ read() {} });
    const encrypted = await encryptStream(input, [recipient]);
    input.push(randomBytes(CHUNK * 2));
    setImmediate(() => input.destroy(new Error('etcd went away')));
    await assert.rejects(collect(encrypted), /etcd went away/);
  });
});
