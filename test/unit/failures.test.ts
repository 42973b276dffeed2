/**
 * base/failures.ts against the texts the real components produce: ssh2 (a refused port, a server that never
 * answers the handshake, an sshd refusing the key), etcd's gRPC client (nothing listening), age (a wrong
 * identity, a flipped bit) and etcdutl (a snapshot whose database does not match its trailer). No mocks: each
 * error below comes from running the component.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import {
  isAgeCorruption,
  isAgeWrongIdentity,
  isEtcdUnreachable,
  isHostKeyRefusal,
  isNotFound,
  isPermissionDenied,
  isSnapshotHashMismatch,
  isTransient,
  sshConnectFailure,
} from '../../src/base/failures.ts';
import { NotFoundError, messageOf } from '../../src/errors.ts';
import { connect } from '../../src/etcd/connection.ts';
import { decryptStream, encryptStream } from '../../src/snapshot/codec.ts';
import { LocalStore } from '../../src/stores/local.ts';
import { SftpStore, type SftpLocation } from '../../src/stores/sftp.ts';
import { parseStoreUrl } from '../../src/stores/url.ts';
import { etcdBinaries, startCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { makeClientKey, startSftpSite } from '../harness/sftp.ts';

const run = promisify(execFile);
const haveSshd = existsSync('/usr/sbin/sshd');

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => assert.fail('expected a failure'),
    (error: unknown) => error as Error,
  );
}

/** The error the component itself threw, below our context wrappers. */
function rootCause(error: unknown): unknown {
  let current = error;
  while (current instanceof Error && current.cause !== undefined) current = current.cause;
  return current;
}

async function drain(stream: Readable): Promise<void> {
  for await (const chunk of stream) void chunk;
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

function sftpStoreAt(url: string, privateKey: string, knownHosts: string): SftpStore {
  return new SftpStore({ location: parseStoreUrl(url) as SftpLocation, privateKey, knownHosts, readyTimeoutMs: 1000 });
}

describe('failures: ssh2', { skip: haveSshd ? false : 'needs /usr/sbin/sshd' }, () => {
  it('a refused port is transient and named as refused', async () => {
    const site = await startSftpSite('failures-refused');
    cleanups.push(() => site.destroy());
    await site.stop();
    const store = sftpStoreAt(site.url, site.privateKey, site.knownHosts);
    const error = await rejection(store.list('c'));
    await store.close();
    assert.match(messageOf(error), /connection refused/);
    assert.equal(isTransient(error), true);
    assert.equal(sshConnectFailure(error.cause), 'refused');
    assert.equal(isHostKeyRefusal(error), false);
  });

  it('a server that never answers the handshake is transient and named as a timeout', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => silent.close(() => resolve())));
    const port = (silent.address() as net.AddressInfo).port;
    const site = await startSftpSite('failures-silent');
    cleanups.push(() => site.destroy());
    const known = site.knownHosts.replace(/^\[127\.0\.0\.1\]:\d+/, `[127.0.0.1]:${port}`);
    const store = sftpStoreAt(`sftp://root@127.0.0.1:${port}/srv`, site.privateKey, known);
    const error = await rejection(store.list('c'));
    await store.close();
    assert.match(messageOf(rootCause(error)), /Timed out while waiting for handshake/);
    assert.equal(isTransient(error), true);
    assert.equal(sshConnectFailure(rootCause(error)), 'timeout');
  });

  it('a key the server refuses is permanent and named as an authentication failure', async () => {
    const site = await startSftpSite('failures-auth');
    cleanups.push(() => site.destroy());
    const dir = await fs.mkdtemp(join(tmpdir(), 'etcd-dr-failures-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const store = sftpStoreAt(site.url, (await makeClientKey(dir)).privateKey, site.knownHosts);
    const error = await rejection(store.open());
    await store.close();
    assert.match(messageOf(rootCause(error)), /All configured authentication methods failed/);
    assert.equal(isTransient(error), false);
    assert.equal(sshConnectFailure(rootCause(error)), 'authentication');
  });

  it('a host key that does not match is a host key refusal, never transient', async () => {
    const [a, b] = await Promise.all([startSftpSite('failures-hk-a'), startSftpSite('failures-hk-b')]);
    cleanups.push(() => a.destroy(), () => b.destroy());
    const wrong = a.knownHosts.replace(`[127.0.0.1]:${a.port}`, `[127.0.0.1]:${b.port}`);
    const store = sftpStoreAt(b.url, b.privateKey, wrong);
    const error = await rejection(store.open());
    await store.close();
    assert.equal(isHostKeyRefusal(error), true);
    assert.equal(isTransient(error), false);
  });
});

describe('failures: local files', () => {
  it('a missing file is not found, an unwritable folder is permission denied; neither is transient', async () => {
    const root = await fs.mkdtemp(join(tmpdir(), 'etcd-dr-failures-'));
    cleanups.push(() => fs.rm(root, { recursive: true, force: true }));
    const store = new LocalStore(root);
    const missing = await rejection(store.readFile('c', 'nothing.json'));
    assert.ok(missing instanceof NotFoundError);
    assert.equal(isNotFound(missing), true);
    assert.equal(isTransient(missing), false);
    // root ignores directory permissions: a permission error then comes from a path it cannot write either.
    const denied =
      process.getuid?.() === 0
        ? await rejection(fs.writeFile('/sys/kernel/notes', 'x')) // read-only even for root: EACCES
        : await (async () => {
            await fs.mkdir(join(root, 'locked'), { mode: 0o500 });
            return rejection(store.write('locked', 'x', Readable.from([Buffer.from('x')])));
          })();
    assert.equal(isPermissionDenied(denied), true, messageOf(denied));
    assert.equal(isTransient(denied), false);
  });
});

describe('failures: etcd gRPC', () => {
  it('an endpoint where nothing listens is unreachable (and transient), as etcd3 reports it', async () => {
    const port = await freePort();
    const client = await connect({ endpoints: [`http://127.0.0.1:${port}`], callTimeoutMs: 2000 });
    try {
      const error = await rejection(client.maintenance.status());
      assert.equal(isEtcdUnreachable(error), true, messageOf(error));
    } finally {
      client.close();
    }
  });
});

describe('failures: age', () => {
  it('a wrong identity and a flipped bit are told apart', async () => {
    const [right, wrong] = [await generateIdentity(), await generateIdentity()];
    const encrypted = await encryptStream(Readable.from([Buffer.alloc(200_000, 7)]), [await identityToRecipient(right)]);
    const chunks: Buffer[] = [];
    for await (const chunk of encrypted) chunks.push(chunk as Buffer);
    const ciphertext = Buffer.concat(chunks);

    const wrongIdentity = await rejection(decryptStream(Readable.from([ciphertext]), [wrong]).then(drain));
    assert.equal(messageOf(wrongIdentity), "no identity matched any of the file's recipients");
    assert.equal(isAgeWrongIdentity(wrongIdentity), true);
    assert.equal(isAgeCorruption(wrongIdentity), false);

    const flipped = Buffer.from(ciphertext);
    flipped[flipped.length - 1000] = flipped[flipped.length - 1000]! ^ 0xff;
    const corrupt = await rejection(decryptStream(Readable.from([flipped]), [right]).then(drain));
    assert.equal(isAgeCorruption(corrupt), true, messageOf(corrupt));
    assert.equal(isAgeWrongIdentity(corrupt), false);
  });
});

describe('failures: etcdutl', () => {
  it('a snapshot whose database does not match its trailer is a hash mismatch', async () => {
    const cluster = await startCluster({ version: '3.5', members: 1, name: 'failures' });
    cleanups.push(() => cluster.stop());
    await cluster.put('k', 'v');
    const snapshot = join(cluster.dir, 'snap.db');
    await cluster.etcdctl(['snapshot', 'save', snapshot]);
    const bytes = await fs.readFile(snapshot);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff; // inside the 32-byte sha256 trailer's database
    await fs.writeFile(snapshot, bytes);
    const { etcdutl } = etcdBinaries('3.5');
    const error = await rejection(run(etcdutl!, ['snapshot', 'restore', snapshot, '--data-dir', join(cluster.dir, 'restored')]));
    const stderr = (error as Error & { stderr?: string }).stderr ?? '';
    assert.equal(isSnapshotHashMismatch(new Error(stderr)), true, stderr);
  });
});
