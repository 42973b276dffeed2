/**
 * Issue 14, points 9 and 10: a compromised node cannot destroy the backups. Two real OpenSSH sites are set up
 * as the docs say (one account, one key per role, restricted in authorized_keys: the nodes' key append-only
 * with `internal-sftp -P remove,rmdir`, a retention key that may delete, a read-only watchdog key with
 * `internal-sftp -R`; see SITE_KEY_OPTIONS). Backups, healing, retention, the watchdog, list and status run
 * in-process against a real etcd; what each key may do is also checked with OpenSSH's own `sftp` client, so
 * the proof does not rest on our code.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { statusCommand } from '../../src/cli/status.ts';
import { runCommand, type CommandReport } from '../../src/commands/index.ts';
import type { Outputs } from '../../src/config/names.ts';
import { startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { commandDeps, etcdInputs, settingsFrom, siteInputs, testClock, type InputValues } from '../harness/settings.ts';
import { makeClientKey, startSplitSftpSite, type ClientKey, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const CLUSTER = 'split';
const SKIPPED = /retention skipped on (\S+): the site account may not delete \(permission denied\); prune runs with the delete-capable key/g;

function outputOf(report: CommandReport, name: `${Outputs}`): string {
  const value = report.outputs[name as Outputs];
  assert.ok(value !== undefined, `output ${name} is set: ${JSON.stringify(report.outputs)}\n${report.summary}`);
  return value;
}

/** The backup files (manifests and objects) in the cluster's folder on a site, read from its disk, sorted. */
async function backupFilesOn(site: SftpSite): Promise<string[]> {
  const files = await readdir(path.join(site.root, CLUSTER)).catch(() => [] as string[]);
  return files.filter((f) => f.startsWith(`${CLUSTER}-`)).sort();
}

async function allFilesOn(site: SftpSite): Promise<string[]> {
  return (await readdir(path.join(site.root, CLUSTER)).catch(() => [] as string[])).sort();
}

/** The two files of a backup (zstd, not encrypted). */
function backupFiles(name: string): string[] {
  return [`${name}.db.zst`, `${name}.json`];
}

/** Runs OpenSSH's `sftp` in batch mode with `key` against `site`; resolves with its exit code and output. */
async function sftpBatch(site: SftpSite, keyDir: string, commands: string[]): Promise<{ code: number | null; output: string }> {
  const knownHosts = path.join(keyDir, 'known_hosts');
  await writeFile(knownHosts, `${site.knownHosts}\n`);
  const child = spawn(
    'sftp',
    ['-b', '-', '-i', path.join(keyDir, 'id_ed25519'), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-P', String(site.port), `${site.user}@${site.host}`],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdin.end(`${commands.join('\n')}\n`);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  return { code, output };
}

describe('sites split into an append-only nodes key, a retention key and a read-only watchdog key', { concurrency: false }, () => {
  let cluster: EtcdCluster;
  let dc1: SftpSite;
  let dc2: SftpSite;
  const dirs: Record<'node' | 'prune' | 'watchdog', string> = { node: '', prune: '', watchdog: '' };
  let pruneKey: ClientKey;
  let watchdogKey: ClientKey;
  /** What the nodes' workflows give: the append-only key. */
  let nodeInputs: InputValues;
  const clock = testClock(new Date(Date.now() - 24 * HOUR));
  const made: string[] = [];

  async function backup(extra: InputValues = {}): Promise<CommandReport> {
    clock.advance(MINUTE);
    return runCommand('backup', settingsFrom({ ...nodeInputs, ...extra }), commandDeps({ now: clock.now }));
  }

  before(async () => {
    const root = await tempDir('etcd-dr-append-only-keys-');
    for (const role of ['node', 'prune', 'watchdog'] as const) dirs[role] = path.join(root, role);
    const [nodeKey, pKey, wKey] = await Promise.all([makeClientKey(dirs.node), makeClientKey(dirs.prune), makeClientKey(dirs.watchdog)]);
    pruneKey = pKey;
    watchdogKey = wKey;
    const keys = { nodeKey, pruneKey, watchdogKey };
    let split1, split2;
    [cluster, split1, split2] = await Promise.all([
      startCluster({ version: '3.5', members: 1, name: 'append-only' }),
      startSplitSftpSite('append-only-dc1', keys),
      startSplitSftpSite('append-only-dc2', keys),
    ]);
    dc1 = split1.site;
    dc2 = split2.site;
    await cluster.put('/registry/namespaces/default', '{"kind":"Namespace"}');
    // Retention that would delete all but the newest backup, had the key the right.
    nodeInputs = { 'cluster-name': CLUSTER, ...siteInputs([dc1, dc2]), ...etcdInputs(cluster), 'keep-last': '1', 'keep-within': '0' };
  });

  after(async () => {
    await Promise.all([cluster?.stop(), dc1?.destroy(), dc2?.destroy()]);
  });

  it('backs up to both sites on the append-only account, and says retention was skipped there as a warning, not a failure', async () => {
    for (let i = 0; i < 3; i++) {
      const deps = commandDeps({ now: clock.now });
      clock.advance(MINUTE);
      const run = await runCommand('backup', settingsFrom(nodeInputs), deps);
      assert.equal(run.outcome, 'success', run.summary);
      assert.equal(run.failure, undefined, 'the backup does not fail');
      assert.equal(outputOf(run, 'stores-ok'), '2');
      made.push(outputOf(run, 'backup-name'));
      if (i === 0) continue; // the first run has nothing to prune
      const sites = [...run.summary.matchAll(SKIPPED)].map((m) => m[1]);
      assert.deepEqual(sites.sort(), [dc1.url, dc2.url].sort(), `the summary says retention was skipped on each site:\n${run.summary}`);
      assert.ok(deps.lines.some((l) => l.startsWith('warning: retention skipped on')), `logged as a warning: ${deps.lines.join('\n')}`);
      assert.ok(!deps.lines.some((l) => l.startsWith('error:')), 'nothing logged as an error');
    }
    for (const site of [dc1, dc2]) {
      assert.deepEqual(await backupFilesOn(site), made.flatMap(backupFiles).sort(), `${site.name} keeps every backup`);
    }
  });

  it('refuses a direct delete with the nodes key (OpenSSH sftp: Permission denied), proving the site config', async () => {
    const manifest = `${made[0]!}.json`;
    const rm = await sftpBatch(dc1, dirs.node, [`cd ${dc1.root}/${CLUSTER}`, `rm ${manifest}`]);
    assert.notEqual(rm.code, 0, rm.output);
    assert.match(rm.output, /Permission denied/);
    const rmdir = await sftpBatch(dc1, dirs.node, [`cd ${dc1.root}`, `rmdir ${CLUSTER}`]);
    assert.notEqual(rmdir.code, 0, rmdir.output);
    assert.match(rmdir.output, /Permission denied/);
    assert.ok((await backupFilesOn(dc1)).includes(manifest), 'the manifest is still there');
  });

  /** A backup made while dc2 is down (so only dc1 has it); healing keeps up to 10 backups. */
  async function backupMissedByDc2(): Promise<string> {
    await dc2.stop();
    try {
      const degraded = await backup({ prune: 'false', 'keep-last': '10' });
      assert.equal(degraded.outcome, 'degraded', degraded.summary);
      const name = outputOf(degraded, 'backup-name');
      made.push(name);
      return name;
    } finally {
      await dc2.start();
    }
  }

  it('heals a site that missed backups on the append-only account', async () => {
    const missed = await backupMissedByDc2();
    const healing = await backup({ prune: 'false', 'keep-last': '10' });
    assert.equal(healing.outcome, 'success', healing.summary);
    made.push(outputOf(healing, 'backup-name'));
    assert.ok(Number(outputOf(healing, 'healed')) >= 1, healing.summary);
    assert.ok((await backupFilesOn(dc2)).includes(`${missed}.json`), 'dc2 got the backup it missed');
    assert.deepEqual(await backupFilesOn(dc2), await backupFilesOn(dc1), 'both sites hold the same backups');
  });

  it('reports a healing copy that fails there as a warning, not a failure, leaving its temporary file for retention', async () => {
    const missed = await backupMissedByDc2();
    // dc1's copy goes bad (same size, other bytes): the copy to dc2 fails its sha256 check after the upload.
    const object = path.join(dc1.root, CLUSTER, `${missed}.db.zst`);
    const bytes = await readFile(object);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0xff;
    await writeFile(object, bytes);

    const run = await backup({ prune: 'false', 'keep-last': '10' });
    made.push(outputOf(run, 'backup-name'));
    assert.equal(run.outcome, 'success', run.summary);
    assert.equal(run.failure, undefined);
    assert.match(run.summary, new RegExp(`healing ${missed} to \\S*${dc2.port}\\S* failed`), run.summary);
    const onDc2 = await allFilesOn(dc2);
    assert.ok(!onDc2.includes(`${missed}.json`) && !onDc2.includes(`${missed}.db.zst`), 'the bad copy was not published');
    assert.ok(onDc2.some((f) => f.startsWith(`.tmp-${missed}`)), `the append-only account could not remove the temporary file: ${onDc2.join(', ')}`);
  });

  it('skips retention entirely with prune: false, and says so in the summary', async () => {
    const run = await backup({ prune: 'false' });
    assert.equal(run.outcome, 'success', run.summary);
    made.push(outputOf(run, 'backup-name'));
    assert.match(run.summary, /### Retention\s+skipped: prune is false/);
    assert.doesNotMatch(run.summary, SKIPPED);
    assert.equal(run.outputs['pruned' as Outputs], undefined, 'no pruned output: retention did not run');
  });

  it('fails a prune run with only the nodes key, saying to give prune-ssh-private-key, and deletes nothing', async () => {
    const before = await Promise.all([dc1, dc2].map((site) => backupFilesOn(site)));
    clock.advance(MINUTE);
    const report = await runCommand('prune', settingsFrom(nodeInputs), commandDeps({ now: clock.now }));
    assert.equal(report.outcome, 'degraded', report.summary);
    for (const site of [dc1, dc2]) {
      assert.ok(
        report.failure?.includes(`retention skipped on ${site.url}: the site account may not delete (permission denied); give prune-ssh-private-key a key whose site account may delete`),
        `the failure names ${site.name} and what to do: ${report.failure}`,
      );
    }
    assert.deepEqual(await Promise.all([dc1, dc2].map((site) => backupFilesOn(site))), before);
  });

  it('prunes with the delete-capable key what the policy says, on both sites, and removes stale temporary files', async () => {
    // A temporary file left by a failed upload on the append-only account, which the node could not remove.
    const stale = path.join(dc1.root, CLUSTER, `.tmp-${made[0]!}.db.zst-0123456789ab`);
    await writeFile(stale, 'partial upload');
    const old = new Date(clock.now().getTime() - 7 * HOUR);
    await utimes(stale, old, old);

    // Every leftover temporary file (this one, and the failed healing copy's on dc2) is now 7 h old.
    for (const site of [dc1, dc2]) {
      for (const file of (await allFilesOn(site)).filter((f) => f.startsWith('.tmp-'))) {
        await utimes(path.join(site.root, CLUSTER, file), old, old);
      }
    }
    const backupsBefore = await Promise.all([dc1, dc2].map(async (site) => (await backupFilesOn(site)).filter((f) => f.endsWith('.json')).length));

    clock.advance(MINUTE);
    const report = await runCommand('prune', settingsFrom({ ...nodeInputs, 'prune-ssh-private-key': pruneKey.privateKey }), commandDeps({ now: clock.now }));
    assert.equal(report.outcome, 'success', report.summary);
    const newest = made.at(-1)!;
    // keep-last 1: every backup but the newest goes, on each site.
    assert.equal(outputOf(report, 'pruned'), String(backupsBefore.reduce((n, count) => n + count - 1, 0)), report.summary);
    for (const site of [dc1, dc2]) {
      assert.deepEqual(await backupFilesOn(site), backupFiles(newest).sort(), `${site.name} keeps only the newest backup`);
    }
    for (const site of [dc1, dc2]) {
      assert.deepEqual((await allFilesOn(site)).filter((f) => f.startsWith('.tmp-')), [], `the stale temporary files on ${site.name} are gone`);
    }
  });

  it("applies retention in the backup itself when given prune-ssh-private-key", async () => {
    const run = await backup({ 'prune-ssh-private-key': pruneKey.privateKey });
    assert.equal(run.outcome, 'success', run.summary);
    const name = outputOf(run, 'backup-name');
    made.push(name);
    assert.doesNotMatch(run.summary, SKIPPED);
    assert.equal(outputOf(run, 'pruned'), '2', run.summary);
    for (const site of [dc1, dc2]) assert.deepEqual(await backupFilesOn(site), backupFiles(name).sort());
  });

  it('lets the watchdog, list and status work with the read-only key, which cannot write', async () => {
    const readOnly: InputValues = { 'cluster-name': CLUSTER, ...siteInputs([dc1, dc2]), 'ssh-private-key': watchdogKey.privateKey };
    const newest = made.at(-1)!;

    const watchdog = await runCommand('watchdog', settingsFrom({ ...readOnly, 'max-age': '1h' }), commandDeps({ now: clock.now }));
    assert.equal(watchdog.outcome, 'success', watchdog.summary);
    assert.equal(outputOf(watchdog, 'backup-name'), newest);

    const list = await runCommand('list', settingsFrom(readOnly), commandDeps({ now: clock.now }));
    assert.equal(list.outcome, 'success', list.failure);
    const listed = JSON.parse(outputOf(list, 'backups')) as Array<{ name: string; sites: string[] }>;
    assert.deepEqual(listed.map((b) => b.name), [newest]);
    assert.deepEqual(listed[0]!.sites.sort(), [dc1.url, dc2.url].sort());

    const status = await statusCommand(settingsFrom(readOnly), clock.now());
    assert.equal(status.failure, undefined);
    const revision = /-r(\d+)$/.exec(newest)![1]!;
    assert.match(status.output, new RegExp(`etcd_dr_last_backup_revision\\{cluster="${CLUSTER}"\\} ${revision}\n`));

    const upload = path.join(dirs.watchdog, 'note.txt');
    await writeFile(upload, 'not allowed');
    const put = await sftpBatch(dc1, dirs.watchdog, [`cd ${dc1.root}/${CLUSTER}`, `put ${upload} note.txt`]);
    assert.notEqual(put.code, 0, put.output);
    assert.match(put.output, /Permission denied/);
    const rm = await sftpBatch(dc1, dirs.watchdog, [`cd ${dc1.root}/${CLUSTER}`, `rm ${newest}.json`]);
    assert.notEqual(rm.code, 0, rm.output);
    assert.ok(!(await allFilesOn(dc1)).includes('note.txt'));
    assert.ok((await backupFilesOn(dc1)).includes(`${newest}.json`));

    // And a backup with the read-only key fails on the stores, it does not half-write.
    const refused = await backup({ 'ssh-private-key': watchdogKey.privateKey });
    assert.notEqual(refused.outcome, 'success', refused.summary);
    assert.deepEqual(await backupFilesOn(dc1), backupFiles(newest).sort(), 'nothing was written with the read-only key');
  });
});
