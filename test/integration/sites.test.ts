/**
 * Issue "Retention, a catalog across both sites, and healing": the commands (backup, list, prune) run
 * in-process against a real etcd and two real OpenSSH sites, one of which is stopped at times. Assertions
 * are on the files each site holds, the command outputs and the summary an operator reads.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand, type CommandReport } from '../../src/commands/index.ts';
import type { Outputs } from '../../src/config/names.ts';
import { connect } from '../../src/etcd/connection.ts';
import { accessFor } from '../harness/engine.ts';
import { startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { commandDeps, etcdInputs, settingsFrom, siteInputs, testClock, type InputValues, type TestClock } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type ClientKey, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** One entry of the `backups` output of `list`. */
interface ListedBackup {
  readonly name: string;
  readonly time: string;
  readonly revision: number;
  readonly size: number | null;
  readonly sites: string[];
  readonly consistent: boolean;
  readonly damaged: { storeId: string; problem: string }[];
}

function listed(report: CommandReport): ListedBackup[] {
  const json = report.outputs['backups'];
  assert.ok(json !== undefined, `list has a backups output: ${JSON.stringify(report.outputs)}`);
  return JSON.parse(json) as ListedBackup[];
}

/** Every file in the cluster's folder on a site, read straight from the site's disk, sorted. */
async function filesOn(site: SftpSite, cluster: string): Promise<string[]> {
  return (await readdir(path.join(site.root, cluster)).catch(() => [] as string[])).sort();
}

/** The backup files (manifests and objects) in the cluster's folder on a site, sorted. */
async function backupFilesOn(site: SftpSite, cluster: string): Promise<string[]> {
  return (await filesOn(site, cluster)).filter((f) => f.startsWith(`${cluster}-`) && (f.endsWith('.json') || f.includes('.db')));
}

/** The two files a backup of that name consists of (zstd, not encrypted). */
function backupFiles(name: string): string[] {
  return [`${name}.db.zst`, `${name}.json`];
}

/** sha256 of every file in the cluster's folder on a site, by name (status.json left out: it differs per site). */
async function contentsOn(site: SftpSite, cluster: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const file of await filesOn(site, cluster)) {
    if (file === 'status.json') continue;
    out.set(file, createHash('sha256').update(await readFile(path.join(site.root, cluster, file))).digest('hex'));
  }
  return out;
}

function outputOf(report: CommandReport, name: `${Outputs}`): string {
  const value = report.outputs[name as Outputs];
  assert.ok(value !== undefined, `output ${name} is set: ${JSON.stringify(report.outputs)}\n${report.summary}`);
  return value;
}

describe('backups across two SFTP sites: healing, retention and the catalog', { concurrency: true }, () => {
  let cluster: EtcdCluster;
  let clientKey: ClientKey;
  const sites: SftpSite[] = [];

  async function twoSites(name: string): Promise<[SftpSite, SftpSite]> {
    const pair = await Promise.all([startSftpSite(`${name}-dc1`, { clientKey }), startSftpSite(`${name}-dc2`, { clientKey })]);
    sites.push(...pair);
    return pair;
  }

  /** Runs a backup of `inputs` with the clock moved one minute on, so every backup has its own time. */
  async function backup(inputs: InputValues, clock: TestClock): Promise<CommandReport> {
    clock.advance(MINUTE);
    return runCommand('backup', settingsFrom(inputs), commandDeps({ now: clock.now }));
  }

  before(async () => {
    const keyDir = await tempDir('etcd-dr-sites-key-');
    [cluster, clientKey] = await Promise.all([startCluster({ version: '3.5', members: 1, name: 'sites' }), makeClientKey(keyDir)]);
    await cluster.put('/registry/namespaces/default', '{"kind":"Namespace"}');
  });

  after(async () => {
    await Promise.all([cluster?.stop(), ...sites.map((s) => s.destroy())]);
  });

  describe('a site that was down while backups ran', { concurrency: false }, () => {
    let dc1: SftpSite;
    let dc2: SftpSite;
    let inputs: InputValues;
    const clock = testClock();
    const names: string[] = [];
    const missed: string[] = [];

    before(async () => {
      [dc1, dc2] = await twoSites('heal');
      inputs = { 'cluster-name': 'heal', ...siteInputs([dc1, dc2]), ...etcdInputs(cluster) };
    });

    it('is healed by the next run: every backup it missed is copied to it, and the summary has a Healed section', async () => {
      const first = await backup(inputs, clock);
      assert.equal(first.outcome, 'success', first.summary);
      names.push(outputOf(first, 'backup-name'));

      await dc2.stop();
      try {
        for (let i = 0; i < 2; i++) {
          const run = await backup(inputs, clock);
          assert.equal(run.outcome, 'degraded', run.summary);
          assert.equal(outputOf(run, 'stores-ok'), '1');
          missed.push(outputOf(run, 'backup-name'));
        }
      } finally {
        await dc2.start();
      }
      names.push(...missed);
      assert.deepEqual(await backupFilesOn(dc2, 'heal'), backupFiles(names[0]!), 'dc2 holds only the backup made before it went down');

      const healing = await backup(inputs, clock);
      assert.equal(healing.outcome, 'success', healing.summary);
      names.push(outputOf(healing, 'backup-name'));
      assert.ok(Number(outputOf(healing, 'healed')) >= missed.length, `healed ${healing.outputs['healed']} of ${missed.length} missed`);
      assert.match(healing.summary, /### Healed/);
      const healedSection = healing.summary.slice(healing.summary.indexOf('### Healed'));
      for (const name of missed) {
        assert.ok(healedSection.includes(name), `the Healed section names ${name}`);
        assert.ok(healedSection.includes(dc2.url), `the Healed section names the site healed`);
      }
      for (const site of [dc1, dc2]) {
        assert.deepEqual(await backupFilesOn(site, 'heal'), names.flatMap(backupFiles).sort(), `${site.name} holds every backup`);
      }
    });

    it('list then shows every backup on both sites, with identical copies', async () => {
      const report = await runCommand('list', settingsFrom(inputs), commandDeps());
      assert.equal(report.outcome, 'success', report.failure);
      const backups = listed(report);
      assert.deepEqual(
        backups.map((b) => b.name),
        [...names].reverse(),
        'newest first',
      );
      for (const b of backups) {
        assert.deepEqual([...b.sites].sort(), [dc1.url, dc2.url].sort(), `${b.name} is on both sites`);
        assert.equal(b.consistent, true, `${b.name}'s copies agree`);
        assert.deepEqual(b.damaged, []);
      }
      for (const name of names) assert.ok(report.summary.includes(name), `the summary lists ${name}`);
      // Byte for byte, not only by the manifests' word.
      assert.deepEqual(await contentsOn(dc2, 'heal'), await contentsOn(dc1, 'heal'));
    });
  });

  describe('prune with one site down', { concurrency: false }, () => {
    let dc1: SftpSite;
    let dc2: SftpSite;
    let inputs: InputValues;
    const clock = testClock();

    before(async () => {
      [dc1, dc2] = await twoSites('prune');
      inputs = { 'cluster-name': 'prune', ...siteInputs([dc1, dc2]), ...etcdInputs(cluster) };
    });

    it('prunes the reachable site, reports the skipped one, and leaves the down site as it was', async () => {
      const names: string[] = [];
      for (let i = 0; i < 3; i++) {
        const run = await backup(inputs, clock);
        assert.equal(run.outcome, 'success', run.summary);
        names.push(outputOf(run, 'backup-name'));
      }
      const dc2Before = await contentsOn(dc2, 'prune');
      assert.equal(dc2Before.size, 6, 'dc2 holds three backups before the prune');

      await dc2.stop();
      let report: CommandReport;
      try {
        clock.advance(MINUTE);
        report = await runCommand(
          'prune',
          settingsFrom({ ...inputs, 'keep-last': '1', 'keep-within': '0' }),
          commandDeps({ now: clock.now }),
        );
      } finally {
        await dc2.start();
      }
      assert.equal(report.outcome, 'degraded');
      assert.equal(outputOf(report, 'pruned'), '2');
      assert.ok(report.failure?.includes(dc2.url), `the failure names the down site: ${report.failure}`);
      assert.match(report.failure!, /skipped/);
      const dc2Row = report.summary.split('\n').find((line) => line.includes(dc2.url));
      assert.match(dc2Row ?? '', /skipped/, `the summary's row for dc2 says it was skipped:\n${report.summary}`);
      const dc1Row = report.summary.split('\n').find((line) => line.includes(dc1.url));
      assert.match(dc1Row ?? '', /1 kept, 2 deleted/, report.summary);

      assert.deepEqual(await backupFilesOn(dc1, 'prune'), backupFiles(names[2]!), 'dc1 keeps only the newest backup');
      assert.deepEqual(await contentsOn(dc2, 'prune'), dc2Before, 'nothing on dc2 changed');
    });
  });

  describe('retention after a backup', { concurrency: false }, () => {
    let dc1: SftpSite;
    let dc2: SftpSite;
    let inputs: InputValues;
    const clock = testClock();
    const foreign: Record<string, string> = {
      'notes.txt': 'restore runbook: see the wiki\n',
      'prod-backup-old.tar.gz': 'not ours',
      // A backup of another cluster that happens to share the folder: its name says so.
      'other-20250101T000000Z-etcd-0-r5.json': '{}',
    };

    before(async () => {
      [dc1, dc2] = await twoSites('keep');
      inputs = { 'cluster-name': 'keep', ...siteInputs([dc1, dc2]), ...etcdInputs(cluster), 'keep-last': '2', 'keep-within': '0' };
      for (const site of [dc1, dc2]) {
        const folder = path.join(site.root, 'keep');
        await mkdir(folder, { recursive: true });
        for (const [name, text] of Object.entries(foreign)) await writeFile(path.join(folder, name), text);
        // An upload abandoned 7 hours ago, and one that could be in flight right now.
        await writeFile(path.join(folder, '.tmp-abandoned-upload'), 'partial');
        const sevenHoursAgo = new Date(clock.now().getTime() - 7 * HOUR);
        await utimes(path.join(folder, '.tmp-abandoned-upload'), sevenHoursAgo, sevenHoursAgo);
        await writeFile(path.join(folder, '.tmp-in-flight-upload'), 'partial');
      }
    });

    it('with keep-last 2 after 4 backups, each site holds exactly the 2 newest, and files it does not own are untouched', async () => {
      const names: string[] = [];
      const pruned: string[] = [];
      for (let i = 0; i < 4; i++) {
        const run = await backup(inputs, clock);
        assert.equal(run.outcome, 'success', run.summary);
        names.push(outputOf(run, 'backup-name'));
        pruned.push(outputOf(run, 'pruned'));
      }
      // The first prune removes the abandoned upload on each site; then one old backup per site per run.
      assert.deepEqual(pruned, ['0', '0', '2', '2']);
      for (const site of [dc1, dc2]) {
        const files = await filesOn(site, 'keep');
        assert.deepEqual(await backupFilesOn(site, 'keep'), [...backupFiles(names[2]!), ...backupFiles(names[3]!)].sort(), site.name);
        for (const [name, text] of Object.entries(foreign)) {
          assert.equal(await readFile(path.join(site.root, 'keep', name), 'utf8'), text, `${name} on ${site.name} is untouched`);
        }
        assert.ok(!files.includes('.tmp-abandoned-upload'), `the upload abandoned 7 h ago is removed from ${site.name}`);
        assert.ok(files.includes('.tmp-in-flight-upload'), `a fresh upload on ${site.name} is left alone`);
        assert.ok(files.includes('status.json'));
      }
    });
  });

  describe('a manifest corrupted on one site', { concurrency: false }, () => {
    let dc1: SftpSite;
    let dc2: SftpSite;
    let inputs: InputValues;
    const clock = testClock();

    before(async () => {
      [dc1, dc2] = await twoSites('torn');
      inputs = { 'cluster-name': 'torn', ...siteInputs([dc1, dc2]), ...etcdInputs(cluster) };
    });

    it('list still shows that backup from the other site, and the summary names the unreadable manifest', async () => {
      const older = outputOf(await backup(inputs, clock), 'backup-name');
      const newer = outputOf(await backup(inputs, clock), 'backup-name');
      const manifestPath = path.join(dc1.root, 'torn', `${older}.json`);
      const mode = (await stat(manifestPath)).mode;
      await writeFile(manifestPath, '{"format": "etcd-dr/1", "name": ', { mode });

      const report = await runCommand('list', settingsFrom(inputs), commandDeps());
      const backups = listed(report);
      assert.deepEqual(
        backups.map((b) => b.name),
        [newer, older],
      );
      const torn = backups.find((b) => b.name === older)!;
      assert.deepEqual(torn.sites, [dc2.url], 'the backup is listed from dc2');
      assert.deepEqual(torn.damaged.map((d) => d.storeId), [dc1.url]);
      assert.match(torn.damaged[0]!.problem, /manifest unreadable/);
      assert.deepEqual([...backups.find((b) => b.name === newer)!.sites].sort(), [dc1.url, dc2.url].sort());

      const note = report.summary.split('\n').find((line) => /unreadable manifest/.test(line));
      assert.ok(note, `the summary mentions the unreadable manifest:\n${report.summary}`);
      assert.ok(note.includes(`${older}.json`) && note.includes(dc1.url), note);
      assert.ok(
        (await readFile(manifestPath, 'utf8')).startsWith('{"format": "etcd-dr/1", "name": '),
        'list changes nothing on the sites',
      );
    });
  });

  describe('backups taken within the same second', { concurrency: false }, () => {
    let own: EtcdCluster;
    let dc1: SftpSite;
    let dc2: SftpSite;

    before(async () => {
      [own, [dc1, dc2]] = await Promise.all([startCluster({ version: '3.5', members: 1, name: 'tick' }), twoSites('tick')]);
    });
    after(async () => own?.stop());

    it('are ordered by revision, so retention keeps the one just taken even when its revision has more digits', async () => {
      // A stopped clock: both backups get the same time in their names and differ only in the revision.
      const clock = testClock(new Date());
      const inputs: InputValues = {
        'cluster-name': 'tick',
        ...siteInputs([dc1, dc2]),
        ...etcdInputs(own),
        'keep-last': '1',
        'keep-within': '0',
      };
      const first = await runCommand('backup', settingsFrom(inputs), commandDeps({ now: clock.now }));
      assert.equal(first.outcome, 'success', first.summary);
      const firstRevision = Number(outputOf(first, 'revision'));
      // Writes move the revision past the next power of ten (e.g. r7 -> r10): "r10" sorts before "r7" as text.
      const target = 10 ** String(firstRevision).length;
      const client = await connect(accessFor(own));
      try {
        for (let i = firstRevision; i <= target; i++) await client.put(`/registry/events/e-${i}`).value('x');
      } finally {
        client.close();
      }
      const second = await runCommand('backup', settingsFrom(inputs), commandDeps({ now: clock.now }));
      assert.equal(second.outcome, 'success', second.summary);
      const newest = outputOf(second, 'backup-name');
      assert.ok(Number(outputOf(second, 'revision')) >= target);
      for (const site of [dc1, dc2]) {
        assert.deepEqual(await backupFilesOn(site, 'tick'), backupFiles(newest), `${site.name} keeps the backup just taken`);
      }
      const report = await runCommand('list', settingsFrom(inputs), commandDeps());
      assert.equal(listed(report)[0]?.name, newest, 'list shows the newest backup first');
    });
  });
});
