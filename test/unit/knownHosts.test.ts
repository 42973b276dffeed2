import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  entryMatchesHost,
  fingerprintSha256,
  hostKeyMatches,
  keyTypeOf,
  parseKnownHosts,
  pinnedKeyTypes,
} from '../../src/stores/knownHosts.ts';

/** A wire-format key blob like ssh2 hands to hostVerifier: string type, then key material. */
function fakeKey(type = 'ssh-ed25519'): Buffer {
  const typeBytes = Buffer.from(type);
  const material = randomBytes(32);
  const out = Buffer.alloc(4 + typeBytes.length + 4 + material.length);
  out.writeUInt32BE(typeBytes.length, 0);
  typeBytes.copy(out, 4);
  out.writeUInt32BE(material.length, 4 + typeBytes.length);
  material.copy(out, 8 + typeBytes.length);
  return out;
}

const line = (hosts: string, key: Buffer, type = 'ssh-ed25519'): string => `${hosts} ${type} ${key.toString('base64')}`;

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('hostKeyMatches', () => {
  const key = fakeKey();
  const other = fakeKey();

  it('accepts the pinned key for a bare host on port 22 and [host]:port otherwise', () => {
    assert.deepEqual(hostKeyMatches(line('dc1.example.com', key), 'dc1.example.com', 22, key), { ok: true });
    assert.deepEqual(hostKeyMatches(line('[dc1.example.com]:2222', key), 'dc1.example.com', 2222, key), { ok: true });
    // A bare entry means port 22 only, as in OpenSSH.
    assert.deepEqual(hostKeyMatches(line('dc1.example.com', key), 'dc1.example.com', 2222, key), {
      ok: false,
      reason: 'unknown-host',
    });
    assert.deepEqual(hostKeyMatches(line('[dc1.example.com]:2222', key), 'dc1.example.com', 22, key), {
      ok: false,
      reason: 'unknown-host',
    });
  });

  it('reports a different key for a known host as key-mismatch', () => {
    assert.deepEqual(hostKeyMatches(line('dc1', key), 'dc1', 22, other), { ok: false, reason: 'key-mismatch' });
  });

  it('accepts any of several keys and comma lists, case-insensitively', () => {
    const text = [
      '# comment',
      '',
      line('dc2,10.0.0.2', other),
      line('DC1,10.0.0.1', key),
      `   ${line('dc1', other)}   `,
    ].join('\n');
    assert.deepEqual(hostKeyMatches(text, 'dc1', 22, key), { ok: true });
    assert.deepEqual(hostKeyMatches(text, 'dc1', 22, other), { ok: true });
    assert.deepEqual(hostKeyMatches(text, '10.0.0.1', 22, key), { ok: true });
    assert.deepEqual(hostKeyMatches(text, 'dc3', 22, key), { ok: false, reason: 'unknown-host' });
  });

  it('supports wildcards and negation', () => {
    const text = line('*.example.com,!evil.example.com', key);
    assert.deepEqual(hostKeyMatches(text, 'dc1.example.com', 22, key), { ok: true });
    assert.deepEqual(hostKeyMatches(text, 'evil.example.com', 22, key), { ok: false, reason: 'unknown-host' });
    assert.equal(entryMatchesHost('dc?', 'dc1'), true);
    assert.equal(entryMatchesHost('dc?', 'dc12'), false);
    assert.equal(entryMatchesHost('10.0.0.*', '10.0.0.7'), true);
    assert.equal(entryMatchesHost('[10.0.0.1]:2222', '[10.0.0.1]:2222'), true);
    assert.equal(entryMatchesHost('10.0.0.1', '10x0x0x1'), false, 'dots are literal');
  });

  it('matches hashed entries (HMAC-SHA1 of the lookup name)', () => {
    const text = [line(hashed('dc1.example.com'), key), line(hashed('[127.0.0.1]:2222'), other)].join('\n');
    assert.deepEqual(hostKeyMatches(text, 'dc1.example.com', 22, key), { ok: true });
    assert.deepEqual(hostKeyMatches(text, '127.0.0.1', 2222, other), { ok: true });
    assert.deepEqual(hostKeyMatches(text, '127.0.0.1', 2222, key), { ok: false, reason: 'key-mismatch' });
    assert.deepEqual(hostKeyMatches(text, 'dc2.example.com', 22, key), { ok: false, reason: 'unknown-host' });
  });

  it('matches entries hashed by ssh-keygen -H', { skip: existsSync('/usr/bin/ssh-keygen') ? false : 'no ssh-keygen' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcd-dr-kh-'));
    try {
      const file = join(dir, 'known_hosts');
      writeFileSync(file, `${line('[127.0.0.1]:2222', key)}\n${line('dc1.example.com', other)}\n`);
      execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
      const text = readFileSync(file, 'utf8');
      assert.ok(!text.includes('127.0.0.1') && text.includes('|1|'), 'the file is hashed');
      assert.deepEqual(hostKeyMatches(text, '127.0.0.1', 2222, key), { ok: true });
      assert.deepEqual(hostKeyMatches(text, 'dc1.example.com', 22, other), { ok: true });
      assert.deepEqual(hostKeyMatches(text, 'dc1.example.com', 22, key), { ok: false, reason: 'key-mismatch' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a @revoked key even when another line accepts it', () => {
    const text = [line('dc1', key), `@revoked ${line('*', key)}`].join('\n');
    assert.deepEqual(hostKeyMatches(text, 'dc1', 22, key), { ok: false, reason: 'revoked' });
    assert.deepEqual(hostKeyMatches(text, 'dc1', 22, other), { ok: false, reason: 'key-mismatch' });
  });

  it('skips @cert-authority lines and malformed lines', () => {
    const text = [`@cert-authority ${line('*', key)}`, 'dc1 ssh-ed25519', 'dc1 ssh-ed25519 !!notbase64!!'].join('\n');
    assert.equal(parseKnownHosts(text).length, 0);
    assert.deepEqual(hostKeyMatches(text, 'dc1', 22, key), { ok: false, reason: 'unknown-host' });
  });

  it('compares the whole key blob', () => {
    const truncated = key.subarray(0, key.length - 1);
    assert.deepEqual(hostKeyMatches(line('dc1', key), 'dc1', 22, truncated), { ok: false, reason: 'key-mismatch' });
  });
});

describe('key helpers', () => {
  it('lists the key types pinned for a host', () => {
    const text = [line('dc1', fakeKey()), line('dc1', fakeKey('ssh-rsa'), 'ssh-rsa'), line('dc2', fakeKey())].join('\n');
    assert.deepEqual(pinnedKeyTypes(text, 'dc1', 22), ['ssh-ed25519', 'ssh-rsa']);
    assert.deepEqual(pinnedKeyTypes(text, 'dc9', 22), []);
  });

  it('reads the key type out of a blob', () => {
    assert.equal(keyTypeOf(fakeKey('ecdsa-sha2-nistp256')), 'ecdsa-sha2-nistp256');
    assert.equal(keyTypeOf(Buffer.alloc(2)), 'unknown');
  });

  it('prints fingerprints like ssh-keygen -lf', { skip: existsSync('/usr/bin/ssh-keygen') ? false : 'no ssh-keygen' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcd-dr-fp-'));
    try {
      const file = join(dir, 'key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { stdio: 'ignore' });
      const publicLine = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/);
      const expected = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' }).split(/\s+/)[1];
      assert.equal(fingerprintSha256(Buffer.from(publicLine[1]!, 'base64')), expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
