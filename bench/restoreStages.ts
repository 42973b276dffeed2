/**
 * Each step of our restore alone, in this process, with the project's own modules, next to the tool
 * the baseline uses for the same job: where the time of `restore --dry-run` goes (SFTP download via
 * ssh2 vs scp, zstd decompression, age, etcd's trailer check). etcdutl's own time is in the end-to-end
 * rows (the same binary runs in both). Reads what prepareRestore put on site 1.
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import SftpClient from 'ssh2-sftp-client';
import { decompressor, decryptStream, parseIdentities } from '../src/snapshot/codec.ts';
import { SnapshotTrailer, SnapshotVerifier } from '../src/snapshot/verifier.ts';
import { openStores, type Store } from '../src/stores/index.ts';
import { assertOk, runTimed, type TimedRun } from './measure.ts';
import { scpGetArgs, type BenchContext } from './scenarios.ts';
import { sink, timed, type StageResult } from './stages.ts';

const ZSTD_CLI = '/usr/bin/zstd';

function cpuOf(run: TimedRun): { cpuSeconds?: number } {
  return run.cpuSeconds !== undefined ? { cpuSeconds: run.cpuSeconds } : {};
}

export async function probeRestoreStages(ctx: BenchContext): Promise<StageResult[]> {
  const fixture = ctx.restore;
  if (!fixture) throw new Error('probeRestoreStages without prepareRestore');
  const dir = path.join(ctx.work, 'restore-stages');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const site1 = ctx.sites[0]!;
  const objectRemote = path.join(site1.root, fixture.zstd.cluster, fixture.zstd.objectFile);
  const ageRemote = path.join(site1.root, fixture.age.cluster, fixture.age.objectFile);
  const obj = path.join(dir, 'object.db.zst');
  const ageObj = path.join(dir, 'object.db.zst.age');
  const raw = path.join(dir, 'snapshot.db');
  const results: StageResult[] = [];
  const [store]: Store[] = openStores(site1.url, {
    sshPrivateKey: await readFile(ctx.keyFile, 'utf8'),
    sshKnownHosts: await readFile(ctx.knownHostsFile, 'utf8'),
  });
  const scp = async (remote: string, local: string, stage: string, bytes: number): Promise<void> => {
    const run = assertOk(await runTimed('scp', scpGetArgs(ctx, site1, remote, local), { env: ctx.env, measure: true, timeFile: path.join(dir, 'time') }), 'scp');
    results.push({ stage, seconds: run.seconds, ...cpuOf(run), bytes });
  };
  try {
    await store!.open();
    // 1. Download of the stored object: ours (ssh2 read stream, as fetchSnapshot opens it), ssh2's
    // parallel fastGet (reference), scp.
    {
      const out = sink();
      const { seconds, cpuSeconds } = await timed(async () => pipeline(await store!.download(fixture.zstd.cluster, fixture.zstd.objectFile), out));
      results.push({ stage: 'SFTP download object → /dev/null (ours: store.download, ssh2 read stream)', seconds, cpuSeconds, bytes: out.bytes });
    }
    {
      const client = new SftpClient();
      await client.connect({
        host: site1.host,
        port: site1.port,
        username: site1.user,
        privateKey: await readFile(ctx.keyFile, 'utf8'),
        hostVerifier: () => true, // loopback, reference only
      });
      try {
        const target = path.join(dir, 'fastget.db.zst');
        const { seconds, cpuSeconds } = await timed(() => client.fastGet(objectRemote, target));
        results.push({ stage: 'SFTP fastGet object → file (reference: ssh2, 64 reads in flight)', seconds, cpuSeconds, bytes: (await stat(target)).size });
        await rm(target, { force: true });
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    await scp(objectRemote, obj, 'scp object → file (OpenSSH)', fixture.zstd.objectBytes);
    {
      const out = sink();
      const { seconds, cpuSeconds } = await timed(async () => pipeline(await store!.download('raw', 'snapshot.db'), out));
      results.push({ stage: 'SFTP download raw snapshot → /dev/null (ours: ssh2 read stream)', seconds, cpuSeconds, bytes: out.bytes });
    }
    await scp(fixture.rawRemotePath, raw, 'scp raw snapshot → file (OpenSSH, the baseline\'s step)', fixture.rawBytes);

    // 2. Decompression, from the local object: ours as src configures it, node with 1 MiB output chunks, zstd -d.
    {
      const out = sink();
      const { seconds, cpuSeconds } = await timed(() => pipeline(createReadStream(obj, { highWaterMark: 1 << 20 }), decompressor('zstd')!, out));
      results.push({ stage: "decompressor('zstd') object → /dev/null (ours, as src configures it)", seconds, cpuSeconds, bytes: fixture.zstd.objectBytes });
    }
    {
      const out = sink();
      const { seconds, cpuSeconds } = await timed(() =>
        pipeline(createReadStream(obj, { highWaterMark: 1 << 20 }), zlib.createZstdDecompress({ chunkSize: 1 << 20 }), out),
      );
      results.push({ stage: 'node zstd decompress, chunkSize 1 MiB → /dev/null (reference)', seconds, cpuSeconds, bytes: fixture.zstd.objectBytes });
    }
    if (existsSync(ZSTD_CLI)) {
      const run = assertOk(await runTimed(ZSTD_CLI, ['-q', '-d', '-f', '-o', '/dev/null', obj], { env: ctx.env, measure: true, timeFile: path.join(dir, 'time') }), 'zstd -d');
      results.push({ stage: 'zstd -d command line → /dev/null (native reference)', seconds: run.seconds, ...cpuOf(run), bytes: fixture.zstd.objectBytes });
    }
    // 3. The sha256 of the whole snapshot, which etcdutl computes during its restore: the restore leaves it
    //    to etcdutl (src/restore/fetch.ts), so this is what hashing in-process as well would cost.
    {
      const verifier = new SnapshotVerifier('bench');
      const { seconds, cpuSeconds } = await timed(() => pipeline(createReadStream(raw, { highWaterMark: 1 << 20 }), verifier, sink()));
      results.push({ stage: 'SnapshotVerifier raw → /dev/null (sha256 + trailer; the restore leaves this hash to etcdutl)', seconds, cpuSeconds, bytes: verifier.result().size });
    }
    // 4. The whole local chain of the download step, without the network: object → zstd → trailer → file.
    {
      const target = path.join(dir, 'restored.db');
      const trailer = new SnapshotTrailer('bench');
      const { seconds, cpuSeconds } = await timed(() =>
        pipeline(createReadStream(obj, { highWaterMark: 1 << 20 }), decompressor('zstd')!, trailer, createWriteStream(target, { mode: 0o600 })),
      );
      results.push({ stage: 'object file → decompressor → trailer → snapshot file (ours, no network)', seconds, cpuSeconds, bytes: fixture.zstd.objectBytes });
      await rm(target, { force: true });
    }
    {
      const target = path.join(dir, 'restored.db');
      const trailer = new SnapshotTrailer('bench');
      const { seconds, cpuSeconds } = await timed(() =>
        pipeline(
          createReadStream(obj, { highWaterMark: 1 << 20 }),
          zlib.createZstdDecompress({ chunkSize: 1 << 20 }),
          trailer,
          createWriteStream(target, { mode: 0o600 }),
        ),
      );
      results.push({ stage: 'the same chain, zstd decompress with chunkSize 1 MiB (reference)', seconds, cpuSeconds, bytes: fixture.zstd.objectBytes });
      await rm(target, { force: true });
    }
    // 5. age decryption of the encrypted object.
    {
      await scp(ageRemote, ageObj, 'scp age object → file (OpenSSH)', fixture.age.objectBytes);
      const identities = parseIdentities(await readFile(ctx.identityFile, 'utf8'));
      const out = sink();
      const { seconds, cpuSeconds } = await timed(async () => pipeline(await decryptStream(createReadStream(ageObj, { highWaterMark: 1 << 20 }), identities), out));
      results.push({ stage: 'age decrypt object → /dev/null (ours)', seconds, cpuSeconds, bytes: fixture.age.objectBytes });
    }
  } finally {
    await store!.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}
