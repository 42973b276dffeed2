/**
 * Restores and drills against real etcd clusters and real OpenSSH sites, driven the way users drive
 * them: the bundled action (one run per member, as the restore workflow's matrix does) and the CLI.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { runDist, REPO_ROOT } from '../harness/actionRunner.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { run } from '../harness/process.ts';
import { memberRestoreInputs } from '../harness/settings.ts';
import { tempDir } from '../harness/tmp.ts';
import { treeDigest } from '../harness/tree.ts';

function userKeys(all: Map<string, string>): Map<string, string> {
  return new Map([...all].filter(([k]) => !k.startsWith('/etcd-dr/')));
}

for (const version of ETCD_VERSIONS) {
  describe(`restore of an etcd ${version} cluster`, () => {
    let cluster: EtcdCluster;
    let dc1: SftpSite;
    let dc2: SftpSite;
    let storeInputs: Record<string, string>;
    let backupName: string;
    let atBackup: Map<string, string>;
    let identity: string;

    before(async () => {
      const clientKey = await makeClientKey(await tempDir('etcd-dr-restore-key-'));
      [cluster, dc1, dc2] = await Promise.all([startCluster({ version }), startSftpSite('dc1', { clientKey }), startSftpSite('dc2', { clientKey })]);
      storeInputs = {
        'cluster-name': 'prod',
        stores: `${dc1.url}\n${dc2.url}`,
        'ssh-private-key': clientKey.privateKey,
        'ssh-known-hosts': `${dc1.knownHosts}\n${dc2.knownHosts}`,
        'etcd-bin-dir': cluster.binaries.binDir,
        'open-issue-on-failure': 'false',
      };
      for (let i = 0; i < 40; i++) await cluster.put(`/registry/deployments/team-${i % 4}/app-${i}`, JSON.stringify({ replicas: i }));
      identity = await generateX25519Identity();
      const backup = await runDist('backup.js', { ...storeInputs, endpoints: cluster.endpoints.join(','), 'encrypt-to': await identityToRecipient(identity) });
        assert.equal(backup.code, 0, backup.stdout + backup.stderr);
      backupName = backup.outputs['backup-name']!;
      atBackup = userKeys(await cluster.getAll());
      // Life goes on after the backup: changes, deletions, new keys. None of it may survive the restore.
      await cluster.put('/registry/deployments/team-0/app-0', 'changed after the backup');
      await cluster.etcdctl(['del', '/registry/deployments/team-1/app-1']);
      await cluster.put('/registry/deployments/new/after-backup', 'new');
    });
    after(async () => Promise.all([cluster?.stop(), dc1?.destroy(), dc2?.destroy()]));

    const restoreInputs = (member: EtcdCluster['members'][number], extra: Record<string, string> = {}) => ({
      ...storeInputs,
      backup: backupName,
      confirm: 'prod',
      'decrypt-identity': identity,
      ...memberRestoreInputs(cluster, member),
      ...extra,
    });

    it('refuses bad input with a clear error and leaves the data directory untouched', async () => {
      const member = cluster.members[0]!;
      await member.stop(); // As for a real restore; a running member rewrites its own files.
      const before = await treeDigest(member.dataDir);
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{ backup: '../../etc/passwd' }, /path separator or '\.\.'/],
        [{ backup: 'x; rm -rf /' }, /not a backup name/],
        [{ backup: 'prod-20200101T000000Z-etcd-0-r1' }, /not in the catalog/],
        [{ confirm: 'staging' }, /confirm must equal the cluster name \(prod\)/],
        [{ 'decrypt-identity': await generateX25519Identity() }, /decrypt-identity cannot decrypt/],
        [{ 'etcd-service': 'systemd:etcd; reboot' }, /etcd-service/],
        [{ 'initial-cluster': 'other=http://127.0.0.1:1' }, /initial-cluster does not list this member/],
      ];
      for (const [change, expected] of cases) {
        const result = await runDist('restore.js', restoreInputs(member, change));
        assert.equal(result.code, 1, `${JSON.stringify(change)} must fail`);
        assert.equal(result.outputs['status'] ?? 'failed', 'failed');
        assert.match(result.stdout, expected, JSON.stringify(change));
      }
      assert.equal(await treeDigest(member.dataDir), before, 'the data directory did not change');
      assert.deepEqual(
        (await readdir(path.dirname(member.dataDir))).filter((f) => f.includes('before-restore') || f.includes('restoring')),
        [],
      );
      await member.start();
      await cluster.waitHealthy();
    });

    it('a dry run downloads, verifies and restores into scratch space only, falling back to the second site when the first copy is corrupt', async () => {
      const member = cluster.members[0]!;
      await member.stop(); // A running member rewrites its own files; the digest must see only ours.
      const before = await treeDigest(member.dataDir);
      const object = (await readdir(path.join(dc1.root, 'prod'))).find((f) => f.startsWith(backupName) && !f.endsWith('.json'))!;
      const original = await readFile(path.join(dc1.root, 'prod', object));
      const corrupt = Buffer.from(original);
      corrupt.writeUInt8(corrupt.readUInt8(corrupt.length >> 1) ^ 0xff, corrupt.length >> 1);
      await writeFile(path.join(dc1.root, 'prod', object), corrupt);
      try {
        const result = await runDist('restore.js', restoreInputs(member, { 'dry-run': 'true', confirm: '' }));
        assert.equal(result.code, 0, result.stdout);
        assert.match(result.summary, /dry run/);
        assert.ok(result.summary.includes(dc2.url.replace('sftp://root@127.0.0.1', '')), 'the summary names the second site as the source');
        assert.match(result.stdout, /::warning::.*127\.0\.0\.1:\d+.*corrupt/i);
        assert.equal(await treeDigest(member.dataDir), before);
      } finally {
        await writeFile(path.join(dc1.root, 'prod', object), original);
        await member.start();
        await cluster.waitHealthy();
      }
    });

    it('restores every member from the same backup; the cluster then holds exactly the keys of backup time', async () => {
      await Promise.all(cluster.members.map((m) => m.stop()));
      const results = [];
      for (const member of cluster.members) {
        const result = await runDist('restore.js', restoreInputs(member));
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.match(result.outputs['moved-aside']!, new RegExp(`${path.basename(member.dataDir)}\\.before-restore-\\d{8}T\\d{6}Z$`));
        results.push(result);
      }
      await Promise.all(cluster.members.map((m) => m.start()));
      await cluster.waitHealthy();
      assert.deepEqual(userKeys(await cluster.getAll()), atBackup);
      // The old data is kept, never deleted.
      assert.ok((await stat(path.join(results[0]!.outputs['moved-aside']!, 'member'))).isDirectory());
      if (version === '3.5') {
        const status = JSON.parse(await cluster.etcdctl(['endpoint', 'status', '-w', 'json'])) as Array<{ Status: { header: { revision: number } } }>;
        assert.ok(status[0]!.Status.header.revision > 1_000_000_000, 'revisions were bumped for Kubernetes watchers');
      }
      const check = await run(process.execPath, [
        path.join(REPO_ROOT, 'dist', 'cli.js'), 'check-cluster', '--endpoints', cluster.endpoints.join(','), '--expect-keys', String(atBackup.size),
      ]);
      assert.match(check.stdout, /cluster check: healthy/);
    });

    it('a restore drill passes on a good backup and reports revision, keys and time', async () => {
      const drill = await runDist('verify.js', { ...storeInputs, 'decrypt-identity': identity });
      assert.equal(drill.code, 0, drill.stdout);
      assert.equal(drill.outputs['backup-name'], backupName);
      assert.equal(drill.outputs['keys'], String(atBackup.size));
      assert.ok(Number(drill.outputs['restore-seconds']) > 0);
      assert.match(drill.summary, /restore drill: passed/);
    });

    it("a drill refuses an uncompressed copy whose database etcd's own check finds damaged, and restores from the other site", async () => {
      // No compression and no encryption: nothing on the way checks the content, only the trailer
      // against the manifest. etcd's restore hashes the database and must send us to the next site.
      const raw = await runDist('backup.js', { ...storeInputs, 'cluster-name': 'plain', compression: 'none', endpoints: cluster.endpoints.join(',') });
      assert.equal(raw.code, 0, raw.stdout + raw.stderr);
      const name = raw.outputs['backup-name']!;
      const damage = async (site: SftpSite): Promise<void> => {
        const file = path.join(site.root, 'plain', `${name}.db`);
        const bytes = await readFile(file);
        const middle = bytes.length >> 1; // the middle of the database: the trailer stays as it was
        bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
        await writeFile(file, bytes);
      };
      await damage(dc1);
      const drill = await runDist('verify.js', { ...storeInputs, 'cluster-name': 'plain', backup: name });
      assert.equal(drill.code, 0, drill.stdout + drill.stderr);
      assert.equal(drill.outputs['status'], 'success');
      assert.match(drill.stdout, /::warning::.*127\.0\.0\.1:\d+.*etcd's restore found the snapshot corrupt/i, 'the warning says etcd refused the first copy');
      assert.ok(drill.summary.includes(dc2.url.replace('sftp://root@127.0.0.1', '')), 'the summary names the second site as the source');

      await damage(dc2);
      const failed = await runDist('verify.js', { ...storeInputs, 'cluster-name': 'plain', backup: name });
      assert.equal(failed.code, 1);
      assert.match(failed.stdout, /no store has a good copy/);
    });

    it("a drill whose etcd restore fails for another reason stops there, without blaming the copy or trying the other site", async () => {
      const bin = await tempDir('etcd-dr-broken-tools-');
      await writeFile(path.join(bin, 'etcd'), `#!/bin/sh\nexec ${path.join(cluster.binaries.binDir, 'etcd')} "$@"\n`, { mode: 0o755 });
      for (const tool of ['etcdutl', 'etcdctl']) {
        await writeFile(path.join(bin, tool), '#!/bin/sh\necho "Error: boom, the disk is on fire" >&2\nexit 1\n', { mode: 0o755 });
      }
      const drill = await runDist('verify.js', { ...storeInputs, 'decrypt-identity': identity, backup: backupName, 'etcd-bin-dir': bin });
      assert.equal(drill.code, 1);
      assert.match(drill.stdout, /boom, the disk is on fire/);
      assert.doesNotMatch(drill.stdout, /trying the next store|no store has a good copy/);
    });

    it('a restore drill fails on a truncated backup', async () => {
      for (const site of [dc1, dc2]) {
        const object = (await readdir(path.join(site.root, 'prod'))).find((f) => f.startsWith(backupName) && !f.endsWith('.json'))!;
        const file = path.join(site.root, 'prod', object);
        await truncate(file, (await stat(file)).size - 1000);
      }
      const drill = await runDist('verify.js', { ...storeInputs, 'decrypt-identity': identity, backup: backupName });
      assert.equal(drill.code, 1);
      assert.equal(drill.outputs['status'], 'failed');
      assert.match(drill.summary, /FAILED/);
    });
  });
}

describe('the break-glass CLI', () => {
  it('restores a one-member cluster from a local store with no GitHub around', async () => {
    const cluster = await startCluster({ version: '3.5', members: 1 });
    const storeDir = await tempDir('etcd-dr-cli-store-');
    try {
      await cluster.put('/registry/namespaces/default', 'ns');
      const cli = path.join(REPO_ROOT, 'dist', 'cli.js');
      const env = { PATH: process.env['PATH'] ?? '', HOME: os.tmpdir() };
      const common = ['--cluster-name', 'dev', '--stores', `file://${storeDir}`];
      const backup = await run(process.execPath, [cli, 'backup', ...common, '--endpoints', cluster.endpoints[0]!], { env });
      const name = /backup-name=(\S+)/.exec(backup.stdout)![1]!;
      await cluster.put('/registry/namespaces/after', 'gone after restore');
      const member = cluster.members[0]!;
      await member.stop();
      const restore = await run(process.execPath, [
        cli, 'restore', ...common, '--backup', name, '--confirm', 'dev', '--data-dir', member.dataDir, '--member-name', member.name,
        '--initial-advertise-peer-urls', member.peerUrl, '--etcd-service', 'none', '--etcd-bin-dir', cluster.binaries.binDir,
        '--endpoints', member.clientUrl,
      ], { env });
      assert.match(restore.stdout, /etcd restore: done/);
      await member.start();
      await cluster.waitHealthy();
      assert.deepEqual([...userKeys(await cluster.getAll()).keys()], ['/registry/namespaces/default']);
    } finally {
      await cluster.stop();
      await rm(storeDir, { recursive: true, force: true });
    }
  });
});
