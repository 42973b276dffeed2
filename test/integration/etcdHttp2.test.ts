/**
 * The journal's own HTTP/2 calls to etcd against real etcd, both versions, plain and TLS + auth.
 * The watch (src/etcd/watch.ts): every change arrives as etcd made it (puts with leases, transactions,
 * deletes), progress is answered, compaction is reported, bad credentials and dead endpoints are named, a
 * killed member ends the watch, and a member cut off from its cluster cancels it (we ask etcd to require a
 * leader). LeaseTimeToLive (src/etcd/unaryClient.ts): the TTLs etcd reports, and a dead member skipped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type EtcdAccess } from '../../src/etcd/connection.ts';
import { leaseTimeToLive } from '../../src/etcd/leases.ts';
import { EtcdHttp2Client } from '../../src/etcd/http2Client.ts';
import { openWatch, type EtcdWatch } from '../../src/etcd/watch.ts';
import { WHOLE_KEYSPACE, type WatchResponseMessage } from '../../src/etcd/watchMessages.ts';
import { accessFor } from '../harness/engine.ts';
import { ETCD_VERSIONS, startCluster, type EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';

/** A watch that records what it receives, with a way to wait for a condition on it. */
class Recorder {
  readonly responses: WatchResponseMessage[] = [];
  ended: Error | undefined;
  private waiters: (() => void)[] = [];

  readonly handlers = {
    onResponse: (r: WatchResponseMessage): void => {
      this.responses.push(r);
      this.notify();
    },
    onEnd: (error: Error): void => {
      this.ended = error;
      this.notify();
    },
  };

  async until(what: string, test: () => boolean, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}; got ${JSON.stringify(this.responses.map((r) => r.kind))}, ended: ${this.ended?.message}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  events(): { type: string; key: string; value: string; rev: number; create: number; version: number; lease: string }[] {
    return this.responses.flatMap((r) =>
      r.kind === 'events'
        ? r.events.map((e) => ({
            type: e.type,
            key: e.kv.key.toString(),
            value: e.kv.value.toString(),
            rev: e.kv.modRevision,
            create: e.kv.createRevision,
            version: e.kv.version,
            lease: e.kv.lease,
          }))
        : [],
    );
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

for (const version of ETCD_VERSIONS) {
  for (const secure of [false, true]) {
    describe(`HTTP/2 calls: etcd ${version}, ${secure ? 'TLS + auth' : 'plain'}`, () => {
      let cluster: EtcdCluster;
      let access: EtcdAccess;
      const open: EtcdWatch[] = [];

      before(async () => {
        cluster = await startCluster({ version, members: 1, name: `h2watch-${version}-${secure ? 'tls' : 'plain'}`, tls: secure, auth: secure });
        access = accessFor(cluster);
      });
      after(async () => {
        for (const w of open) w.close();
        await cluster?.stop();
      });

      it('delivers every change as etcd made it: puts with lease, version and create revision, a transaction in one revision, deletes', async () => {
        const client = await connect(access);
        try {
          const start = Number((await client.put('/w/start').value('0').exec()).header.revision) + 1;
          const lease = client.lease(60, { autoKeepAlive: false });
          const leaseId = await lease.grant();
          const r1 = Number((await lease.put('/w/a').value('one').exec()).header.revision);
          const r2 = Number((await client.if('/w/a', 'Version', '>', 0).then(client.put('/w/b').value('two'), client.put('/w/a').value('uno')).commit()).header.revision);
          const r3 = Number((await client.delete().key('/w/b').exec()).header.revision);
          const recorder = new Recorder();
          const watch = await openWatch(access, cluster.endpoints, WHOLE_KEYSPACE, start, recorder.handlers);
          open.push(watch);
          await recorder.until('the delete', () => recorder.events().some((e) => e.rev === r3));
          assert.deepEqual(recorder.events(), [
            { type: 'put', key: '/w/a', value: 'one', rev: r1, create: r1, version: 1, lease: leaseId },
            { type: 'put', key: '/w/b', value: 'two', rev: r2, create: r2, version: 1, lease: '0' },
            { type: 'put', key: '/w/a', value: 'uno', rev: r2, create: r1, version: 2, lease: '0' },
            { type: 'delete', key: '/w/b', value: '', rev: r3, create: 0, version: 0, lease: '0' },
          ]);
          assert.equal(recorder.responses[0]?.kind, 'created', 'etcd confirms the watch first');
          assert.equal(recorder.ended, undefined);
          watch.requestProgress();
          await recorder.until('a progress notification', () => recorder.responses.some((r) => r.kind === 'progress'));
          const progress = recorder.responses.find((r) => r.kind === 'progress');
          assert.ok(progress?.kind === 'progress' && progress.revision >= r3, 'progress covers the last change');
          watch.close();
        } finally {
          client.close();
        }
      });

      it('reports a start revision etcd compacted away (and nothing else)', async () => {
        const start = Number(JSON.parse(await cluster.etcdctl(['put', '/w/c', 'x', '-w', 'json'])).header.revision);
        await cluster.put('/w/c', 'y');
        const at = Number(JSON.parse(await cluster.etcdctl(['put', '/w/c', 'z', '-w', 'json'])).header.revision);
        await cluster.etcdctl(['compact', String(at)]);
        const recorder = new Recorder();
        open.push(await openWatch(access, cluster.endpoints, WHOLE_KEYSPACE, start, recorder.handlers));
        await recorder.until('the compaction', () => recorder.responses.some((r) => r.kind === 'compacted'));
        assert.deepEqual(recorder.responses.filter((r) => r.kind !== 'created'), [{ kind: 'compacted', compactRevision: at }]);
      });

      it('skips an endpoint where nothing listens, and names every endpoint when none answers', async () => {
        const closed = `${secure ? 'https' : 'http'}://127.0.0.1:${await freePort()}`;
        const recorder = new Recorder();
        const watch = await openWatch(access, [closed, ...cluster.endpoints], WHOLE_KEYSPACE, 1, recorder.handlers);
        open.push(watch);
        assert.equal(watch.endpoint, cluster.endpoints[0]);
        await assert.rejects(openWatch(access, [closed], WHOLE_KEYSPACE, 1, new Recorder().handlers), (error: Error) => {
          assert.match(error.message, /no member answered/);
          assert.ok(error.message.includes(closed.replace(/^https?:\/\//, '')), error.message);
          return true;
        });
      });

      it("LeaseTimeToLive: a live lease's granted and remaining TTL, and -1 for one etcd no longer knows", async () => {
        const client = await connect(access);
        const unary = new EtcdHttp2Client(access);
        try {
          const lease = client.lease(30, { autoKeepAlive: false });
          const id = await lease.grant();
          const live = await leaseTimeToLive(unary, id);
          assert.equal(live.grantedTtl, 30);
          assert.ok(live.ttl > 0 && live.ttl <= 30, `remaining ${live.ttl}`);
          await lease.revoke();
          assert.deepEqual(await leaseTimeToLive(unary, id), { ttl: -1, grantedTtl: 0 });
        } finally {
          unary.close();
          client.close();
        }
      });

      if (secure) {
        it('refuses a wrong password with etcd\'s own message, before any watch', async () => {
          await assert.rejects(
            openWatch({ ...access, auth: { username: access.auth!.username, password: 'wrong' } }, cluster.endpoints, WHOLE_KEYSPACE, 1, new Recorder().handlers),
            /authentication failed|invalid auth/,
          );
        });
      }
    });
  }

  describe(`HTTP/2 calls: etcd ${version}, members that go away`, () => {
    let cluster: EtcdCluster;

    before(async () => {
      cluster = await startCluster({ version, members: 3, name: `h2watch-${version}-3m` });
    });
    after(() => cluster?.stop());

    it('ends the watch when its member is killed, and when its member loses the leader (cut off from the others)', async () => {
      const access = accessFor(cluster);
      // Killed: the connection drops, the watch ends at once with a reason.
      const victim = cluster.members[2]!;
      const killed = new Recorder();
      open(await openWatch(access, [victim.clientUrl], WHOLE_KEYSPACE, 1, killed.handlers));
      await killed.until('created', () => killed.responses.length > 0);
      victim.kill();
      await killed.until('the end of the watch', () => killed.ended !== undefined, 10_000);
      assert.match(killed.ended!.message, new RegExp(`watch on etcd at ${victim.clientUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

      // Alone: with the other two stopped, the last member has no leader; etcd cancels a watch that
      // requires one, rather than leaving it silent while (in a real partition) the others go on.
      const alone = cluster.members[0]!;
      const lonely = new Recorder();
      open(await openWatch(access, [alone.clientUrl], WHOLE_KEYSPACE, 1, lonely.handlers));
      await lonely.until('created', () => lonely.responses.length > 0);
      await cluster.members[1]!.stop();
      await lonely.until('the cancellation', () => lonely.ended !== undefined || lonely.responses.some((r) => r.kind === 'canceled'), 30_000);
      const cancelled = lonely.responses.find((r) => r.kind === 'canceled');
      const reason = cancelled?.kind === 'canceled' ? cancelled.reason : (lonely.ended?.message ?? '');
      assert.match(reason, /no leader/);
    });

    it('LeaseTimeToLive moves to the next member when its member is gone', async () => {
      // The test before left one member running, without a leader: all three back, then one killed.
      for (const m of cluster.members) if (!m.running) await m.start();
      await cluster.waitHealthy();
      const dead = cluster.members[2]!;
      dead.kill();
      const running = cluster.members.filter((m) => m.running);
      const client = await connect(accessFor(cluster, running.map((m) => m.clientUrl)));
      try {
        const id = await client.lease(60, { autoKeepAlive: false }).grant();
        // The dead endpoint first: the client connects through the next one.
        const unary = new EtcdHttp2Client(accessFor(cluster, [dead.clientUrl, ...running.map((m) => m.clientUrl)]));
        try {
          assert.equal((await leaseTimeToLive(unary, id)).grantedTtl, 60);
        } finally {
          unary.close();
        }
      } finally {
        client.close();
      }
    });

    const watches: EtcdWatch[] = [];
    function open(watch: EtcdWatch): void {
      watches.push(watch);
    }
    after(() => {
      for (const w of watches) w.close();
    });
  });
}
