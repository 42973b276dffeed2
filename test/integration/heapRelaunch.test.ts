/**
 * Issue 14, point 12: the backup's memory target holds when the action is used as the README shows, with
 * no `env:` (no NODE_OPTIONS): the backup entries re-execute node with the young-generation cap
 * (src/engine/relaunch.ts). A bundle of the current src/ is run the way a runner and an operator run it,
 * against real etcd and two real OpenSSH sites. A probe preloaded with `--import` (node keeps it across the
 * re-execution, like any flag of the caller's) records, in each node process that exits, its flags, its
 * environment's NODE_OPTIONS, its peak RSS (VmHWM and getrusage) and the largest new space V8 gave it.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BACKUP_START_ENV, JOURNAL_START_FLAGS, RELAUNCHED_ENV, YOUNG_GENERATION_FLAG } from '../../src/engine/heap.ts';
import { parseOutputFile, REPO_ROOT } from '../harness/actionRunner.ts';
import { loadMegabytes } from '../harness/engine.ts';
import { startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';

const MB = 1e6;
const MEMORY_TARGET_BYTES = 200 * MB;

/** What the probe wrote for one node process. */
interface ProcessRecord {
  readonly pid: number;
  readonly execArgv: readonly string[];
  readonly nodeOptions: string | null;
  readonly relaunched: string | null;
  readonly mallocArenaMax: string | null;
  readonly vmHwmKiB: number;
  readonly maxRssKiB: number;
  /** Largest new-space capacity seen (sampled every 10 ms and at exit), bytes. */
  readonly newSpaceMax: number;
}

const PROBE = `
import { readFileSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
if (process.env.PROBE_NO_EXECVE) process.execve = undefined;
writeFileSync(process.env.PROBE_DIR + '/' + process.pid + '.started', '');
let newSpaceMax = 0;
const sample = () => {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'new_space') newSpaceMax = Math.max(newSpaceMax, s.space_size);
};
setInterval(sample, 10).unref();
process.on('exit', () => {
  sample();
  const status = readFileSync('/proc/self/status', 'utf8');
  writeFileSync(process.env.PROBE_DIR + '/' + process.pid + '.json', JSON.stringify({
    pid: process.pid,
    execArgv: process.execArgv,
    nodeOptions: process.env.NODE_OPTIONS ?? null,
    relaunched: process.env.${RELAUNCHED_ENV} ?? null,
    mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? null,
    vmHwmKiB: Number(/VmHWM:\\s+(\\d+) kB/.exec(status)?.[1]),
    maxRssKiB: process.resourceUsage().maxRSS,
    newSpaceMax,
  }));
});
`;

interface Run {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly records: ProcessRecord[];
}

describe('a backup controls its own heap (no NODE_OPTIONS from the caller)', () => {
  let dist: string;
  let probe: string;
  let cluster: EtcdCluster;
  let sites: SftpSite[];
  let keyFile: string;
  let knownHostsFile: string;
  let work: string;

  before(async () => {
    work = await tempDir('etcd-dr-heap-');
    // A bundle of the current src/, as scripts/bundle.mjs makes dist/ (the bench does the same).
    const bundleDir = path.join(work, 'bundle');
    await mkdir(bundleDir);
    await symlink(path.join(REPO_ROOT, 'src'), path.join(bundleDir, 'src'));
    await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(bundleDir, 'node_modules'));
    const bundling = promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'scripts', 'bundle.mjs')], { cwd: bundleDir });
    dist = path.join(bundleDir, 'dist');
    probe = path.join(work, 'probe.mjs');
    await writeFile(probe, PROBE);
    const clientKey = await makeClientKey(path.join(work, 'key'));
    let dc1: SftpSite;
    let dc2: SftpSite;
    [cluster, dc1, dc2] = await Promise.all([
      startCluster({ version: '3.5', members: 1, name: 'heap' }),
      startSftpSite('heap-dc1', { clientKey }),
      startSftpSite('heap-dc2', { clientKey }),
    ]);
    sites = [dc1, dc2];
    await bundling;
    // A small database: most of a backup's peak is fixed (node, our code, stream buffers), ~140-180 MB here.
    await loadMegabytes(cluster, 4);
    keyFile = path.join(work, 'id_ed25519');
    knownHostsFile = path.join(work, 'known_hosts');
    await writeFile(keyFile, clientKey.privateKey, { mode: 0o600 });
    await writeFile(knownHostsFile, `${sites.map((s) => s.knownHosts).join('\n')}\n`);
  });

  after(async () => {
    await Promise.all([cluster?.stop(), ...(sites ?? []).map((s) => s.destroy())]);
  });

  /** The environment of a runner or an operator's shell: PATH and HOME, and no NODE_OPTIONS unless given. */
  function baseEnv(probeDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', PROBE_DIR: probeDir, ...extra };
  }

  /** node --import probe <args>, with `env`; `onStart` may signal it. Collects the probe's records. */
  async function runNode(args: readonly string[], env: NodeJS.ProcessEnv, onStart?: (pid: number) => void): Promise<Run> {
    const child = spawn(process.execPath, ['--import', probe, ...args], { env, cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    if (onStart) onStart(child.pid!);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    const probeDir = env['PROBE_DIR']!;
    const records = await Promise.all(
      (await readdir(probeDir))
        .filter((f) => f.endsWith('.json'))
        .map(async (f) => JSON.parse(await readFile(path.join(probeDir, f), 'utf8')) as ProcessRecord),
    );
    return { pid: child.pid!, code, signal, stdout, stderr, records };
  }

  async function probeDir(): Promise<string> {
    return tempDir('etcd-dr-heap-probe-');
  }

  function assertCappedAndSmall(run: Run): void {
    const details = `${JSON.stringify(run.records)}\n${run.stderr}`;
    assert.equal(run.records.length, 1, `one node process ran (re-executed in place): ${details}`);
    const worker = run.records[0]!;
    assert.equal(worker.pid, run.pid, 'the process the caller started did the work (same pid)');
    assert.ok(worker.execArgv.includes(YOUNG_GENERATION_FLAG), `the working node ran with ${YOUNG_GENERATION_FLAG}: ${details}`);
    assert.equal(worker.relaunched, YOUNG_GENERATION_FLAG);
    assert.equal(worker.mallocArenaMax, BACKUP_START_ENV['MALLOC_ARENA_MAX'], 'glibc was started with the backup\'s malloc arenas');
    // V8 reports a new space of up to about twice the semi-space (4-4.5 MiB capped at 2); by default it grows to 32 MiB and more.
    assert.ok(worker.newSpaceMax > 0 && worker.newSpaceMax <= 6 * 1024 * 1024, `new space at most ${worker.newSpaceMax} bytes`);
    assert.ok(worker.vmHwmKiB * 1024 < MEMORY_TARGET_BYTES, `peak RSS (VmHWM) ${((worker.vmHwmKiB * 1024) / MB).toFixed(0)} MB`);
    assert.ok(worker.maxRssKiB * 1024 < MEMORY_TARGET_BYTES, `peak RSS (getrusage) ${((worker.maxRssKiB * 1024) / MB).toFixed(0)} MB`);
  }

  function actionEnv(dir: string, output: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return baseEnv(dir, {
      GITHUB_OUTPUT: output,
      GITHUB_ACTIONS: 'true',
      RUNNER_TEMP: work,
      'INPUT_CLUSTER-NAME': 'heap',
      INPUT_STORES: sites.map((s) => s.url).join('\n'),
      'INPUT_SSH-PRIVATE-KEY': sites[0]!.privateKey,
      'INPUT_SSH-KNOWN-HOSTS': sites.map((s) => s.knownHosts).join('\n'),
      INPUT_ENDPOINTS: cluster.endpoints.join(','),
      INPUT_PRUNE: 'false',
      ...extra,
    });
  }

  function cliArgs(...more: string[]): string[] {
    return [
      path.join(dist, 'cli.js'),
      'backup',
      '--cluster-name', 'heap-cli',
      ...sites.flatMap((s) => ['--stores', s.url]),
      '--ssh-private-key-file', keyFile,
      '--ssh-known-hosts-file', knownHostsFile,
      '--endpoints', cluster.endpoints.join(','),
      '--prune', 'false',
      ...more,
    ];
  }

  it('the action\'s backup entry, started as a runner starts it, backs up in a node with the young-generation cap, under 200 MB', async () => {
    const dir = await probeDir();
    const output = path.join(work, 'github-output-backup');
    await writeFile(output, '');
    const run = await runNode([path.join(dist, 'backup.js')], actionEnv(dir, output));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const outputs = parseOutputFile(await readFile(output, 'utf8'));
    assert.equal(outputs['status'], 'success', JSON.stringify(outputs));
    assert.match(outputs['backup-name'] ?? '', /\S/, `GITHUB_OUTPUT still reaches the step: ${JSON.stringify(outputs)}`);
    assertCappedAndSmall(run);
  });

  it('the root action with command backup (the default) does the same; another command is not re-executed', async () => {
    const dir = await probeDir();
    const output = path.join(work, 'github-output-main');
    await writeFile(output, '');
    const run = await runNode([path.join(dist, 'main.js')], actionEnv(dir, output));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(parseOutputFile(await readFile(output, 'utf8'))['backup-name'] ?? '', /\S/);
    assertCappedAndSmall(run);

    const listDir = await probeDir();
    const list = await runNode([path.join(dist, 'main.js')], actionEnv(listDir, output, { INPUT_COMMAND: 'list' }));
    assert.equal(list.code, 0, list.stdout + list.stderr);
    assert.equal(list.records.length, 1);
    assert.deepEqual(list.records[0]!.execArgv, ['--import', probe], 'list runs as started');
    assert.equal(list.records[0]!.relaunched, null);
  });

  it('the CLI\'s backup does the same, with its exit code and its output', async () => {
    const dir = await probeDir();
    const run = await runNode(cliArgs(), baseEnv(dir));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^backup-name=\S+/m);
    assertCappedAndSmall(run);
  });

  it('keeps a caller\'s NODE_OPTIONS: other flags stay and the cap is added; their own --max-semi-space-size wins', async () => {
    const dir = await probeDir();
    const theirs = '--max-old-space-size=512 --no-deprecation';
    const run = await runNode(cliArgs(), baseEnv(dir, { NODE_OPTIONS: theirs }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assertCappedAndSmall(run);
    assert.equal(run.records[0]!.nodeOptions, theirs, 'NODE_OPTIONS passed on unchanged');

    const ownDir = await probeDir();
    const own = await runNode(cliArgs(), baseEnv(ownDir, { NODE_OPTIONS: '--max-semi-space-size=4' }));
    assert.equal(own.code, 0, own.stdout + own.stderr);
    assert.equal(own.records.length, 1);
    assert.equal(own.records[0]!.relaunched, null, 'not re-executed: the caller chose the young generation size');
    assert.ok(!own.records[0]!.execArgv.includes(YOUNG_GENERATION_FLAG));
  });

  it('the action\'s journal entry re-executes node with the follower\'s flags (young-generation and old-space caps, optimize-for-size), keeping a caller\'s NODE_OPTIONS', async () => {
    const dir = await probeDir();
    const output = path.join(work, 'github-output-journal');
    await writeFile(output, '');
    const theirs = '--no-deprecation';
    const env = actionEnv(dir, output, {
      'INPUT_CLUSTER-NAME': 'heap-journal',
      'INPUT_JOURNAL-MAX-RUNTIME': '3s',
      'INPUT_JOURNAL-FLUSH': '1',
      'INPUT_OPEN-ISSUE-ON-FAILURE': 'false',
      NODE_OPTIONS: theirs,
    });
    const run = await runNode([path.join(dist, 'journal.js')], env);
    const details = `${JSON.stringify(run.records)}\n${run.stdout}${run.stderr}`;
    assert.equal(run.code, 0, details);
    assert.equal(run.records.length, 1, `one node process ran (re-executed in place): ${details}`);
    const worker = run.records[0]!;
    assert.equal(worker.pid, run.pid, 'the process the runner started did the work (same pid)');
    for (const flag of JOURNAL_START_FLAGS) assert.ok(worker.execArgv.includes(flag), `the follower ran with ${flag}: ${details}`);
    assert.equal(worker.relaunched, JOURNAL_START_FLAGS.join(' '));
    assert.equal(worker.nodeOptions, theirs, 'NODE_OPTIONS passed on unchanged');
    assert.ok(worker.newSpaceMax > 0 && worker.newSpaceMax <= 6 * 1024 * 1024, `new space at most ${worker.newSpaceMax} bytes`);
  });

  it('without process.execve (Windows), a child node does the work: stdio, exit code and the cap pass through', async () => {
    const dir = await probeDir();
    const run = await runNode(cliArgs(), baseEnv(dir, { PROBE_NO_EXECVE: '1' }));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^backup-name=\S+/m, 'the child\'s stdout reaches the caller');
    const worker = run.records.find((r) => r.pid !== run.pid);
    assert.ok(worker, `a child process did the work: ${JSON.stringify(run.records)}`);
    assert.ok(worker.execArgv.includes(YOUNG_GENERATION_FLAG));
    assert.ok(worker.vmHwmKiB * 1024 < MEMORY_TARGET_BYTES, `child peak RSS ${((worker.vmHwmKiB * 1024) / MB).toFixed(0)} MB`);

    const badDir = await probeDir();
    const bad = await runNode(cliArgs('--no-such-flag', 'x'), baseEnv(badDir, { PROBE_NO_EXECVE: '1' }));
    assert.equal(bad.code, 2, 'bad usage: the child\'s exit code 2 is the caller\'s');
    assert.match(bad.stderr, /no-such-flag/);
  });

  it('without process.execve, SIGTERM to the process the caller started reaches the child doing the work', async () => {
    // An etcd endpoint that accepts connections and never answers keeps the backup busy until the signal.
    const port = await freePort();
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
    try {
      const dir = await probeDir();
      const args = cliArgs().map((a) => (a === cluster.endpoints.join(',') ? `http://127.0.0.1:${port}` : a));
      let childPid: number | undefined;
      let poll: NodeJS.Timeout | undefined;
      const run = await runNode(args, baseEnv(dir, { PROBE_NO_EXECVE: '1' }), (pid) => {
        // Signal once the child node has started (the probe marks each node process it starts in).
        poll = setInterval(async () => {
          const started = (await readdir(dir)).filter((f) => f.endsWith('.started')).map((f) => Number.parseInt(f, 10));
          childPid = started.find((p) => p !== pid);
          if (childPid !== undefined) {
            clearInterval(poll);
            process.kill(pid, 'SIGTERM');
          }
        }, 50);
      });
      clearInterval(poll);
      assert.ok(childPid !== undefined, 'a child node started');
      assert.equal(run.signal, 'SIGTERM', `the caller sees the work end by SIGTERM (code ${run.code}): ${run.stderr}`);
      // Neither process ran its exit handlers: both died of the signal, the child first.
      assert.deepEqual(run.records, []);
      assert.throws(() => process.kill(childPid!, 0), /ESRCH/, 'the child is gone');
    } finally {
      silent.close();
    }
  });
});
