/**
 * The journal reader against real OpenSSH sites holding real full backups (runBackup on real etcd) and
 * segments published with the journal writer's own functions from a recorder's revisions.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { storesFromSettings, closeAll } from '../../src/config/stores.ts';
import type { Manifest } from '../../src/repository/manifest.ts';
import { connect } from '../../src/etcd/connection.ts';
import { readJournalIndex, readRevisions, revisionAtTime } from '../../src/journal/reader.ts';
import { windowFor } from '../../src/journal/readerChain.ts';
import { journalFolder, type SegmentManifest } from '../../src/journal/segment.ts';
import type { Store } from '../../src/stores/store.ts';
import { recordingLog, successfulBackup } from '../harness/engine.ts';
import { startCluster, type EtcdCluster, type EtcdVersion } from '../harness/etcd.ts';
import { settingsFrom, siteInputs } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';
import { publishRecorded } from './reader-fixture.ts';
import { startRecorder, type TestRecorder } from './replay-recorder.ts';

const CASES: Array<{ version: EtcdVersion; encrypted: boolean }> = [
  { version: '3.4', encrypted: false },
  { version: '3.5', encrypted: true },
];

for (const { version, encrypted } of CASES) {
  describe(`journal reader on real sites, etcd ${version}${encrypted ? ', age-encrypted' : ''}`, () => {
    let cluster: EtcdCluster;
    let dc1: SftpSite;
    let dc2: SftpSite;
    let stores: Store[];
    let recorder: TestRecorder;
    let first: Manifest;
    let second: Manifest;
    let segments: SegmentManifest[];
    let identities: string[];
    let scratch: string;
    let final: number;

    const folderOn = (site: SftpSite): string => path.join(site.root, journalFolder('prod'));
    const objectPath = (site: SftpSite, s: SegmentManifest): string => path.join(folderOn(site), s.object.file);
    const manifestPath = (site: SftpSite, s: SegmentManifest): string => path.join(folderOn(site), `${s.name}.json`);
    const options = () => ({ identities, scratchDir: scratch, log: recordingLog() });

    before(async () => {
      const clientKey = await makeClientKey(await tempDir('etcd-dr-reader-key-'));
      [cluster, dc1, dc2] = await Promise.all([
        startCluster({ version, members: 1, name: `reader-${version.replace('.', '')}` }),
        startSftpSite('dc1', { clientKey }),
        startSftpSite('dc2', { clientKey }),
      ]);
      stores = storesFromSettings(settingsFrom({ ...siteInputs([dc1, dc2]), 'cluster-name': 'prod' }));
      scratch = await tempDir('etcd-dr-reader-scratch-');
      const identity = await generateX25519Identity();
      identities = encrypted ? [identity] : [];
      const recipients = encrypted ? [await identityToRecipient(identity)] : [];
      const client = await connect({ endpoints: cluster.endpoints, callTimeoutMs: 10_000 });
      try {
        for (let i = 0; i < 20; i++) await client.put(`/registry/pods/p-${i}`).value(`v${i}`);
        recorder = await startRecorder(cluster.endpoints[0]!, 1);
        const backup = (): Promise<Manifest> => successfulBackup(cluster, stores, { cluster: 'prod', recipients });
        first = await backup();
        for (let i = 0; i < 60; i++) await client.put(`/registry/pods/p-${i % 30}`).value(`after first ${i}`);
        second = await backup();
        for (let i = 0; i < 40; i++) await client.delete().key(`/registry/pods/p-${i % 30}`);
        final = Number((await client.maintenance.status()).header.revision);
      } finally {
        client.close();
      }
      await recorder.waitFor(final);
      segments = await publishRecorded(stores, 'prod', first, recorder.records, recorder.leases, { revisionsPerSegment: 10, recipients });
    });
    after(async () => {
      await recorder?.stop();
      await closeAll(stores ?? []);
      await Promise.all([cluster?.stop(), dc1?.destroy(), dc2?.destroy()]);
    });

    it('lists one recoverable window from the oldest full backup to the end of the journal, with both backups and no problem', async () => {
      const index = await readJournalIndex(stores, 'prod');
      assert.deepEqual(index.problems, []);
      assert.equal(index.segments.length, segments.length);
      assert.ok(index.segments.every((s) => s.copies.length === 2), 'both sites hold every segment');
      assert.deepEqual(
        index.windows.map((w) => [w.fromRevision, w.toRevision, w.backups.map((b) => b.name)]),
        [[first.revision, final, [first.name, second.name]]],
      );
    });

    it('streams every revision of a range exactly once, in order, as the recorder saw it', async () => {
      const index = await readJournalIndex(stores, 'prod');
      const got = [];
      for await (const record of readRevisions(index, first.revision + 1, final, options())) got.push(record);
      assert.deepEqual(got, recorder.records.filter((r) => r.rev > first.revision && r.rev <= final));
      const middle = [];
      for await (const record of readRevisions(index, second.revision + 3, second.revision + 12, options())) middle.push(record.rev);
      assert.deepEqual(middle, Array.from({ length: 10 }, (_, i) => second.revision + 3 + i));
    });

    it('a corrupt copy on the first site is skipped, with a warning, and the second site\'s copy is read', async () => {
      const target = segments[2]!;
      const file = objectPath(dc1, target);
      const original = await readFile(file);
      const corrupt = Buffer.from(original);
      corrupt.writeUInt8(corrupt.readUInt8(corrupt.length >> 1) ^ 0xff, corrupt.length >> 1);
      await writeFile(file, corrupt);
      try {
        const index = await readJournalIndex(stores, 'prod');
        const log = recordingLog();
        const got = [];
        for await (const record of readRevisions(index, target.firstRevision, target.lastRevision, { ...options(), log })) got.push(record.rev);
        assert.equal(got.length, target.revisions);
        assert.match(log.lines.join('\n'), new RegExp(`warning: read ${target.name} from .*${dc2.port}.* after skipping: .*${dc1.port}.*sha256`));
      } finally {
        await writeFile(file, original);
      }
    });

    it('a segment truncated on every site is a problem: the window ends before it, and reading through it is an error, never a skipped revision', async () => {
      const target = segments[1]!;
      const originals = await Promise.all([dc1, dc2].map((s) => readFile(objectPath(s, target))));
      await Promise.all([dc1, dc2].map((s) => truncate(objectPath(s, target), 20)));
      try {
        const index = await readJournalIndex(stores, 'prod');
        assert.match(index.problems.join('\n'), new RegExp(`${target.name}: no site has a usable copy`));
        assert.match(index.problems.join('\n'), new RegExp(`revisions ${target.firstRevision}\\.\\.${target.lastRevision} are missing`));
        assert.equal(index.windows[0]!.fromRevision, first.revision);
        assert.equal(index.windows[0]!.toRevision, target.firstRevision - 1);
        assert.equal(index.windows[index.windows.length - 1]!.toRevision, final, 'the later backup still reaches the end');
        await assert.rejects(async () => {
          for await (const _ of readRevisions(index, first.revision + 1, final, options())) void _;
        }, /holds no unbroken run/);
        assert.throws(() => windowFor(index.windows, { kind: 'revision', revision: target.firstRevision }), /falls in a gap of the journal/);
      } finally {
        await Promise.all([dc1, dc2].map((s, i) => writeFile(objectPath(s, target), originals[i]!)));
      }
    });

    it('a broken hash chain and an unreadable manifest are problems that end the window there; a foreign file is only a note', async () => {
      const target = segments[3]!;
      const originals = await Promise.all([dc1, dc2].map((s) => readFile(manifestPath(s, target), 'utf8')));
      const rewritten = JSON.stringify({ ...JSON.parse(originals[0]!), previousSha256: 'f'.repeat(64) }, null, 2);
      await Promise.all([dc1, dc2].map((s) => writeFile(manifestPath(s, target), rewritten)));
      await writeFile(path.join(folderOn(dc1), 'notes.txt'), 'someone left this here');
      try {
        let index = await readJournalIndex(stores, 'prod');
        assert.match(index.problems.join('\n'), new RegExp(`hash chain broken: ${target.name} does not name the sha256 of ${segments[2]!.name}`));
        assert.equal(index.windows[0]!.toRevision, segments[2]!.lastRevision);
        assert.match(index.notes.join('\n'), /notes\.txt is not a journal file of prod: ignored/);
        await Promise.all([dc1, dc2].map((s) => writeFile(manifestPath(s, target), originals[0]!.slice(0, 50))));
        index = await readJournalIndex(stores, 'prod');
        assert.match(index.problems.join('\n'), new RegExp(`segment ${target.name}: manifest unreadable on every site`));
        assert.equal(index.windows[0]!.toRevision, segments[2]!.lastRevision);
      } finally {
        await Promise.all([dc1, dc2].map((s, i) => writeFile(manifestPath(s, target), originals[i]!)));
        await rm(path.join(folderOn(dc1), 'notes.txt'), { force: true });
      }
      assert.deepEqual((await readJournalIndex(stores, 'prod')).problems, []);
    });

    it('a time resolves to the last revision received at or before it', async () => {
      const index = await readJournalIndex(stores, 'prod');
      const window = index.windows[0]!;
      for (const record of [recorder.at(first.revision + 5), recorder.at(second.revision + 7), recorder.at(final)]) {
        const time = new Date(Date.parse(record.at) + 1);
        const expected = Math.max(...recorder.records.filter((r) => r.rev > first.revision && Date.parse(r.at) <= time.getTime()).map((r) => r.rev));
        const found = await revisionAtTime(index, window, time, options());
        assert.equal(found.revision, expected);
        assert.equal(found.at, recorder.at(expected).at);
      }
      assert.ok((await readdir(scratch)).length === 0, 'no segment left in scratch space');
    });
  });
}
