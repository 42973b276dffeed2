/** Glue between the harness's real clusters/sites and the engine's options, shared by integration tests. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { EtcdAccess } from '../../src/etcd/connection.ts';
import { runBackup, type BackupDeps, type BackupOptions } from '../../src/backup/backup.ts';
import type { Log } from '../../src/base/log.ts';
import type { Manifest } from '../../src/repository/manifest.ts';
import type { Store } from '../../src/stores/store.ts';
import { freePort } from './ports.ts';
import { run } from './process.ts';
import { startMemberProcess, memberFlags, type EtcdCluster } from './etcd.ts';
import { tempDir } from './tmp.ts';

export function accessFor(cluster: EtcdCluster, endpoints: readonly string[] = cluster.endpoints): EtcdAccess {
  return {
    endpoints,
    callTimeoutMs: 3000,
    ...(cluster.tls
      ? { tls: { ca: readFileSync(cluster.tls.caFile), cert: readFileSync(cluster.tls.certFile), key: readFileSync(cluster.tls.keyFile) } }
      : {}),
    ...(cluster.auth ? { auth: cluster.auth } : {}),
  };
}

export function backupOptionsFor(cluster: EtcdCluster, overrides: Partial<BackupOptions> = {}): BackupOptions {
  return {
    cluster: 'test',
    etcd: accessFor(cluster),
    compression: 'zstd',
    recipients: [],
    tempDir: os.tmpdir(),
    holder: 'integration-test',
    lockTtlSeconds: 10,
    maxAttempts: 3,
    ...overrides,
  };
}

/** A log that keeps what it was told, for assertions. */
export function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  // ETCD_DR_TEST_LOG=1 also prints every line, timed, to stderr: to see what a command did in a failing test.
  const echo = process.env['ETCD_DR_TEST_LOG'] ? (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`) : undefined;
  const record = (line: string): void => {
    lines.push(line);
    echo?.(line);
  };
  return {
    lines,
    info: (m) => record(`info: ${m}`),
    warning: (m) => record(`warning: ${m}`),
    error: (m) => record(`error: ${m}`),
  };
}

export function deps(stores: readonly Store[], log: Log = recordingLog()): BackupDeps {
  return { stores, now: () => new Date(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), log };
}

/** A backup the test needs as its starting point: fails the test (with the run's problem) unless it succeeded. */
export async function successfulBackup(cluster: EtcdCluster, stores: readonly Store[], overrides: Partial<BackupOptions> = {}): Promise<Manifest> {
  const result = await runBackup(backupOptionsFor(cluster, overrides), deps(stores));
  assert.equal(result.status, 'success', result.problem);
  return result.manifest!;
}

/**
 * Restores a raw (decompressed) snapshot file with etcd's own tool, starts a one-member etcd on it and
 * returns every key it holds, so tests check a backup the way an operator would.
 */
export async function keysInSnapshot(cluster: EtcdCluster, snapshotFile: string): Promise<Map<string, string>> {
  const dir = await tempDir('etcd-dr-check-');
  const dataDir = path.join(dir, 'data');
  const clientUrl = `http://127.0.0.1:${await freePort()}`;
  const peerUrl = `http://127.0.0.1:${await freePort()}`;
  const restoreFlags = [`--data-dir=${dataDir}`, '--name=check', `--initial-cluster=check=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`];
  const b = cluster.binaries;
  if (b.etcdutl) await run(b.etcdutl, ['snapshot', 'restore', snapshotFile, ...restoreFlags]);
  else await run(b.etcdctl, ['snapshot', 'restore', snapshotFile, ...restoreFlags], { env: { ...process.env, ETCDCTL_API: '3' } });
  const member = await startMemberProcess(
    b,
    memberFlags({ name: 'check', dataDir, clientUrl, peerUrl, initialCluster: `check=${peerUrl}`, token: 'check', state: 'new' }),
    { clientUrl, logFile: path.join(dir, 'etcd.log') },
  );
  try {
    const out = await run(b.etcdctl, [`--endpoints=${clientUrl}`, 'get', '', '--prefix', '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' } });
    const parsed = JSON.parse(out.stdout) as { kvs?: Array<{ key: string; value: string }> };
    return new Map((parsed.kvs ?? []).map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString()]));
  } finally {
    await member.stop();
  }
}

/** Decompresses a stored `.db.zst` object into a raw snapshot file next to it. */
export async function unpackObject(objectPath: string): Promise<string> {
  const raw = path.join(await tempDir('etcd-dr-raw-'), 'snapshot.db');
  const data = await readFile(objectPath);
  const unpacked = objectPath.endsWith('.zst') ? await promisify(zlib.zstdDecompress)(data) : objectPath.endsWith('.gz') ? zlib.gunzipSync(data) : data;
  await writeFile(raw, unpacked);
  return raw;
}

/** Writes about `megabytes` MiB of incompressible values under `prefix`, a few writers at a time. */
export async function loadMegabytes(cluster: EtcdCluster, megabytes: number, prefix = '/registry/blobs/'): Promise<void> {
  const { connect } = await import('../../src/etcd/connection.ts');
  const { randomBytes } = await import('node:crypto');
  const client = await connect(accessFor(cluster));
  try {
    const value = randomBytes(1 << 20);
    let next = 0;
    const writer = async (): Promise<void> => {
      while (next < megabytes) {
        const i = next++;
        await client.put(`${prefix}${String(i).padStart(6, '0')}`).value(value);
      }
    };
    await Promise.all([writer(), writer(), writer(), writer()]);
  } finally {
    client.close();
  }
}
