/**
 * The HTTP/2 snapshot reader against real etcd (both versions, plain and TLS + auth): the same database
 * as the grpc-js stream, clear errors for bad credentials, and an error (never a clean end) when the member
 * dies or goes silent mid-stream.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { connect, type EtcdAccess } from '../../src/etcd/connection.ts';
import { openSnapshot, type SnapshotOptions } from '../../src/etcd/snapshotStream.ts';
import { openSnapshotWithEtcd3 } from '../harness/etcd3Snapshot.ts';
import { SnapshotVerifier } from '../../src/snapshot/verifier.ts';
import { accessFor, keysInSnapshot, loadMegabytes } from '../harness/engine.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { tempDir } from '../harness/tmp.ts';

const MiB = 1 << 20;

interface Digest {
  readonly size: number;
  readonly sha256: string;
}

/** Drains `bytes` through etcd's trailer check into a hash; `onBytes` sees the running byte count. */
async function digest(bytes: Readable, onBytes: (total: number) => void = () => undefined): Promise<Digest> {
  const verifier = new SnapshotVerifier('test snapshot');
  const hash = createHash('sha256');
  let total = 0;
  await pipeline(
    bytes,
    verifier,
    new Writable({
      highWaterMark: MiB,
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        total += chunk.length;
        onBytes(total);
        callback();
      },
    }),
  );
  const sha256 = hash.digest('hex');
  assert.equal(verifier.result().sha256, sha256);
  return { size: total, sha256 };
}

async function http2Digest(access: EtcdAccess, endpoint: string, options: SnapshotOptions = {}, onBytes?: (total: number) => void): Promise<Digest> {
  const snapshot = await openSnapshot(access, endpoint, options);
  // Both at once: a failure rejects both, and each rejection must be handled.
  const [result] = await Promise.all([digest(snapshot.bytes, onBytes), snapshot.started]);
  return result;
}

async function collectFrom(bytes: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(bytes, new SnapshotVerifier('test snapshot'), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}

async function collect(access: EtcdAccess, endpoint: string): Promise<Buffer> {
  return collectFrom((await openSnapshot(access, endpoint)).bytes);
}

/** Indexes of the 4 KiB (bbolt) pages where two equally long buffers differ. */
function differingPages(a: Buffer, b: Buffer): number[] {
  const pages: number[] = [];
  for (let at = 0; at < a.length; at += 4096) {
    if (!a.subarray(at, at + 4096).equals(b.subarray(at, at + 4096))) pages.push(at / 4096);
  }
  return pages;
}

/** Fails the test if `promise` has not settled in `ms` (a hang is the bug these tests look for). */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms: hung`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

for (const version of ETCD_VERSIONS) {
  for (const secure of [false, true]) {
    const mode = secure ? 'TLS + auth' : 'plain';
    describe(`HTTP/2 snapshot: etcd ${version}, ${mode}`, () => {
      let cluster: EtcdCluster;
      let access: EtcdAccess;
      let endpoint: string;

      before(async () => {
        cluster = await startCluster({ version, members: 1, name: `h2snap-${version}-${secure ? 'tls' : 'plain'}`, tls: secure, auth: secure });
        access = accessFor(cluster);
        endpoint = cluster.endpoints[0] ?? '';
        await loadMegabytes(cluster, 20);
      });
      after(() => cluster?.stop());

      it('streams what etcd sent: trailer verified, and the same database as the grpc-js stream', async () => {
        // Two Snapshot calls never give identical bytes: each forces a bbolt commit first, which rewrites
        // the meta pages (txid, checksum) and the freelist. etcd's sha256 trailer proves each stream is
        // exactly what etcd sent (a dropped, repeated or reordered byte breaks it); comparing page by page
        // with the grpc-js stream proves the rest of the database is the same.
        const fresh = await collect(access, endpoint);
        const client = await connect(access, [endpoint]);
        let reference: Buffer;
        try {
          reference = await collectFrom((await openSnapshotWithEtcd3(client)).bytes);
        } finally {
          client.close();
        }
        assert.ok(fresh.length > 20 * MiB, `snapshot of ${fresh.length} bytes holds the 20 MiB loaded`);
        assert.equal(fresh.length, reference.length);
        const pages = differingPages(fresh, reference);
        assert.ok(pages.length <= 6, `only bbolt's bookkeeping pages differ, not ${pages.length}: ${pages.slice(0, 20).join(', ')}`);
        if (!secure) {
          // The restored snapshot holds every key (the check member runs without auth, hence plain only).
          const file = path.join(await tempDir('etcd-dr-h2snap-'), 'snapshot.db');
          await writeFile(file, fresh);
          try {
            assert.deepEqual(await keysInSnapshot(cluster, file), await cluster.getAll());
          } finally {
            await rm(path.dirname(file), { recursive: true, force: true });
          }
        }
      });

      if (secure) {
        it('reports a wrong password as etcd does', async () => {
          const wrong = { ...access, auth: { username: 'root', password: 'not-the-password' } };
          await within(
            10_000,
            assert.rejects(http2Digest(wrong, endpoint), /authenticating to etcd at .* as root: gRPC status INVALID_ARGUMENT \(3\): etcdserver: authentication failed, invalid user ID or password/),
          );
        });

        it("reports etcd's refusal of a snapshot without a token", async () => {
          // With client-cert auth etcd takes the certificate's CN as the user, which does not exist.
          const anonymous: EtcdAccess = { ...access, auth: undefined };
          await within(
            10_000,
            assert.rejects(http2Digest(anonymous, endpoint), /snapshot from etcd at .*: gRPC status [A-Z_]+ \(\d+\): auth: user not found/),
          );
        });

        it('fails, and does not hang, without a client certificate', async () => {
          const tls = access.tls;
          assert.ok(tls);
          const noCert: EtcdAccess = { ...access, tls: { ca: tls.ca } };
          const error = await within(10_000, http2Digest(noCert, endpoint).then(() => undefined, (e: unknown) => e));
          assert.ok(error instanceof Error, 'the snapshot fails');
          assert.match(error.message, /etcd at https:\/\/127\.0\.0\.1:\d+.*: .*(alert certificate required|alert bad certificate)/);
        });
      } else {
        it('fails fast when nothing listens', async () => {
          const closed = `http://127.0.0.1:${await freePort()}`;
          await within(5000, assert.rejects(http2Digest(access, closed), /connecting to etcd at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/));
        });

        it('errors when etcd goes silent mid-stream (keepalive pings)', async () => {
          const proxy = await freezableProxy(endpoint);
          try {
            let froze = false;
            const error = await within(
              15_000,
              http2Digest(access, proxy.endpoint, { keepaliveMs: 200, keepaliveTimeoutMs: 500 }, (total) => {
                if (!froze && total > 2 * MiB) {
                  froze = true;
                  proxy.freeze();
                }
              }).then(() => undefined, (e: unknown) => e),
            );
            assert.ok(froze, 'the proxy froze mid-stream');
            assert.ok(error instanceof Error, 'the stream errors instead of hanging');
            assert.match(error.message, /did not answer a ping within 500 ms/);
          } finally {
            proxy.close();
          }
        });
      }

      it('errors, never ends cleanly, when the member is killed mid-stream', async () => {
        await loadMegabytes(cluster, 100, '/registry/more/');
        const member = cluster.members[0];
        assert.ok(member);
        let killedAt = 0;
        const outcome = await within(
          30_000,
          http2Digest(access, endpoint, {}, (total) => {
            if (killedAt === 0 && total > 5 * MiB) {
              killedAt = total;
              member.kill();
            }
          }).then(
            (d) => d,
            (e: unknown) => e,
          ),
        );
        assert.ok(killedAt > 0, 'the member was killed while streaming');
        assert.ok(outcome instanceof Error, `the stream errors (got ${JSON.stringify(outcome)})`);
        assert.match(outcome.message, /snapshot from etcd at .*: /);
      });
    });
  }
}

/** A TCP proxy to `endpoint` that can stop forwarding without closing anything, like a dead host. */
async function freezableProxy(endpoint: string): Promise<{ endpoint: string; freeze(): void; close(): void }> {
  const target = new URL(endpoint);
  const sockets: net.Socket[] = [];
  let frozen = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.push(client, upstream);
    const forward = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (data: Buffer) => {
        if (!frozen) to.write(data);
      });
      from.on('error', () => to.destroy());
      from.on('close', () => {
        if (!frozen) to.destroy();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    freeze: () => {
      frozen = true;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
