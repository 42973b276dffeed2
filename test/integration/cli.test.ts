/**
 * The break-glass CLI (`dist/cli.js`, as shipped), run as a child process the way an operator runs it
 * when GitHub is down: no GITHUB_* environment, credentials from files, two real OpenSSH sites and a
 * real etcd. dist/ is kept built by the lead; these tests do not build it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../harness/actionRunner.ts';
import { startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { makeClientKey, startSftpSite, type ClientKey, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';

const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of an operator's shell: no GITHUB_*, no ETCDCTL_*, no ETCD_DR_* settings. */
function operatorEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(GITHUB_|ETCDCTL_|ETCD_DR_|INPUT_|RUNNER_)/.test(name)) env[name] = value;
  }
  return env;
}

function cli(args: readonly string[], timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: operatorEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `name=value` lines the CLI prints after the summary. */
function printedOutputs(stdout: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([a-z][a-z-]*)=(.*)$/.exec(line);
    if (m) outputs[m[1]!] = m[2]!;
  }
  return outputs;
}

describe('the break-glass CLI (dist/cli.js)', () => {
  let cluster: EtcdCluster;
  let clientKey: ClientKey;
  let dc1: SftpSite;
  let dc2: SftpSite;
  let storeFlags: string[];
  let backupName: string;

  before(async () => {
    const dir = await tempDir('etcd-dr-cli-');
    clientKey = await makeClientKey(path.join(dir, 'key'));
    [cluster, dc1, dc2] = await Promise.all([
      startCluster({ version: '3.5', members: 1, name: 'cli' }),
      startSftpSite('cli-dc1', { clientKey }),
      startSftpSite('cli-dc2', { clientKey }),
    ]);
    await cluster.put('/registry/namespaces/kube-system', '{"kind":"Namespace"}');
    const keyFile = path.join(dir, 'etcd-dr.key');
    const knownHostsFile = path.join(dir, 'etcd-dr.known_hosts');
    await writeFile(keyFile, clientKey.privateKey, { mode: 0o600 });
    await writeFile(knownHostsFile, `${dc1.knownHosts}\n${dc2.knownHosts}\n`);
    storeFlags = ['--stores', dc1.url, '--stores', dc2.url, '--ssh-private-key-file', keyFile, '--ssh-known-hosts-file', knownHostsFile];
  });

  after(async () => {
    await Promise.all([cluster?.stop(), dc1?.destroy(), dc2?.destroy()]);
  });

  it('backup to two SFTP sites with key and known_hosts files exits 0 and prints backup-name=', async () => {
    const run = await cli(['backup', '--cluster-name', 'breakglass', '--endpoints', cluster.endpoints.join(','), ...storeFlags]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const outputs = printedOutputs(run.stdout);
    assert.equal(outputs['status'], 'success');
    assert.equal(outputs['stores-ok'], '2');
    backupName = outputs['backup-name'] ?? '';
    assert.match(backupName, /^breakglass-\d{8}T\d{6}Z-cli-0-r\d+$/);
    assert.match(run.stdout, /## etcd backup: success/);
    for (const site of [dc1, dc2]) {
      const files = await readdir(path.join(site.root, 'breakglass'));
      assert.ok(files.includes(`${backupName}.json`) && files.includes(`${backupName}.db.zst`), `${site.name}: ${files.join(', ')}`);
    }
    assert.ok(!run.stdout.includes('PRIVATE KEY') && !run.stderr.includes('PRIVATE KEY'), 'the private key is never printed');
  });

  it('list prints the backup and the sites holding it', async () => {
    assert.ok(backupName, 'the backup test ran first');
    const run = await cli(['list', '--cluster-name', 'breakglass', ...storeFlags]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /## etcd backups of breakglass/);
    assert.ok(run.stdout.includes(backupName), run.stdout);
    const backups = JSON.parse(printedOutputs(run.stdout)['backups'] ?? '[]') as { name: string; sites: string[]; consistent: boolean }[];
    assert.deepEqual(
      backups.map((b) => [b.name, [...b.sites].sort(), b.consistent]),
      [[backupName, [dc1.url, dc2.url].sort(), true]],
    );
  });

  it('status writes the last run as Prometheus text for node-exporter’s textfile collector', async () => {
    assert.ok(backupName, 'the backup test ran first');
    const file = path.join(await tempDir('etcd-dr-prom-'), 'etcd_dr.prom');
    const run = await cli(['status', '--cluster-name', 'breakglass', ...storeFlags, '--status-file', file]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const metrics = await readFile(file, 'utf8');
    assert.match(metrics, /^# TYPE etcd_dr_last_success_timestamp_seconds gauge$/m);
    assert.match(metrics, /^etcd_dr_last_outcome\{cluster="breakglass",outcome="success"\} 1$/m);
    assert.match(metrics, new RegExp(`^etcd_dr_site_up\\{cluster="breakglass",store="${dc1.url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"\\} 1$`, 'm'));
    const stdout = await cli(['status', '--cluster-name', 'breakglass', ...storeFlags]);
    assert.match(stdout.stdout, /^etcd_dr_last_backup_revision\{cluster="breakglass"\} \d+$/m);
  });

  it('a failed backup exits 1 and says the failure is not reported to GitHub', async () => {
    const run = await cli(['backup', '--cluster-name', 'breakglass', '--endpoints', `http://127.0.0.1:${await freePort()}`, ...storeFlags]);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.equal(printedOutputs(run.stdout)['status'], 'failed');
    assert.match(run.stderr, /error: backup failed: no etcd member could be snapshotted/);
    assert.match(run.stderr, /no GitHub token or repository/);
  });

  it('--help documents every command and the store flags, and exits 0', async () => {
    const run = await cli(['--help']);
    assert.equal(run.code, 0);
    for (const command of ['backup', 'restore', 'verify', 'list', 'prune', 'watchdog']) {
      assert.match(run.stdout, new RegExp(`^  ${command} `, 'm'), `--help documents ${command}`);
    }
    for (const flag of ['--stores', '--ssh-private-key-file', '--ssh-known-hosts-file', '--cluster-name', '--keep-last']) {
      assert.ok(run.stdout.includes(flag), `--help documents ${flag}`);
    }
    assert.match(run.stdout, /Exit codes: 0 success, 1 failed or degraded, 2 bad usage/);
  });

  it('an unknown flag exits 2 naming the flag, before touching anything', async () => {
    const before = await readdir(path.join(dc1.root, 'breakglass'));
    const run = await cli(['backup', '--cluster-name', 'breakglass', '--endpoints', cluster.endpoints[0]!, '--keep-lats', '5', ...storeFlags]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /--keep-lats/);
    assert.match(run.stderr, /etcd-dr --help/);
    assert.equal(run.stdout, '');
    assert.deepEqual(await readdir(path.join(dc1.root, 'breakglass')), before);
  });

  it('an unknown command exits 2 and lists the commands', async () => {
    const run = await cli(['snapshot', ...storeFlags]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown command "snapshot"/);
    assert.match(run.stderr, /backup, restore, verify, list, prune, watchdog/);
  });

  it('a backup name that is not in the catalog exits 2 (bad input found after parsing), naming it', async () => {
    const missing = 'breakglass-20200101T000000Z-etcd-0-r1';
    const run = await cli(['verify', '--cluster-name', 'breakglass', '--backup', missing, ...storeFlags]);
    assert.equal(run.code, 2, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stderr, new RegExp(`backup ${missing} is not in the catalog of cluster breakglass`));
  });

  it('a bad store URL exits 2 naming its line, before touching any site', async () => {
    const before = await readdir(path.join(dc1.root, 'breakglass'));
    const run = await cli([
      'backup',
      '--cluster-name',
      'breakglass',
      '--endpoints',
      cluster.endpoints[0]!,
      ...storeFlags,
      '--stores',
      'ftp://backup@dc3.example.com/srv/etcd',
    ]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /stores line 3 "ftp:\/\/backup@dc3\.example\.com\/srv\/etcd" is not valid/);
    assert.match(run.stderr, /sftp:\/\/user@host\[:port\]\/path/);
    assert.deepEqual(await readdir(path.join(dc1.root, 'breakglass')), before, 'nothing was written to dc1');
  });
});
