import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import SftpClient from 'ssh2-sftp-client';
import { ETCD_VERSIONS, etcdBinaries, startCluster, type EtcdCluster } from './etcd.ts';
import { freePort } from './ports.ts';
import { knownHostKey, makeClientKey, startSftpSite, type SftpSite } from './sftp.ts';
import { tempDir } from './tmp.ts';

describe('ports', () => {
  it('never hands out the same port twice', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length);
  });
});

for (const version of ETCD_VERSIONS) {
  describe(`etcd ${version} cluster`, () => {
    let cluster: EtcdCluster | undefined;
    after(async () => {
      await cluster?.stop();
    });

    it('binaries exist', () => {
      const b = etcdBinaries(version);
      assert.ok(existsSync(b.etcd), b.etcd);
      assert.ok(existsSync(b.etcdctl), b.etcdctl);
      if (version === '3.5') assert.ok(b.etcdutl && existsSync(b.etcdutl));
    });

    it('starts 3 members with a leader; put/getAll round-trip; new leader after stop', async () => {
      cluster = await startCluster({ version, name: `v${version.replace('.', '')}` });
      const c = cluster;
      assert.equal(c.members.length, 3);
      assert.equal(c.endpoints.length, 3);
      assert.match(c.initialCluster, /^[^=]+=http:\/\/127\.0\.0\.1:\d+(,[^=]+=http:\/\/127\.0\.0\.1:\d+){2}$/);
      assert.match(await c.etcdctl(['version']), new RegExp(`etcdctl version: ${version.replace('.', '\\.')}\\.`));

      await c.put('/a/1', 'one');
      await c.put('/a/2', 'two with spaces');
      await c.put('/b/1', '-dash');
      assert.deepEqual(
        [...(await c.getAll('/a/')).entries()],
        [
          ['/a/1', 'one'],
          ['/a/2', 'two with spaces'],
        ],
      );
      const all = await c.getAll();
      assert.equal(all.size, 3);
      assert.equal(all.get('/b/1'), '-dash');

      const leader = await c.leader();
      await leader.stop();
      assert.equal(leader.running, false);
      const next = await c.leader();
      assert.notEqual(next.name, leader.name);
      await c.put('/after', 'x');
      await leader.start();
      assert.equal(leader.running, true);
      await c.waitHealthy();
      assert.equal((await c.etcdctl(['get', '/after', '--print-value-only'], { endpoints: [leader.clientUrl] })).trim(), 'x');

      // crash a follower and bring it back
      const follower = c.members.find((m) => m.name !== next.name && m.running);
      assert.ok(follower);
      follower.kill();
      assert.equal(follower.running, false);
      await follower.start();
      await c.waitHealthy();
    });
  });
}

describe('etcd TLS + auth', () => {
  let cluster: EtcdCluster | undefined;
  after(async () => {
    await cluster?.stop();
  });

  it('works with etcdctl using the client cert and root password', async () => {
    cluster = await startCluster({ version: '3.5', tls: true, auth: true, name: 'secure' });
    const c = cluster;
    assert.ok(c.tls && c.auth);
    assert.ok(c.endpoints.every((e) => e.startsWith('https://')));
    await c.put('k', 'v');
    assert.equal((await c.getAll()).get('k'), 'v');
    assert.match(await c.etcdctl(['auth', 'status']), /true/);

    // Without the password the request is refused: auth really is on.
    const { etcdctl } = c.binaries;
    const { run } = await import('./process.ts');
    await assert.rejects(
      run(etcdctl, [
        `--endpoints=${c.endpoints.join(',')}`,
        `--cacert=${c.tls.caFile}`,
        `--cert=${c.tls.certFile}`,
        `--key=${c.tls.keyFile}`,
        'get',
        'k',
      ], { env: { ...process.env, ETCDCTL_API: '3' } }),
    );
    // Without a client cert the TLS handshake is refused.
    await assert.rejects(
      run(etcdctl, [
        `--endpoints=${c.endpoints.join(',')}`,
        `--cacert=${c.tls.caFile}`,
        `--user=root:${c.auth.password}`,
        '--dial-timeout=2s',
        '--command-timeout=3s',
        'get',
        'k',
      ], { env: { ...process.env, ETCDCTL_API: '3' } }),
    );
  });

  it('works on 3.4 too', async () => {
    const c = await startCluster({ version: '3.4', tls: true, auth: true, members: 1, name: 'secure34' });
    try {
      await c.put('k34', 'v');
      assert.equal((await c.getAll()).get('k34'), 'v');
    } finally {
      await c.stop();
    }
  });
});

describe('sftp site', () => {
  const sites: SftpSite[] = [];
  let keyDir: string | undefined;
  after(async () => {
    await Promise.all(sites.map((s) => s.destroy()));
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  });

  function connectOpts(site: SftpSite, privateKey: string) {
    const expected = knownHostKey(site.knownHosts);
    return {
      host: site.host,
      port: site.port,
      username: site.user,
      privateKey,
      readyTimeout: 5000,
      hostVerifier: (key: Buffer): boolean => key.equals(expected),
    };
  }

  it('accepts the shared key, rejects another key, files land in root, survives restart', async () => {
    keyDir = await tempDir('etcd-dr-test-keys-');
    const key = await makeClientKey(path.join(keyDir, 'good'));
    const other = await makeClientKey(path.join(keyDir, 'bad'));
    const [a, b] = await Promise.all([
      startSftpSite('site-a', { clientKey: key }),
      startSftpSite('site-b', { clientKey: key }),
    ]);
    assert.ok(a && b);
    sites.push(a, b);
    assert.notEqual(a.port, b.port);
    assert.equal(a.url, `sftp://root@127.0.0.1:${a.port}${a.root}`);
    assert.match(a.knownHosts, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${a.port} ssh-ed25519 `));

    for (const site of [a, b]) {
      const sftp = new SftpClient();
      await sftp.connect(connectOpts(site, key.privateKey));
      try {
        await sftp.put(Buffer.from(`hello ${site.name}`), `${site.root}/hello.txt`);
        const back = await sftp.get(`${site.root}/hello.txt`);
        assert.ok(Buffer.isBuffer(back));
        assert.equal(back.toString(), `hello ${site.name}`);
      } finally {
        await sftp.end();
      }
      assert.equal(await readFile(path.join(site.root, 'hello.txt'), 'utf8'), `hello ${site.name}`);
    }

    const bad = new SftpClient();
    await assert.rejects(bad.connect(connectOpts(a, other.privateKey)), /authentication/i);
    await bad.end().catch(() => undefined);

    // A wrong host key must be rejected by the verifier (b's key on a's port).
    const wrongHost = new SftpClient();
    await assert.rejects(
      wrongHost.connect({ ...connectOpts(a, key.privateKey), hostVerifier: (k: Buffer) => k.equals(knownHostKey(b.knownHosts)) }),
    );
    await wrongHost.end().catch(() => undefined);

    await a.stop();
    assert.equal(a.running, false);
    const down = new SftpClient();
    await assert.rejects(down.connect(connectOpts(a, key.privateKey)));
    await down.end().catch(() => undefined);
    await a.start();
    assert.equal(a.running, true);
    const again = new SftpClient();
    await again.connect(connectOpts(a, key.privateKey));
    try {
      assert.equal((await again.get(`${a.root}/hello.txt`))?.toString(), 'hello site-a');
    } finally {
      await again.end();
    }
  });
});
