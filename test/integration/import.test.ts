/**
 * Issue 14, point 14: migration. A team arrives with a folder of `etcdctl snapshot save` files from a cron
 * script; `import` brings them into the catalog. Real etcd 3.4 and 3.5 write the files with their own
 * etcdctl, two real OpenSSH sites receive them, and `list` and a restore drill (`verify`) read them back as
 * they would any backup.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { runCli } from '../../src/cli/run.ts';
import { runCliCommand, runCommand, type CommandReport } from '../../src/commands/index.ts';
import type { Outputs } from '../../src/config/names.ts';
import { IntegrityError } from '../../src/errors.ts';
import { recordingLog } from '../harness/engine.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster, type EtcdVersion } from '../harness/etcd.ts';
import { commandDeps, settingsFrom, siteInputs, type InputValues } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';

function outputOf(report: CommandReport, name: `${Outputs}`): string {
  const value = report.outputs[name as Outputs];
  assert.ok(value !== undefined, `output ${name} is set: ${JSON.stringify(report.outputs)}\n${report.summary}`);
  return value;
}

/** The files of the cluster's folder on a site, read from its disk. */
async function filesOn(site: SftpSite, cluster: string): Promise<string[]> {
  return (await readdir(path.join(site.root, cluster)).catch(() => [] as string[])).sort();
}

/** `etcdctl endpoint status` of the (one) member: its current revision. */
async function revisionOf(cluster: EtcdCluster): Promise<number> {
  const status = JSON.parse(await cluster.etcdctl(['endpoint', 'status', '-w', 'json'])) as Array<{ Status: { header: { revision: number } } }>;
  return Number(status[0]!.Status.header.revision);
}

/** `etcd --version` of the harness binaries, e.g. 3.5.30. */
async function etcdVersionOf(cluster: EtcdCluster): Promise<string> {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(cluster.binaries.etcd, ['--version'], { encoding: 'utf8' });
  return /etcd Version:\s*(\S+)/.exec(out)![1]!;
}

const TIMES = [new Date('2026-11-01T03:00:00Z'), new Date('2026-11-02T03:00:00Z')];

describe('import of etcdctl snapshot save files', { concurrency: true }, () => {
  let dc1: SftpSite;
  let dc2: SftpSite;

  before(async () => {
    const key = await makeClientKey(await tempDir('etcd-dr-import-key-'));
    [dc1, dc2] = await Promise.all([startSftpSite('import-dc1', { clientKey: key }), startSftpSite('import-dc2', { clientKey: key })]);
  });

  after(async () => {
    await Promise.all([dc1?.destroy(), dc2?.destroy()]);
  });

  for (const version of ETCD_VERSIONS) {
    describe(`etcd ${version}`, { concurrency: false }, () => {
      const clusterName = `mig${version.replace('.', '')}`;
      let cluster: EtcdCluster;
      let folder: string;
      let inputs: InputValues;
      /** Per file: the revision and live keys when it was saved. */
      const saved: Array<{ file: string; revision: number; keys: number; time: Date }> = [];
      let imported: Array<{ file: string; name: string; revision: number; keys: number; sites: string[] }> = [];

      before(async () => {
        cluster = await startCluster({ version: version as EtcdVersion, members: 1, name: `import-${version}` });
        folder = path.join(await tempDir(`etcd-dr-import-${version}-`), 'cron');
        await mkdir(folder);
        // What a cron script leaves: a folder of dated `etcdctl snapshot save` files.
        for (let day = 0; day < TIMES.length; day++) {
          for (let i = 0; i < 3; i++) await cluster.put(`/registry/pods/default/pod-${day}-${i}`, `{"day":${day}}`);
          await cluster.etcdctl(['del', `/registry/pods/default/pod-${day}-0`]);
          const file = path.join(folder, `etcd-snapshot-2026110${day + 1}.db`);
          const revision = await revisionOf(cluster);
          await cluster.etcdctl(['snapshot', 'save', file]);
          assert.equal(await revisionOf(cluster), revision, 'no write during the save');
          await utimes(file, TIMES[day]!, TIMES[day]!);
          saved.push({ file, revision, keys: (await cluster.getAll('')).size, time: TIMES[day]! });
        }
        inputs = {
          'cluster-name': clusterName,
          ...siteInputs([dc1, dc2]),
          'etcd-version': await etcdVersionOf(cluster),
          'etcd-bin-dir': cluster.binaries.binDir,
        };
      });

      after(async () => {
        await cluster?.stop();
      });

      it('imports every file of the folder to both sites, named by its time and revision, as source member imported', async () => {
        const report = await runCliCommand('import', settingsFrom({ ...inputs, 'snapshot-files': folder }), commandDeps());
        assert.equal(report.outcome, 'success', report.summary);
        imported = JSON.parse(outputOf(report, 'backups')) as typeof imported;
        assert.equal(imported.length, saved.length);
        for (const [i, file] of saved.entries()) {
          const got = imported[i]!;
          const stamp = file.time.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
          assert.equal(got.name, `${clusterName}-${stamp}-imported-r${file.revision}`);
          assert.equal(got.revision, file.revision, "etcd's revision at the save");
          assert.equal(got.keys, file.keys, 'the live keys at the save');
          assert.deepEqual([...got.sites].sort(), [dc1.url, dc2.url].sort());
        }
        for (const site of [dc1, dc2]) {
          assert.deepEqual(await filesOn(site, clusterName), imported.flatMap((b) => [`${b.name}.db.zst`, `${b.name}.json`]).sort());
          const manifest = JSON.parse(await readFile(path.join(site.root, clusterName, `${imported[0]!.name}.json`), 'utf8')) as Record<string, unknown>;
          assert.equal((manifest['source'] as { name: string }).name, 'imported');
          assert.equal(manifest['quality'], 'imported', 'an imported snapshot is not marked degraded');
          assert.equal((manifest['imported'] as { file: string }).file, saved[0]!.file, 'the manifest says which file it came from');
          assert.equal(manifest['etcdVersion'], inputs['etcd-version']);
        }
      });

      it('list shows the imported backups on both sites, newest first', async () => {
        const report = await runCommand('list', settingsFrom(inputs), commandDeps());
        assert.equal(report.outcome, 'success', report.failure);
        const listed = JSON.parse(outputOf(report, 'backups')) as Array<{ name: string; revision: number; keys: number; sites: string[]; consistent: boolean }>;
        assert.deepEqual(listed.map((b) => b.name), imported.map((b) => b.name).reverse());
        for (const b of listed) {
          assert.deepEqual([...b.sites].sort(), [dc1.url, dc2.url].sort());
          assert.equal(b.consistent, true);
        }
      });

      it('passes a restore drill (verify) of an imported backup, with the keys it had', async () => {
        const oldest = imported[0]!;
        const drill = await runCommand('verify', settingsFrom({ ...inputs, backup: oldest.name }), commandDeps());
        assert.equal(drill.outcome, 'success', drill.summary);
        assert.equal(outputOf(drill, 'keys'), String(saved[0]!.keys));
        assert.equal(outputOf(drill, 'revision'), String(saved[0]!.revision));
      });

      it('leaves backups already imported as they are when the folder is imported again', async () => {
        const before = await Promise.all([dc1, dc2].map((s) => filesOn(s, clusterName)));
        const again = await runCliCommand('import', settingsFrom({ ...inputs, 'snapshot-files': folder }), commandDeps());
        assert.equal(again.outcome, 'success', again.summary);
        assert.match(again.summary, /already there/);
        assert.deepEqual(await Promise.all([dc1, dc2].map((s) => filesOn(s, clusterName))), before);
      });
    });
  }

  describe('files that are not good snapshots', { concurrency: false }, () => {
    let inputs: InputValues;
    let good: string;
    let cluster: EtcdCluster;
    const clusterName = 'refused';

    before(async () => {
      cluster = await startCluster({ version: '3.5', members: 1, name: 'import-refused' });
      await cluster.put('/registry/a', '1');
      good = path.join(await tempDir('etcd-dr-import-refused-'), 'good.db');
      await cluster.etcdctl(['snapshot', 'save', good]);
      inputs = { 'cluster-name': clusterName, ...siteInputs([dc1, dc2]), 'etcd-version': await etcdVersionOf(cluster), 'etcd-bin-dir': cluster.binaries.binDir };
    });

    after(async () => {
      await cluster?.stop();
    });

    it('refuses a file that is not an etcd snapshot, naming it, and writes nothing (not even the good file given with it)', async () => {
      const notes = path.join(path.dirname(good), 'notes.txt');
      await writeFile(notes, 'this is not a database, just some notes about the cron job\n'.repeat(20));
      await assert.rejects(
        runCliCommand('import', settingsFrom({ ...inputs, 'snapshot-files': `${good}\n${notes}` }), commandDeps()),
        (error: unknown) => error instanceof IntegrityError && error.message.includes(notes) && /not an etcd snapshot/.test(error.message),
      );
      for (const site of [dc1, dc2]) assert.deepEqual(await filesOn(site, clusterName), []);
    });

    it("refuses a file with a valid sha256 trailer that etcd's own snapshot status cannot read", async () => {
      const { createHash } = await import('node:crypto');
      const data = Buffer.alloc(64 * 1024, 'not a bbolt database ');
      const fake = path.join(path.dirname(good), 'fake.db');
      await writeFile(fake, Buffer.concat([data, createHash('sha256').update(data).digest()]));
      await assert.rejects(
        runCliCommand('import', settingsFrom({ ...inputs, 'snapshot-files': fake }), commandDeps()),
        (error: unknown) => error instanceof IntegrityError && error.message.includes(fake) && /etcdutl snapshot status refused it/.test(error.message),
      );
      for (const site of [dc1, dc2]) assert.deepEqual(await filesOn(site, clusterName), []);
    });

    it("refuses a snapshot whose sha256 trailer does not match its data (damaged), and writes nothing", async () => {
      const damaged = path.join(path.dirname(good), 'damaged.db');
      const bytes = await readFile(good);
      const third = Math.floor(bytes.length / 3);
      bytes[third] = bytes[third]! ^ 0x55;
      await writeFile(damaged, bytes);
      await assert.rejects(
        runCliCommand('import', settingsFrom({ ...inputs, 'snapshot-files': damaged }), commandDeps()),
        (error: unknown) => error instanceof IntegrityError && error.message.includes(damaged) && /sha256 trailer does not match/.test(error.message),
      );
      for (const site of [dc1, dc2]) assert.deepEqual(await filesOn(site, clusterName), []);
    });

    it('runs from the command line with --snapshot-files and --created-at, which names the backup', async () => {
      const keyFile = path.join(path.dirname(good), 'id');
      const knownHosts = path.join(path.dirname(good), 'known_hosts');
      await writeFile(keyFile, inputs['ssh-private-key']!, { mode: 0o600 });
      await writeFile(knownHosts, inputs['ssh-known-hosts']!);
      const log = recordingLog();
      const code = await runCli(
        [
          'import',
          '--cluster-name', clusterName,
          '--stores', dc1.url, '--stores', dc2.url,
          '--ssh-private-key-file', keyFile,
          '--ssh-known-hosts-file', knownHosts,
          '--etcd-version', inputs['etcd-version']!,
          '--etcd-bin-dir', inputs['etcd-bin-dir']!,
          '--snapshot-files', good,
          '--created-at', '2026-10-31T23:15:00+01:00',
        ],
        {},
        log,
      );
      assert.equal(code, 0, log.lines.join('\n'));
      const files = await filesOn(dc2, clusterName);
      assert.equal(files.length, 2, files.join(', '));
      assert.match(files[0]!, new RegExp(`^${clusterName}-20261031T221500Z-imported-r\\d+\\.db\\.zst$`));
    });

    it('encrypts and compresses like a backup (age, gzip), and a drill with the identity passes', async () => {
      const identity = await generateX25519Identity();
      const settings = { ...inputs, 'cluster-name': 'migenc', 'encrypt-to': await identityToRecipient(identity), compression: 'gzip' };
      const report = await runCliCommand('import', settingsFrom({ ...settings, 'snapshot-files': good }), commandDeps());
      assert.equal(report.outcome, 'success', report.summary);
      const [only] = JSON.parse(outputOf(report, 'backups')) as Array<{ name: string }>;
      for (const site of [dc1, dc2]) assert.deepEqual(await filesOn(site, 'migenc'), [`${only!.name}.db.gz.age`, `${only!.name}.json`]);
      const drill = await runCommand('verify', settingsFrom({ ...settings, backup: only!.name, 'decrypt-identity': identity }), commandDeps());
      assert.equal(drill.outcome, 'success', drill.summary);
      assert.equal(outputOf(drill, 'keys'), '1');
    });

    it('refuses --created-at with several files', async () => {
      await assert.rejects(
        runCliCommand('import', settingsFrom({ ...inputs, 'snapshot-files': `${good}\n${good}.missing`, 'created-at': '2026-11-01T00:00:00Z' }), commandDeps()),
        /cannot read .*missing/,
      );
      await assert.rejects(
        runCliCommand('import', settingsFrom({ ...inputs, 'snapshot-files': path.dirname(good), 'created-at': '2026-11-01T00:00:00Z' }), commandDeps()),
        /created-at names the time of one snapshot/,
      );
    });
  });
});
