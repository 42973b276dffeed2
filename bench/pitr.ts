/**
 * `npm run bench:pitr`: how fast point-in-time restore replays the journal, against restoring the base
 * backup alone.
 *
 * One etcd 3.5 member (BENCH_PITR_VERSION=3.4 for 3.4) is grown to BENCH_PITR_BASE_MIB (default 256) of
 * Kubernetes-shaped values (1-2 KiB), snapshotted (the base), then written on until the journal holds
 * BENCH_PITR_REVISIONS revisions (default 20000: updates, creates, deletes, 3-operation transactions, keys
 * on leases) while a recorder keeps every revision as the journal would. The writing goes as fast as etcd
 * takes it (BENCH_PITR_WRITERS in flight, default 32; the source runs without fsync): how fast the journal
 * was written does not change what it holds, and the scale (one hour at 200 writes/s = 720,000
 * revisions) would otherwise take an hour to record. Then, BENCH_PITR_REPS times (default 2):
 *   base alone   etcd's restore of the base into scratch space and a throwaway etcd serving it (what the
 *                drill and the restore's staging cost without a journal);
 *   replay       the same, plus every recorded revision applied as one transaction, plus the snapshot of
 *                the result (src/restore/replay.ts: what a point-in-time restore adds).
 * Reported: medians, the replay rate (revisions/s of the difference) and the ratio. The records come from
 * memory: downloading, decrypting and parsing segments is not in it (the reader streams them ahead of the
 * replay). No timed assertions: numbers only, to bench/results/pitr-latest.md (BENCH_OUT to change).
 *
 * Also reported: the restore time for the base plus one hour of journal at BENCH_PITR_HOUR_RATE writes/s
 * (default 200, the bench's write load): measured when the run holds that many revisions, otherwise
 * extrapolated from the replay rate and labelled so. The recorded journal stays in memory (~2.4 KB a
 * revision): the full hour needs NODE_OPTIONS=--max-old-space-size=8192 (bench/README.md).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect } from '../src/etcd/connection.ts';
import { silentLog } from '../src/base/log.ts';
import type { EtcdTools } from '../src/restore/etcdTools.ts';
import { waitServing } from '../src/restore/check.ts';
import { replayToSnapshot } from '../src/restore/replay.ts';
import { execRunner } from '../src/restore/service.ts';
import { runSnapshotRestore } from '../src/restore/snapshotRestore.ts';
import { DRILL_MEMBER, drillPeerUrl, startThrowawayEtcd } from '../src/restore/throwawayEtcd.ts';
import { startCluster, type EtcdVersion } from '../test/harness/etcd.ts';
import { startRecorder } from '../test/journal/replay-recorder.ts';

const MIB = 1 << 20;
const version = (process.env['BENCH_PITR_VERSION'] ?? '3.5') as EtcdVersion;
const baseMib = Number(process.env['BENCH_PITR_BASE_MIB'] ?? 256);
const revisions = Number(process.env['BENCH_PITR_REVISIONS'] ?? 20_000);
const reps = Number(process.env['BENCH_PITR_REPS'] ?? 2);
const writers = Number(process.env['BENCH_PITR_WRITERS'] ?? 32);
const hourRate = Number(process.env['BENCH_PITR_HOUR_RATE'] ?? 200);
const out = process.env['BENCH_OUT'] ?? path.join(path.dirname(new URL(import.meta.url).pathname), 'results', 'pitr-latest.md');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function value(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE((seed * 2654435761 + i * 40503) >>> 0, Math.min(i, size - 4));
  return b;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  // The source keeps every revision (nothing compacts it): past etcd's 2 GiB default quota at the issue's
  // scale. No fsync: the source's durability is not what is measured, and it writes the journal faster.
  const cluster = await startCluster({ version, members: 1, name: 'bench-pitr', extraFlags: ['--quota-backend-bytes=17179869184', '--unsafe-no-fsync'] });
  const b = cluster.binaries;
  const tools: EtcdTools = { version: b.version, etcd: b.etcd, etcdctl: b.etcdctl, ...(b.etcdutl ? { etcdutl: b.etcdutl } : {}), binDir: b.binDir, source: 'bin-dir' };
  const work = await mkdtemp(path.join(os.tmpdir(), 'etcd-dr-bench-pitr-'));
  const client = await connect({ endpoints: cluster.endpoints, callTimeoutMs: 60_000 });
  try {
    // The base: ~baseMib of 1-2 KiB values, written 100 per transaction, 8 writers.
    const keys = Math.ceil((baseMib * MIB) / 1536);
    let next = 0;
    const writer = async (): Promise<void> => {
      while (next < keys) {
        const from = next;
        next += 100;
        await client.kv.txn({
          success: Array.from({ length: Math.min(100, keys - from) }, (_, j) => ({
            request_put: { key: Buffer.from(`/registry/pods/ns-${(from + j) % 50}/pod-${from + j}`), value: value(1024 + ((from + j) % 1024), from + j) },
          })),
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, writer));
    const baseFile = path.join(work, 'base.db');
    // etcdctl without the harness's 30 s limit: a 1 GiB base can take longer to stream.
    await execRunner(1_800_000)(b.etcdctl, [`--endpoints=${cluster.endpoints[0]!}`, 'snapshot', 'save', baseFile]);
    const baseRevision = Number((await client.maintenance.status()).header.revision);
    const recorder = await startRecorder(cluster.endpoints[0]!, baseRevision + 1);

    // The journal: a Kubernetes-like mix, `writers` writes in flight (etcd orders them; each is one
    // revision, except a delete of a key already gone), until the journal holds `revisions` revisions.
    const lease = (await client.leaseClient.leaseGrant({ TTL: 3600 })).ID;
    const wanted = baseRevision + revisions;
    let issued = 0;
    let created = keys;
    let reached = baseRevision;
    const note = (response: { header: { revision: string } }): void => {
      reached = Math.max(reached, Number(response.header.revision));
    };
    const journalWriter = async (): Promise<void> => {
      // Stop issuing once the writes in flight will take the journal to `wanted`.
      while (reached + writers < wanted) {
        const i = issued++;
        const pick = i % 20;
        const key = `/registry/pods/ns-${i % 50}/pod-${(i * 7919) % keys}`;
        if (pick < 12) note(await client.put(key).value(value(1024 + (i % 1024), i)).exec());
        else if (pick < 16) note(await client.put(`/registry/pods/ns-${i % 50}/new-${created++}`).value(value(1500, i)).exec());
        else if (pick < 18) note(await client.delete().key(`/registry/pods/ns-${i % 50}/new-${created - 1 - (i % 10)}`).exec());
        else if (pick === 18) {
          note(
            await client.kv.txn({
              success: [0, 1, 2].map((j) => ({ request_put: { key: Buffer.from(`/registry/endpointslices/s-${(i + j) % 500}`), value: value(800, i + j) } })),
            }),
          );
        } else note(await client.put(`/registry/events/ns-${i % 50}/e-${i}`).value(value(600, i)).lease(lease).exec());
      }
    };
    const journalStarted = Date.now();
    await Promise.all(Array.from({ length: writers }, journalWriter));
    // The last few revisions one at a time, so the journal holds exactly `revisions` (when none overshot).
    for (let i = 0; reached < wanted; i++) note(await client.put(`/registry/pods/ns-0/last-${i}`).value(value(1024, i)).exec());
    const journalSeconds = (Date.now() - journalStarted) / 1000;
    const final = Number((await client.maintenance.status()).header.revision);
    await recorder.waitFor(final);
    await recorder.stop();
    const replayed = recorder.records.filter((r) => r.rev > baseRevision);
    const events = replayed.reduce((n, r) => n + r.events.length, 0);

    const baseAlone: number[] = [];
    const withReplay: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      {
        const dir = path.join(work, `alone-${rep}`);
        await mkdir(dir);
        const started = Date.now();
        const peerUrl = await drillPeerUrl();
        const member = { name: DRILL_MEMBER, initialCluster: `${DRILL_MEMBER}=${peerUrl}`, initialAdvertisePeerUrls: peerUrl, initialClusterToken: 'bench' };
        await runSnapshotRestore(execRunner(), tools, baseFile, path.join(dir, 'data'), member, undefined);
        const etcd = await startThrowawayEtcd(tools, path.join(dir, 'data'), peerUrl);
        await waitServing({ endpoints: [etcd.clientUrl], callTimeoutMs: 10_000 }, etcd.clientUrl, { timeoutMs: 60_000, sleep, dead: () => etcd.exitedWith() });
        await etcd.stop();
        baseAlone.push((Date.now() - started) / 1000);
        await rm(dir, { recursive: true, force: true });
      }
      {
        const dir = path.join(work, `replay-${rep}`);
        await mkdir(dir);
        const started = Date.now();
        const report = await replayToSnapshot(
          {
            snapshotFile: baseFile,
            records: recorder.iterate(),
            leases: recorder.leases,
            target: { revision: final, time: new Date(recorder.at(final).at) },
            expireLeases: true,
            tools,
            run: execRunner(),
            scratchDir: dir,
            log: silentLog,
            sleep,
          },
          path.join(dir, 'replayed.db'),
        );
        withReplay.push((Date.now() - started) / 1000);
        if (report.revision !== final) throw new Error(`replay reached ${report.revision}, not ${final}`);
        await rm(dir, { recursive: true, force: true });
      }
    }
    const alone = median(baseAlone);
    const replay = median(withReplay);
    const rate = replayed.length / Math.max(0.001, replay - alone);
    const hourRevisions = 3600 * hourRate;
    const hourMeasured = replayed.length >= hourRevisions;
    // Measured when this run held the hour; otherwise the base alone plus the hour at the measured rate.
    const hourTotal = hourMeasured ? replay : alone + hourRevisions / rate;
    const minutes = (s: number): string => `${(s / 60).toFixed(1)} min`;
    const lines = [
      `# Point-in-time replay (etcd ${version}, ${new Date().toISOString()})`,
      '',
      `Base: ${keys} keys of 1-2 KiB (~${baseMib} MiB of values), revision ${baseRevision}. Journal: ${replayed.length} revisions, ${events} events`,
      `(written in ${journalSeconds.toFixed(1)} s by ${writers} writers: ${(replayed.length / journalSeconds).toFixed(0)} revisions/s). Medians of ${reps} runs.`,
      '',
      '| | seconds |',
      '| --- | ---: |',
      `| base alone (etcd's restore + throwaway etcd serving) | ${alone.toFixed(1)} |`,
      `| base + replay of the journal + snapshot of the result | ${replay.toFixed(1)} |`,
      '',
      `Replay rate: **${rate.toFixed(0)} revisions/s** (${(events / Math.max(0.001, replay - alone)).toFixed(0)} events/s); replay / base alone: ${(replay / alone).toFixed(2)}x.`,
      '',
      `Restore time for a ~${baseMib} MiB base plus one hour of journal at ${hourRate} writes/s (${hourRevisions} revisions), ` +
        (hourMeasured
          ? `measured (this run's journal holds ${replayed.length} revisions): **${minutes(hourTotal)}** (${hourTotal.toFixed(0)} s), against ${alone.toFixed(1)} s for the base alone.`
          : `extrapolated from this run's replay rate (the journal here holds ${replayed.length} revisions; set BENCH_PITR_REVISIONS=${hourRevisions} to measure it): ~${minutes(hourTotal)}, against ${alone.toFixed(1)} s for the base alone.`),
      '',
      `Runs: base alone ${baseAlone.map((x) => x.toFixed(1)).join(', ')} s; with replay ${withReplay.map((x) => x.toFixed(1)).join(', ')} s.`,
    ];
    const text = `${lines.join('\n')}\n`;
    process.stdout.write(text);
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, text);
  } finally {
    client.close();
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
