/**
 * SftpStore against real OpenSSH sshd instances (test/harness/sftp.ts): the conformance suite, then the
 * failures an operator must be able to read: wrong or unknown host key, sshd down, client key not accepted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { fingerprintSha256 } from '../../src/stores/knownHosts.ts';
import { writeSmallFile } from '../../src/repository/publish.ts';
import { isTransient as isTransientError } from '../../src/base/failures.ts';
import { withRetry } from '../../src/stores/retry.ts';
import { SftpStore, type SftpLocation } from '../../src/stores/sftp.ts';
import { parseStoreUrl } from '../../src/stores/url.ts';
import { knownHostKey, makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { runStoreConformance } from './conformance.ts';

const haveSshd = existsSync('/usr/sbin/sshd');
const skip = haveSshd ? false : 'needs /usr/sbin/sshd (run scripts/install-deps.sh)';

function sftpLocation(url: string): SftpLocation {
  const location = parseStoreUrl(url);
  assert.equal(location.kind, 'sftp');
  return location as SftpLocation;
}

/** Kills the per-connection sshd processes of a site (children of its listener, found via its PidFile). */
async function killSessions(site: SftpSite): Promise<void> {
  const listener = (await fs.readFile(join(site.dir, 'sshd.pid'), 'utf8')).trim();
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', listener], { encoding: 'utf8' })
    .split(/\s+/)
    .filter((pid) => pid !== '');
  assert.ok(children.length > 0, 'an sshd session process exists');
  for (const pid of children) process.kill(Number(pid), 'SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 200));
}

function storeFor(site: SftpSite, overrides: { knownHosts?: string; privateKey?: string } = {}): SftpStore {
  return new SftpStore({
    location: sftpLocation(site.url),
    privateKey: overrides.privateKey ?? site.privateKey,
    knownHosts: overrides.knownHosts ?? site.knownHosts,
    readyTimeoutMs: 10_000,
  });
}

if (haveSshd) {
  runStoreConformance('SftpStore', async () => {
    const site = await startSftpSite('conformance');
    return { store: storeFor(site), rootDir: site.root, cleanup: () => site.destroy() };
  });
}

describe('SftpStore failures', { skip }, () => {
  let siteA: SftpSite;
  let siteB: SftpSite;

  before(async () => {
    [siteA, siteB] = await Promise.all([startSftpSite('a'), startSftpSite('b')]);
  });
  after(async () => {
    await Promise.all([siteA?.destroy(), siteB?.destroy()]);
  });

  async function assertNothingWritten(site: SftpSite): Promise<void> {
    assert.deepEqual(await fs.readdir(site.root), [], `nothing may be written to site ${site.name}`);
  }

  it('refuses a host that is not in known_hosts (known_hosts of another site), naming host and fingerprint', async () => {
    const store = storeFor(siteB, { knownHosts: siteA.knownHosts });
    const presented = fingerprintSha256(knownHostKey(siteB.knownHosts));
    try {
      const error = await writeSmallFile(store, 'c', 'x', Buffer.from('x')).then(
        () => assert.fail('must be refused'),
        (e: unknown) => e as Error,
      );
      assert.match(error.message, new RegExp(`^sftp://root@127\\.0\\.0\\.1:${siteB.port}/`));
      assert.match(error.message, new RegExp(`\\[127\\.0\\.0\\.1\\]:${siteB.port}: the host is not in ssh-known-hosts`));
      assert.ok(error.message.includes(presented), `fingerprint ${presented} in: ${error.message}`);
      assert.equal(isTransientError(error), false, 'a host key refusal is never retried');
      await assertNothingWritten(siteB);
    } finally {
      await store.close();
    }
  });

  it('refuses a changed host key (another key pinned for this host:port)', async () => {
    // Site A's key, pinned under site B's address: what a rebuilt server or an interceptor looks like.
    const wrong = siteA.knownHosts.replace(`[127.0.0.1]:${siteA.port}`, `[127.0.0.1]:${siteB.port}`);
    const store = storeFor(siteB, { knownHosts: wrong });
    try {
      await assert.rejects(store.open(), (error: Error) => {
        assert.match(error.message, /host key verification failed/);
        assert.match(error.message, /does not match the ssh-ed25519 key pinned in ssh-known-hosts/);
        assert.ok(error.message.includes(fingerprintSha256(knownHostKey(siteB.knownHosts))));
        return true;
      });
      await assert.rejects(store.write('c', 'x.db', Readable.from([Buffer.from('x')])), /host key verification failed/);
      await assertNothingWritten(siteB);
    } finally {
      await store.close();
    }
  });

  it('refuses a revoked host key', async () => {
    const revoked = `${siteB.knownHosts}\n@revoked ${siteB.knownHosts}\n`;
    const store = storeFor(siteB, { knownHosts: revoked });
    try {
      await assert.rejects(store.open(), /marks @revoked/);
    } finally {
      await store.close();
    }
  });

  it('rejects an empty known_hosts up front', () => {
    assert.throws(() => storeFor(siteB, { knownHosts: '  \n' }), (error: Error) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /ssh-known-hosts is empty/);
      assert.ok(error.message.includes(`ssh-keyscan -p ${siteB.port} 127.0.0.1`));
      return true;
    });
  });

  it('refuses a client key the server does not accept', async () => {
    const dir = await fs.mkdtemp(join(tmpdir(), 'etcd-dr-key-'));
    const store = storeFor(siteB, { privateKey: (await makeClientKey(dir)).privateKey });
    try {
      await assert.rejects(store.open(), (error: Error) => {
        assert.match(error.message, new RegExp(`^sftp://root@127\\.0\\.0\\.1:${siteB.port}/.*: opening: `));
        assert.match(error.message, /authentication as root on 127\.0\.0\.1:\d+ failed: the server did not accept ssh-private-key/);
        assert.equal(isTransientError(error), false);
        return true;
      });
      await assertNothingWritten(siteB);
    } finally {
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a private key that cannot be parsed, before connecting', () => {
    assert.throws(() => storeFor(siteB, { privateKey: 'not a key' }), InputError);
  });

  it('reconnects after the connection drops, and the retry wrapper hides the drop', async () => {
    const store = storeFor(siteB);
    const retrying = withRetry(store, { attempts: 3, baseDelayMs: 50 });
    try {
      await writeSmallFile(store, 'c', 'x', Buffer.from('1'));
      await killSessions(siteB);
      // The first call after the drop may see it (transient) or may already reconnect; with retries it works.
      assert.deepEqual(
        (await retrying.list('c')).map((f) => f.name),
        ['x'],
      );
      assert.equal((await store.readFile('c', 'x')).toString(), '1');
    } finally {
      await store.close();
      await store.remove('c', 'x').finally(() => store.close());
    }
  });

  it('reports a stopped sshd as connection refused, naming the store, and reconnects once it is back', async () => {
    const store = storeFor(siteA);
    try {
      await writeSmallFile(store, 'c', 'before', Buffer.from('1'));
      await store.close();
      await siteA.stop();
      await assert.rejects(store.list('c'), (error: Error) => {
        assert.match(error.message, new RegExp(`^sftp://root@127\\.0\\.0\\.1:${siteA.port}/\\S+: listing c: `));
        assert.match(error.message, /connection refused/);
        assert.equal(isTransientError(error), true, 'a refused connection is worth retrying');
        return true;
      });
      await siteA.start();
      assert.deepEqual(
        (await store.list('c')).map((f) => f.name),
        ['before'],
      );
    } finally {
      await store.close();
    }
  });
});
