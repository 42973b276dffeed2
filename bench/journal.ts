/**
 * `npm run bench:journal`: the journal under a steady Kubernetes-like load (issue 12).
 *
 * One etcd 3.5 member, two real OpenSSH sites on this machine. A load of BENCH_JOURNAL_RATE writes/s
 * (default 200) of 1-2 KiB values (puts of new keys, updates, deletes, two-key transactions, keys on short
 * leases) runs for BENCH_JOURNAL_SECONDS (default 60) twice: without a follower, then with one `journal`
 * follower (a fresh bundle of src/, default flush 5 s) publishing to both sites. Reported:
 *   - write -> both sites: for every acknowledged revision, the time from etcd's acknowledgement to its
 *     segment's manifest being visible on BOTH sites (the sites' directories are polled every 50 ms), p50/p99;
 *   - the follower's peak RSS (VmHWM, whole run), its highest RSS and its CPU (utime+stime over wall time, in %
 *     of one core) at the steady load; the steady figures start once the follower has caught up with the
 *     backlog of the first load (reported apart: time, CPU, RSS);
 *   - etcd's own request latency (the load's put/txn round trips) p50/p99, without and with the follower.
 * BENCH_JOURNAL_NODE_FLAGS: node flags for the follower (e.g. a heap cap), to compare.
 * Report: stdout and bench/results/journal-latest.md (BENCH_OUT to write elsewhere).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../src/commands/index.ts';
import { connect } from '../src/etcd/connection.ts';
import { accessFor } from '../test/harness/engine.ts';
import { startCluster } from '../test/harness/etcd.ts';
import { commandDeps, etcdInputs, settingsFrom, siteInputs } from '../test/harness/settings.ts';
import { makeClientKey, startSftpSite } from '../test/harness/sftp.ts';
import type { Etcd3 } from 'etcd3';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RATE = Number(process.env['BENCH_JOURNAL_RATE'] ?? 200);
const SECONDS = Number(process.env['BENCH_JOURNAL_SECONDS'] ?? 60);
const FLUSH = process.env['BENCH_JOURNAL_FLUSH'] ?? '5';
const OUT = process.env['BENCH_OUT'] ?? path.join(REPO_ROOT, 'bench', 'results', 'journal-latest.md');

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface LoadResult {
  /** revision -> acknowledged at (ms) */
  readonly acked: Map<number, number>;
  /** round-trip of every request, ms */
  readonly latencies: number[];
  readonly lastRevision: number;
}

/** Open-loop at RATE/s: each request starts on schedule, whatever the previous one took (as kube-apiserver's many clients). */
async function load(client: Etcd3, seconds: number, tag: string): Promise<LoadResult> {
  const acked = new Map<number, number>();
  const latencies: number[] = [];
  const live: string[] = [];
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  const total = Math.round(seconds * RATE);
  let lastRevision = 0;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const value = `{"kind":"Pod","i":${i},"spec":"${'x'.repeat(1024 + ((i * 37) % 1024))}"}`;
    const kind = i % 10;
    const t0 = performance.now();
    const op = async (): Promise<string> => {
      if (kind < 4 || live.length < 10) {
        const key = `/registry/${tag}/pods/ns-${i % 7}/pod-${i}`;
        live.push(key);
        return (await client.put(key).value(value).exec()).header.revision;
      }
      if (kind < 7) return (await client.put(live[i % live.length]!).value(value).exec()).header.revision;
      if (kind === 7) return (await client.delete().key(live.splice(i % live.length, 1)[0]!).exec()).header.revision;
      if (kind === 8) {
        const res = await client.if(live[i % live.length]!, 'Version', '>', 0).then(client.put(`/registry/${tag}/events/ev-${i}`).value(value)).commit();
        return res.header.revision;
      }
      return (await client.lease(5, { autoKeepAlive: false }).put(`/registry/${tag}/leases/node-${i}`).value(value).exec()).header.revision;
    };
    inflight.push(
      op().then(
        (rev) => {
          const now = performance.now();
          latencies.push(now - t0);
          acked.set(Number(rev), Date.now());
          lastRevision = Math.max(lastRevision, Number(rev));
        },
        () => undefined,
      ),
    );
  }
  await Promise.all(inflight);
  return { acked, latencies, lastRevision };
}

/** Polls the sites' journal folders; records when each segment manifest first appeared on each site. */
function watchSites(roots: readonly string[]): { seen: Map<string, number>[]; stop: () => void } {
  const seen = roots.map(() => new Map<string, number>());
  const timer = setInterval(() => {
    roots.forEach((root, i) => {
      let files: string[] = [];
      try {
        files = readdirSync(path.join(root, 'bench', 'journal'));
      } catch {
        return;
      }
      for (const f of files) if (/-j\d{19}-\d{19}\.json$/.test(f) && !seen[i]!.has(f)) seen[i]!.set(f, Date.now());
    });
  }, 50);
  return { seen, stop: () => clearInterval(timer) };
}

function procStat(pid: number): { cpuMs: number; hwmKb: number; rssKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tick = 100; // USER_HZ on Linux
  const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / tick;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuMs, hwmKb: kb('VmHWM'), rssKb: kb('VmRSS') };
}

async function prepareCli(dir: string): Promise<string> {
  if (process.env['BENCH_CLI']) return path.resolve(REPO_ROOT, process.env['BENCH_CLI']);
  const bundleDir = path.join(dir, 'bundle');
  await mkdir(bundleDir, { recursive: true });
  await symlink(path.join(REPO_ROOT, 'src'), path.join(bundleDir, 'src'));
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(bundleDir, 'node_modules'));
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'bundle.mjs')], { cwd: bundleDir, stdio: ['ignore', 'ignore', 'pipe'] });
  return path.join(bundleDir, 'dist', 'cli.js');
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'etcd-dr-bench-journal-'));
  const clientKey = await makeClientKey(path.join(dir, 'key'));
  const [cluster, site1, site2] = await Promise.all([
    startCluster({ version: '3.5', members: 1, name: 'bj' }),
    startSftpSite('bj-dc1', { clientKey }),
    startSftpSite('bj-dc2', { clientKey }),
  ]);
  const sites = [site1, site2];
  let follower: ReturnType<typeof spawn> | undefined;
  try {
    const cli = await prepareCli(dir);
    const inputs = { ...etcdInputs(cluster), ...siteInputs(sites), 'cluster-name': 'bench', 'open-issue-on-failure': 'false' };
    const backup = await runCommand('backup', settingsFrom(inputs), commandDeps({ realSleep: true }));
    if (backup.outcome !== 'success') throw new Error(`backup: ${backup.failure}`);
    const client = await connect(accessFor(cluster));
    const backupRevision = Number((await client.maintenance.status()).header.revision);

    console.log(`without the follower: ${RATE} writes/s for ${SECONDS} s`);
    const baseline = await load(client, SECONDS, 'a');

    const keyFile = path.join(dir, 'id');
    const knownHosts = path.join(dir, 'known_hosts');
    await writeFile(keyFile, site1.privateKey, { mode: 0o600 });
    await writeFile(knownHosts, sites.map((s) => s.knownHosts).join('\n'));
    follower = spawn(
      process.execPath,
      [...(process.env['BENCH_JOURNAL_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== ''), cli, 'journal', '--cluster-name', 'bench', '--endpoints', cluster.endpoints[0]!, '--stores', site1.url, '--stores', site2.url,
        '--ssh-private-key-file', keyFile, '--ssh-known-hosts-file', knownHosts, '--journal-flush', FLUSH, '--journal-max-runtime', '1h', '--temp-dir', dir],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    follower.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const pid = follower.pid!;
    const sitesWatch = watchSites(sites.map((s) => s.root));
    const covered = (i: number): number => Math.max(0, ...[...sitesWatch.seen[i]!.keys()].map((f) => Number(/-(\d{19})\.json$/.exec(f)![1])));
    const onBothSites = async (revision: number, timeoutMs: number): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && (covered(0) < revision || covered(1) < revision)) await new Promise((r) => setTimeout(r, 100));
    };
    // Catch-up: the follower starts behind (the first load ran without it) and publishes that backlog
    // first. Measured apart: the steady figures below start once the backlog is on both sites.
    const catchUpStart = Date.now();
    await onBothSites(baseline.lastRevision, 120_000);
    const catchUp = { seconds: (Date.now() - catchUpStart) / 1000, revisions: baseline.lastRevision - backupRevision, ...procStat(pid) };
    const cpuStart = procStat(pid).cpuMs;
    const wallStart = Date.now();
    let steadyRssKb = 0;
    const rssSampler = setInterval(() => (steadyRssKb = Math.max(steadyRssKb, procStat(pid).rssKb)), 200);
    console.log(`with the follower (flush ${FLUSH} s): ${RATE} writes/s for ${SECONDS} s`);
    const withFollower = await load(client, SECONDS, 'b');
    const cpuMs = procStat(pid).cpuMs - cpuStart;
    const wallMs = Date.now() - wallStart;
    clearInterval(rssSampler);
    // Wait for the last revision on both sites.
    await onBothSites(withFollower.lastRevision, 60_000);
    sitesWatch.stop();
    const hwmKb = procStat(pid).hwmKb;
    const visible = (rev: number): number | undefined => {
      const times = sitesWatch.seen.map((m) => {
        for (const [f, at] of m) {
          const [, first, last] = /-j(\d{19})-(\d{19})\.json$/.exec(f)!;
          if (rev >= Number(first) && rev <= Number(last)) return at;
        }
        return undefined;
      });
      return times.some((t) => t === undefined) ? undefined : Math.max(...(times as number[]));
    };
    const delays: number[] = [];
    let missing = 0;
    for (const [rev, at] of withFollower.acked) {
      const v = visible(rev);
      if (v === undefined) missing++;
      else delays.push(v - at);
    }
    client.close();
    follower.kill('SIGTERM');
    await new Promise((r) => follower!.once('exit', r));

    const row = (label: string, r: LoadResult): string => `| ${label} | ${r.acked.size} | ${percentile(r.latencies, 50).toFixed(1)} | ${percentile(r.latencies, 99).toFixed(1)} |`;
    const report = [
      `# Journal bench (${new Date().toISOString()})`,
      '',
      `etcd 3.5, one member; two OpenSSH sites on this machine; ${RATE} writes/s of 1-2 KiB values for ${SECONDS} s; journal-flush ${FLUSH} s; ${os.cpus().length} cores.`,
      '',
      '| write -> segment on both sites | p50 | p99 | max | revisions not on both sites |',
      '| --- | --- | --- | --- | --- |',
      `| seconds | ${(percentile(delays, 50) / 1000).toFixed(2)} | ${(percentile(delays, 99) / 1000).toFixed(2)} | ${(Math.max(...delays) / 1000).toFixed(2)} | ${missing} |`,
      '',
      '| follower at the steady load | peak RSS (VmHWM, whole run) | highest RSS at the steady load | CPU (% of one core) |',
      '| --- | --- | --- | --- |',
      `| journal | ${(hwmKb / 1024).toFixed(0)} MB | ${(steadyRssKb / 1024).toFixed(0)} MB | ${((cpuMs / wallMs) * 100).toFixed(1)} % |`,
      '',
      `Catch-up before that (the follower started ${catchUp.revisions} revisions behind, the first load's): on both sites ` +
        `after ${catchUp.seconds.toFixed(1)} s, ${(catchUp.cpuMs / 1000).toFixed(1)} s of CPU since start, RSS ${(catchUp.rssKb / 1024).toFixed(0)} MB then.`,
      '',
      '| etcd request latency (load round trips) | requests | p50 ms | p99 ms |',
      '| --- | --- | --- | --- |',
      row('without the follower', baseline),
      row('with the follower', withFollower),
      '',
      `p99 with / without: ${(percentile(withFollower.latencies, 99) / percentile(baseline.latencies, 99)).toFixed(2)}x`,
      '',
    ].join('\n');
    console.log(report);
    await mkdir(path.dirname(OUT), { recursive: true });
    await writeFile(OUT, report);
  } finally {
    follower?.kill('SIGKILL');
    await Promise.all([cluster.stop(), site1.destroy(), site2.destroy()]);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
process.exit();
