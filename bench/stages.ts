/**
 * Each stage of our backup pipeline alone, in this process, with the project's own modules, next to
 * the tool the baseline uses for the same job. Not part of the headline numbers: it says where the
 * time of an end-to-end run goes (etcd stream into the spool vs etcdctl, zstd, age, SFTP vs scp).
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { connect } from '../src/etcd/connection.ts';
import { openSnapshot } from '../src/etcd/snapshotStream.ts';
import { openSnapshotWithEtcd3 } from '../test/harness/etcd3Snapshot.ts';
import { compressor, encryptStream } from '../src/snapshot/codec.ts';
import { Spool } from '../src/snapshot/spool.ts';
import { SnapshotVerifier } from '../src/snapshot/verifier.ts';
import { abortStaged, stageObject } from '../src/repository/publish.ts';
import { openStores, type Store } from '../src/stores/index.ts';
import { assertOk, runTimed, type TimedRun } from './measure.ts';
import { scpArgs, type BenchContext } from './scenarios.ts';

const ZSTD_CLI = '/usr/bin/zstd';
/** Uploads read the spool in 1 MiB pieces (src/snapshot/spool.ts); the default 64 KiB made ssh2 twice as slow. */
const SPOOL_READS = { highWaterMark: 1 << 20 };

export interface StageResult {
  readonly stage: string;
  readonly seconds: number;
  /** CPU seconds (user + sys) of this process during the stage, all threads (zstd runs on libuv's pool) */
  readonly cpuSeconds?: number;
  /** bytes the stage read (its input) */
  readonly bytes: number;
  readonly note?: string;
}

/** Times an in-process step: wall seconds and this process's CPU seconds. */
export async function timed<T>(step: () => Promise<T>): Promise<{ seconds: number; cpuSeconds: number; value: T }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = await step();
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6, value };
}

function cpuOf(run: TimedRun): { cpuSeconds?: number } {
  return run.cpuSeconds !== undefined ? { cpuSeconds: run.cpuSeconds } : {};
}

/** Counts bytes and drops them. */
export function sink(): Writable & { bytes: number } {
  const w = new Writable({
    highWaterMark: 4 << 20,
    write(chunk: Buffer, _enc, cb) {
      w.bytes += chunk.length;
      cb();
    },
  }) as Writable & { bytes: number };
  w.bytes = 0;
  return w;
}

export async function probeStages(ctx: BenchContext): Promise<StageResult[]> {
  const dir = path.join(ctx.work, 'stages');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const raw = path.join(dir, 'snapshot.raw');
  const obj = path.join(dir, 'snapshot.db.zst');
  const results: StageResult[] = [];
  const stores: Store[] = openStores(ctx.sites.map((s) => s.url).join('\n'), {
    sshPrivateKey: await readFile(ctx.keyFile, 'utf8'),
    sshKnownHosts: await readFile(ctx.knownHostsFile, 'utf8'),
  });
  try {
    // 1. The snapshot stream alone (no hashing, no disk), as the backup opens it.
    const access = { endpoints: [ctx.endpoint], callTimeoutMs: 10_000 };
    {
      const out = sink();
      const { seconds, cpuSeconds } = await timed(async () => pipeline((await openSnapshot(access, ctx.endpoint)).bytes, out));
      results.push({ stage: 'etcd snapshot stream → /dev/null (ours: node:http2 reader)', seconds, cpuSeconds, bytes: out.bytes });
    }
    // 1b. Reference: the same stream through etcd3 → grpc-js → protobufjs (the path the backup used before).
    {
      const client = await connect(access);
      try {
        const out = sink();
        const { seconds, cpuSeconds } = await timed(async () => pipeline((await openSnapshotWithEtcd3(client)).bytes, out));
        results.push({ stage: 'etcd snapshot stream → /dev/null (reference: etcd3/grpc-js client)', seconds, cpuSeconds, bytes: out.bytes });
      } finally {
        client.close();
      }
    }
    // 2. The stream with the trailer check (sha256) into a file: etcdctl's job, and the input of the stages below.
    {
      const spool = await Spool.create(raw);
      const verifier = new SnapshotVerifier('bench');
      const { seconds, cpuSeconds } = await timed(async () => pipeline((await openSnapshot(access, ctx.endpoint)).bytes, verifier, spool.writer()));
      await spool.close();
      results.push({ stage: 'etcd snapshot stream → verifier → file (ours)', seconds, cpuSeconds, bytes: verifier.result().size });
    }
    // 3. etcdctl's equivalent (its own file write, fsync and hash check).
    {
      const file = path.join(dir, 'etcdctl.db');
      const run = assertOk(
        await runTimed(ctx.etcd.etcdctl, [`--endpoints=${ctx.endpoint}`, 'snapshot', 'save', file], {
          env: { ...ctx.env, ETCDCTL_API: '3' },
          measure: true,
          timeFile: path.join(dir, 'time'),
        }),
        'etcdctl snapshot save',
      );
      results.push({ stage: 'etcdctl snapshot save (baseline)', seconds: run.seconds, ...cpuOf(run), bytes: (await stat(file)).size });
      await rm(file, { force: true });
    }
    const rawBytes = (await stat(raw)).size;
    // 4. Our compressor as src configures it, from the raw file (node runs it on one libuv thread).
    {
      const { seconds, cpuSeconds } = await timed(() => pipeline(createReadStream(raw, { highWaterMark: 1 << 20 }), compressor('zstd')!, createWriteStream(obj)));
      const objBytes = (await stat(obj)).size;
      results.push({ stage: "compressor('zstd') raw → object (ours, as src configures it)", seconds, cpuSeconds, bytes: rawBytes, note: `ratio ${(objBytes / rawBytes).toFixed(3)}` });
    }
    // 4b. Reference points: node's zstd at level 3 with 1 MiB output chunks (node's default chunk is
    // 16 KiB, one thread-pool round trip each), and the zstd command line at levels 1 and 3.
    {
      const other = path.join(dir, 'other.zst');
      const big = zlib.createZstdCompress({ chunkSize: 1 << 20, params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } });
      const { seconds, cpuSeconds } = await timed(() => pipeline(createReadStream(raw, { highWaterMark: 1 << 20 }), big, createWriteStream(other)));
      results.push({ stage: 'node zstd level 3, chunkSize 1 MiB (reference)', seconds, cpuSeconds, bytes: rawBytes, note: `ratio ${((await stat(other)).size / rawBytes).toFixed(3)}` });
      for (const level of existsSync(ZSTD_CLI) ? ['-1', '-3'] : []) {
        const run = assertOk(
          await runTimed(ZSTD_CLI, ['-q', level, '-T1', '-f', '-o', other, raw], { env: ctx.env, measure: true, timeFile: path.join(dir, 'time') }),
          'zstd',
        );
        results.push({ stage: `zstd command line ${level} -T1 (native reference)`, seconds: run.seconds, ...cpuOf(run), bytes: rawBytes, note: `ratio ${((await stat(other)).size / rawBytes).toFixed(3)}` });
      }
      await rm(other, { force: true });
    }
    const objBytes = (await stat(obj)).size;
    // 5. age encryption of the compressed object.
    {
      const out = sink();
      const { seconds, cpuSeconds } = await timed(async () => pipeline(await encryptStream(createReadStream(obj, { highWaterMark: 1 << 20 }), [ctx.recipient]), out));
      results.push({ stage: 'age encrypt object → /dev/null (ours)', seconds, cpuSeconds, bytes: objBytes });
    }
    // 6. SFTP upload of the object: one site, then both at once; scp of the same file for comparison.
    const site1 = ctx.sites[0]!;
    const store1 = stores[0]!;
    await store1.open();
    {
      const { seconds, cpuSeconds } = await timed(async () => abortStaged(await stageObject(store1, 'stages', 'one.db.zst', createReadStream(obj, SPOOL_READS))));
      results.push({ stage: `SFTP upload object → ${site1.name} (ours, ssh2)`, seconds, cpuSeconds, bytes: objBytes });
    }
    {
      const run = assertOk(await runTimed('scp', scpArgs(ctx, site1, obj), { env: ctx.env, measure: true, timeFile: path.join(dir, 'time') }), 'scp');
      results.push({ stage: `scp object → ${site1.name} (OpenSSH)`, seconds: run.seconds, ...cpuOf(run), bytes: objBytes });
      await rm(path.join(site1.root, path.basename(obj)), { force: true });
    }
    {
      await Promise.all(stores.map((s) => s.open()));
      const { seconds, cpuSeconds } = await timed(() =>
        Promise.all(stores.map(async (s, i) => abortStaged(await stageObject(s, 'stages', `both${i}.db.zst`, createReadStream(obj, SPOOL_READS))))),
      );
      results.push({ stage: 'SFTP upload object → both sites at once (ours)', seconds, cpuSeconds, bytes: objBytes * stores.length });
    }
    {
      const { seconds, cpuSeconds } = await timed(async () => abortStaged(await stageObject(store1, 'stages', 'raw.db', createReadStream(raw, SPOOL_READS))));
      results.push({ stage: `SFTP upload raw snapshot → ${site1.name} (ours, ssh2)`, seconds, cpuSeconds, bytes: rawBytes });
    }
    {
      const run = assertOk(await runTimed('scp', scpArgs(ctx, site1, raw), { env: ctx.env, measure: true, timeFile: path.join(dir, 'time') }), 'scp');
      results.push({ stage: `scp raw snapshot → ${site1.name} (OpenSSH)`, seconds: run.seconds, ...cpuOf(run), bytes: rawBytes });
      await rm(path.join(site1.root, path.basename(raw)), { force: true });
    }
  } finally {
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
    for (const site of ctx.sites) await rm(path.join(site.root, 'stages'), { recursive: true, force: true });
  }
  return results;
}
