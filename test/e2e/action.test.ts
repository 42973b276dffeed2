/**
 * The committed bundle, run as a self-hosted runner runs it, against a real etcd cluster, two real
 * OpenSSH sites and a local stand-in for the GitHub API.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { startFakeGitHub, type FakeGitHub } from '../harness/fakeGitHub.ts';
import { makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { runDist } from '../harness/actionRunner.ts';
import { tempDir } from '../harness/tmp.ts';

describe('the bundled action (dist/) on a runner', () => {
  let cluster: EtcdCluster;
  let dc1: SftpSite;
  let dc2: SftpSite;
  let github: FakeGitHub;
  let inputs: Record<string, string>;
  let env: Record<string, string>;

  before(async () => {
    const keyDir = await tempDir('etcd-dr-e2e-key-');
    const clientKey = await makeClientKey(keyDir);
    [cluster, dc1, dc2, github] = await Promise.all([
      startCluster({ version: '3.5', tls: true }),
      startSftpSite('dc1', { clientKey }),
      startSftpSite('dc2', { clientKey }),
      startFakeGitHub(),
    ]);
    for (let i = 0; i < 50; i++) await cluster.put(`/registry/configmaps/default/cm-${i}`, JSON.stringify({ i }));
    inputs = {
      'cluster-name': 'prod',
      endpoints: cluster.endpoints.join(','),
      cacert: cluster.tls!.caFile,
      cert: cluster.tls!.certFile,
      key: cluster.tls!.keyFile,
      stores: `${dc1.url}\n${dc2.url}`,
      'ssh-private-key': clientKey.privateKey,
      'ssh-known-hosts': `${dc1.knownHosts}\n${dc2.knownHosts}`,
      'github-token': 'test-token',
    };
    env = { GITHUB_REPOSITORY: 'acme/platform', GITHUB_API_URL: github.url, GITHUB_SERVER_URL: 'https://github.example', GITHUB_RUN_ID: '42' };
  });

  after(async () => {
    await Promise.all([cluster?.stop(), dc1?.destroy(), dc2?.destroy(), github?.close()]);
  });

  it('backs up to both sites and reports outputs and a job summary', async () => {
    const run = await runDist('backup.js', inputs, { env });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.outputs['status'], 'success');
    assert.equal(run.outputs['stores-ok'], '2');
    const name = run.outputs['backup-name']!;
    assert.match(name, /^prod-\d{8}T\d{6}Z-etcd-\d-r\d+$/);
    assert.ok(Number(run.outputs['revision']) > 50);
    assert.match(run.summary, new RegExp(`etcd backup: success`));
    assert.ok(run.summary.includes(name));

    for (const site of [dc1, dc2]) {
      const files = await readdir(path.join(site.root, 'prod'));
      assert.ok(files.includes(`${name}.db.zst`), `${site.name} has the object: ${files.join(', ')}`);
      assert.ok(files.includes(`${name}.json`), `${site.name} has the manifest`);
      assert.ok(files.includes('status.json'));
      assert.equal(files.filter((f) => f.startsWith('.tmp-')).length, 0, 'no temporary files left');
      const object = await readFile(path.join(site.root, 'prod', `${name}.db.zst`));
      assert.equal(createHash('sha256').update(object).digest('hex'), run.outputs['sha256']);
      assert.equal(String(object.length), run.outputs['size']);
      assert.equal((await stat(path.join(site.root, 'prod', `${name}.db.zst`))).mode & 0o777, 0o600);
      const status = JSON.parse(await readFile(path.join(site.root, 'prod', 'status.json'), 'utf8')) as { lastAttempt: { outcome: string } };
      assert.equal(status.lastAttempt.outcome, 'success');
    }
    assert.equal(github.issues.length, 0, 'no issue for a successful run');
  });

  it('with one site down: backs up to the other, fails the step as degraded and opens an issue', async () => {
    await dc2.stop();
    try {
      const run = await runDist('backup.js', inputs, { env });
      assert.equal(run.code, 1);
      assert.equal(run.outputs['status'], 'degraded');
      assert.equal(run.outputs['stores-ok'], '1');
      assert.match(run.stdout, /::error::.*degraded.*127\.0\.0\.1:\d+/);
      const files = await readdir(path.join(dc1.root, 'prod'));
      assert.ok(files.includes(`${run.outputs['backup-name']}.json`));
      assert.equal(github.issues.length, 1);
      assert.match(github.issues[0]!.body, /degraded/);
      assert.match(github.issues[0]!.body, /https:\/\/github\.example\/acme\/platform\/actions\/runs\/42/);
    } finally {
      await dc2.start();
    }
  });

  it('the next good run heals the site that missed a backup and closes the issue', async () => {
    const run = await runDist('backup.js', inputs, { env });
    assert.equal(run.code, 0, run.stdout);
    assert.equal(run.outputs['healed'], '1');
    const one = (await readdir(path.join(dc1.root, 'prod'))).filter((f) => f.endsWith('.json') && f !== 'status.json').sort();
    const two = (await readdir(path.join(dc2.root, 'prod'))).filter((f) => f.endsWith('.json') && f !== 'status.json').sort();
    assert.deepEqual(two, one);
    assert.equal(github.issues[0]!.state, 'closed');
  });

  it('the root action runs the command its `command` input names', async () => {
    const run = await runDist('main.js', { ...inputs, command: 'list' }, { env });
    assert.equal(run.code, 0, run.stdout);
    const backups = JSON.parse(run.outputs['backups']!) as Array<{ name: string; sites: string[]; consistent: boolean }>;
    assert.ok(backups.length >= 2);
    assert.ok(backups.every((b) => b.sites.length === 2 && b.consistent), run.outputs['backups']);
    assert.match(run.summary, /etcd backups of prod/);
  });

  it('refuses an unknown host key and writes nothing to that site', async () => {
    const run = await runDist('backup.js', { ...inputs, stores: dc1.url, 'ssh-known-hosts': dc2.knownHosts }, { env });
    assert.equal(run.code, 1);
    assert.equal(run.outputs['status'], 'failed');
    assert.match(run.stdout, /host key/i);
  });
});
