import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { InputError } from '../../src/errors.ts';
import { checkRecipients, parseRecipients } from '../../src/snapshot/codec.ts';

describe('age recipients (encrypt-to)', () => {
  it('accepts real recipients, one per line, with comments', async () => {
    const recipient = await identityToRecipient(await generateX25519Identity());
    const parsed = parseRecipients(`# the DR team\n${recipient}\n\n`);
    assert.deepEqual(parsed, [recipient]);
    await checkRecipients(parsed);
  });

  it('refuses text that is not shaped like a recipient, naming the input', () => {
    assert.throws(() => parseRecipients('ssh-ed25519 AAAA'), (error: unknown) => error instanceof InputError && /encrypt-to/.test(error.message));
  });

  it('refuses a recipient with a typo (bad checksum) before any backup work', async () => {
    const recipient = await identityToRecipient(await generateX25519Identity());
    const typo = `${recipient.slice(0, -1)}${recipient.endsWith('q') ? 'p' : 'q'}`;
    const parsed = parseRecipients(typo); // the shape is right
    await assert.rejects(checkRecipients(parsed), (error: unknown) => error instanceof InputError && /encrypt-to: .* is not a valid age recipient/.test(error.message));
  });
});
