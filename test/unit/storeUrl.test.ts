import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { openStores } from '../../src/stores/index.ts';
import { parseStoreList, parseStoreUrl, storePathSegments } from '../../src/stores/url.ts';

describe('parseStoreUrl', () => {
  it('parses sftp URLs, defaulting the port to 22', () => {
    assert.deepEqual(parseStoreUrl('sftp://backup@dc1.example.com/srv/etcd'), {
      kind: 'sftp',
      user: 'backup',
      host: 'dc1.example.com',
      port: 22,
      path: '/srv/etcd',
      id: 'sftp://backup@dc1.example.com:22/srv/etcd',
    });
    assert.deepEqual(parseStoreUrl('  sftp://root@127.0.0.1:2222/tmp/x/  '), {
      kind: 'sftp',
      user: 'root',
      host: '127.0.0.1',
      port: 2222,
      path: '/tmp/x',
      id: 'sftp://root@127.0.0.1:2222/tmp/x',
    });
  });

  it('accepts bracketed IPv6 hosts, keeping brackets only in the id', () => {
    const parsed = parseStoreUrl('sftp://u@[::1]:2200/srv');
    assert.equal(parsed.kind, 'sftp');
    assert.equal(parsed.kind === 'sftp' && parsed.host, '::1');
    assert.equal(parsed.id, 'sftp://u@[::1]:2200/srv');
  });

  it('parses file URLs', () => {
    assert.deepEqual(parseStoreUrl('file:///var/backups/etcd'), {
      kind: 'file',
      path: '/var/backups/etcd',
      id: 'file:///var/backups/etcd',
    });
    assert.equal(parseStoreUrl('file:///srv/with%20space').path, '/srv/with space');
  });

  const rejected: Array<[string, RegExp]> = [
    ['s3://bucket/x', /only sftp/],
    ['/var/backups', /only sftp/],
    ['sftp://host/srv', /a user is required/],
    ['sftp://u:secret@host/srv', /passwords in URLs are not supported/],
    ['sftp://u@host', /absolute path is required/],
    ['sftp://u@host:0/srv', /out of range/],
    ['sftp://u@host:70000/srv', /out of range/],
    ['sftp://u@host/srv?x=1', /query strings/],
    ['sftp://u@host/srv#frag', /query strings/],
    ['sftp://u@host/srv/../etc', /'\.\.'/],
    ['sftp://u@host/srv/%2e%2e/etc', /'\.\.'/],
    ['sftp://u@[127.0.0.1]/srv', /IPv6/],
    ['sftp://u@host name/srv', /expected sftp/],
    ['file://relative/path', /three slashes/],
    ['file://host/abs', /three slashes/],
    ['file:///a/../b', /'\.\.'/],
    ['file:///a?b', /query strings/],
  ];
  for (const [url, why] of rejected) {
    it(`rejects ${url}`, () => {
      assert.throws(
        () => parseStoreUrl(url),
        (error: Error) => error instanceof InputError && why.test(error.message) && error.message.includes('store URL'),
      );
    });
  }

  it('never echoes a password into the id', () => {
    assert.throws(() => parseStoreUrl('sftp://u:hunter2@h/srv'), /passwords/);
  });
});

describe('parseStoreList', () => {
  it('reads one URL per line, ignoring blanks and surrounding spaces', () => {
    const stores = parseStoreList('\n  sftp://b@dc1/srv/etcd\n\n\tsftp://b@dc2:2222/srv/etcd  \r\nfile:///tmp/x\n');
    assert.deepEqual(
      stores.map((s) => s.id),
      ['sftp://b@dc1:22/srv/etcd', 'sftp://b@dc2:2222/srv/etcd', 'file:///tmp/x'],
    );
  });

  it('names the offending line', () => {
    assert.throws(() => parseStoreList('sftp://b@dc1/srv\n\nftp://dc2/srv'), /^InputError|stores line 3/);
    assert.throws(() => parseStoreList('sftp://b@dc1/srv\n\nftp://dc2/srv'), (e: Error) => e.message.startsWith('stores line 3 '));
  });

  it('rejects duplicates (also when spelled differently)', () => {
    assert.throws(
      () => parseStoreList('sftp://b@dc1/srv\nsftp://b@dc1:22/srv/'),
      /stores line 2: sftp:\/\/b@dc1:22\/srv is listed twice \(also on line 1\)/,
    );
  });

  it('rejects two URLs on one line', () => {
    assert.throws(() => parseStoreList('sftp://b@dc1/srv, sftp://b@dc2/srv'), /one store URL per line/);
  });

  it('requires at least one store', () => {
    assert.throws(() => parseStoreList(' \n \n'), (e: Error) => e instanceof InputError && /stores is empty/.test(e.message));
  });
});

describe('storePathSegments', () => {
  it('accepts plain names and nested folders', () => {
    assert.deepEqual(storePathSegments('cluster', 'a.db'), ['cluster', 'a.db']);
    assert.deepEqual(storePathSegments('a/b'), ['a', 'b']);
  });
  it('rejects anything that could leave the store root', () => {
    for (const [folder, name] of [
      ['..', 'x'],
      ['a/../b', 'x'],
      ['/abs', 'x'],
      ['', 'x'],
      ['a', '../x'],
      ['a', 'x/y'],
      ['a', '..'],
      ['a', 'x\\y'],
      ['a', ''],
    ] as const) {
      assert.throws(() => storePathSegments(folder, name), InputError, `${folder} ${name}`);
    }
  });
});

describe('openStores', () => {
  const key = '-----BEGIN OPENSSH PRIVATE KEY-----\n...';

  it('builds stores without connecting, with ids in order', () => {
    const stores = openStores('file:///tmp/a\nfile:///tmp/b', {});
    assert.deepEqual(
      stores.map((s) => s.id),
      ['file:///tmp/a', 'file:///tmp/b'],
    );
  });

  it('requires a private key and known_hosts for sftp stores', () => {
    assert.throws(() => openStores('sftp://b@dc1/srv', { sshKnownHosts: 'dc1 ssh-ed25519 AAAA' }), /ssh-private-key is required/);
    assert.throws(() => openStores('sftp://b@dc1/srv', { sshPrivateKey: key }), /ssh-known-hosts is required/);
    assert.throws(
      () => openStores('sftp://b@dc1/srv', { sshPrivateKey: 'garbage', sshKnownHosts: 'dc1 ssh-ed25519 AAAA' }),
      /ssh-private-key cannot be used/,
    );
  });
});
