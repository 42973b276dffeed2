/**
 * Issue 14, point 6: a run that finds the cluster's lock in etcd held waits for it (up to the holder lease's
 * remaining time plus a margin) instead of failing at once, so a crashed run never causes a failed run or
 * an alarm; a live holder still makes it give up, naming the holder. Real etcd (3.4 and 3.5), the local
 * fake GitHub for alarms.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { runCommand } from '../../src/commands/index.ts';
import { connect } from '../../src/etcd/connection.ts';
import { acquireLock, LOCK_WAIT_MARGIN_SECONDS, LockBusyError, lockKey, lockWaitSeconds } from '../../src/etcd/lock.ts';
import { accessFor } from '../harness/engine.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { startFakeGitHub, type FakeGitHub } from '../harness/fakeGitHub.ts';
import { commandDeps, etcdInputs, settingsFrom, siteInputs, testClock } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';

/** The lock as a crashed run leaves it: the key on a lease of `ttl` seconds that nobody renews. */
async function crashedHolder(client: Etcd3, cluster: string, holder: string, ttl: number): Promise<void> {
  const leaseId = await client.lease(ttl, { autoKeepAlive: false }).grant();
  await client.put(lockKey(cluster)).value(JSON.stringify({ holder, pid: 4242 })).lease(leaseId);
}

/** Lines said through a LockWait's log. */
function lines(): { info: (message: string) => void; said: string[] } {
  const said: string[] = [];
  return { said, info: (message) => said.push(message) };
}

describe('waiting for the lock: how long', () => {
  it('waits the holder lease\'s remaining seconds, plus one (etcd expires "in under TTL+1 s") and the margin', () => {
    assert.equal(lockWaitSeconds(42, 60, 5), 48);
    assert.equal(lockWaitSeconds(0, 60, 5), 6);
  });
  it('waits our own lock TTL plus the margin when etcd does not say how long the holder has left', () => {
    assert.equal(lockWaitSeconds(undefined, 60, 5), 65);
  });
});

for (const version of ETCD_VERSIONS) describe(`the lock in etcd ${version}, held by another run`, () => {
  let cluster: EtcdCluster;
  let client: Etcd3;

  before(async () => {
    cluster = await startCluster({ version, members: 1, name: `lock-${version.replace('.', '')}` });
    client = await connect(accessFor(cluster));
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('left by a crashed run, is taken once etcd expires that run\'s lease, after a line naming the holder and the wait', async () => {
    await crashedHolder(client, 'crashed', 'runner-that-died', 2);
    const log = lines();
    const lock = await acquireLock(client, 'crashed', 'next-run', 10, () => undefined, { log });
    try {
      const value = JSON.parse((await client.get(lockKey('crashed')).string()) ?? '{}') as { holder?: string };
      assert.equal(value.holder, 'next-run', 'the waiting run now holds the lock');
      assert.equal(log.said.length, 1, log.said.join('\n'));
      assert.match(log.said[0]!, /runner-that-died \(pid 4242\)/);
      assert.match(log.said[0]!, /waiting up to \d+ s for the lock/);
    } finally {
      await lock.release();
    }
    assert.equal(await client.get(lockKey('crashed')).string(), null, 'releasing frees the lock');
  });

  it('by a live run that keeps renewing its lease, gives up after that lease\'s remaining time plus the margin, naming the holder', async () => {
    const live = await acquireLock(client, 'live', 'runner-on-node-2', 30, () => undefined);
    const leasesBefore = (await client.leaseClient.leaseLeases()).leases.length;
    const clock = testClock();
    const slept: number[] = [];
    const log = lines();
    try {
      // The wait runs on a clock that moves only when the lock sleeps, so the test takes no time.
      const sleep = async (ms: number): Promise<void> => {
        slept.push(ms);
        clock.advance(ms);
      };
      await assert.rejects(acquireLock(client, 'live', 'next-run', 10, () => undefined, { log, now: clock.now, sleep }), (error: unknown) => {
        assert.ok(error instanceof LockBusyError, String(error));
        assert.match(error.message, /runner-on-node-2/);
        assert.match(error.message, /still did after waiting \d+ s/);
        return true;
      });
      const waited = slept.reduce((a, b) => a + b, 0);
      // The holder's 30 s lease has 29-30 s left when asked; waited = that + 1 + the margin.
      assert.ok(waited >= (29 + 1 + LOCK_WAIT_MARGIN_SECONDS) * 1000, `waited ${waited} ms`);
      assert.ok(waited <= (30 + 1 + LOCK_WAIT_MARGIN_SECONDS) * 1000, `waited ${waited} ms`);
      assert.match(log.said.join('\n'), /runner-on-node-2.*its lease expires in (29|30) s unless that run renews it: waiting up to \d+ s/);
      const value = JSON.parse((await client.get(lockKey('live')).string()) ?? '{}') as { holder?: string };
      assert.equal(value.holder, 'runner-on-node-2', 'the live run keeps its lock');
      assert.equal((await client.leaseClient.leaseLeases()).leases.length, leasesBefore, 'the run that gave up left no lease behind');
    } finally {
      await live.release();
    }
  });

  it('by a key with no lease (written by hand), is refused at once, saying how to delete it', async () => {
    await client.put(lockKey('by-hand')).value('{"holder":"someone-with-etcdctl"}');
    try {
      const slept: number[] = [];
      await assert.rejects(
        acquireLock(client, 'by-hand', 'next-run', 10, () => undefined, { log: lines(), sleep: async (ms) => void slept.push(ms) }),
        /someone-with-etcdctl.*never frees itself.*etcdctl del \/etcd-dr\/locks\/by-hand/,
      );
      assert.deepEqual(slept, [], 'no waiting for a lock that cannot expire');
    } finally {
      await client.delete().key(lockKey('by-hand'));
    }
  });
});

describe('a backup that finds the lock held (action command, real sites, fake GitHub)', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let sites: SftpSite[];
  let github: FakeGitHub;

  before(async () => {
    const clientKey = await makeClientKey(await tempDir('etcd-dr-lockwait-key-'));
    [cluster, github, ...sites] = await Promise.all([
      startCluster({ version: '3.5', members: 1, name: 'lockwait' }),
      startFakeGitHub(),
      startSftpSite('lockwait-dc1', { clientKey }),
      startSftpSite('lockwait-dc2', { clientKey }),
    ]);
    await cluster.put('/registry/namespaces/default', '{"kind":"Namespace"}');
    client = await connect(accessFor(cluster));
  });
  after(async () => {
    client?.close();
    await Promise.all([cluster?.stop(), github?.close(), ...(sites ?? []).map((s) => s.destroy())]);
  });

  const inputsFor = (name: string): Record<string, string> => ({
    'cluster-name': name,
    ...siteInputs(sites),
    ...etcdInputs(cluster),
    'github-token': 'test-token',
  }) as Record<string, string>;
  const githubEnv = (): NodeJS.ProcessEnv => ({ GITHUB_REPOSITORY: 'acme/platform', GITHUB_API_URL: github.url });

  it('left by a crashed run, waits for it and succeeds: no failed run, no alarm issue', async () => {
    await crashedHolder(client, 'payments', 'runner-that-died', 3);
    const requestsBefore = github.requests.length;
    const deps = commandDeps({ realSleep: true });
    const report = await runCommand('backup', settingsFrom(inputsFor('payments'), githubEnv()), deps);
    assert.equal(report.outcome, 'success', report.summary);
    assert.ok(
      deps.lines.some((l) => /^info: .*\/etcd-dr\/locks\/payments: runner-that-died .*waiting up to \d+ s for the lock/.test(l)),
      `the step log says who holds the lock and how long the run waits:\n${deps.lines.join('\n')}`,
    );
    assert.equal(report.failure, undefined);
    assert.deepEqual(github.issues, [], 'no alarm issue opened');
    const writes = github.requests.slice(requestsBefore).filter((r) => r.method !== 'GET');
    assert.deepEqual(writes, [], 'nothing written to GitHub');
  });

  it('held by a live run, gives up after the wait with a failure that names the holder', async () => {
    const live = await acquireLock(client, 'orders', 'runner-on-node-2', 3, () => undefined);
    try {
      const report = await runCommand('backup', settingsFrom(inputsFor('orders'), githubEnv()), commandDeps({ realSleep: true }));
      assert.equal(report.outcome, 'failed', report.summary);
      assert.match(report.failure ?? '', /another etcd-dr run holds the lock \/etcd-dr\/locks\/orders: runner-on-node-2/);
      assert.match(report.failure ?? '', /still did after waiting \d+ s/);
    } finally {
      await live.release();
    }
  });
});
