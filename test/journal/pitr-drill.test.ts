/**
 * The daily drill proves the journal (issue 13): `verify` replays the journal from one full backup to the
 * revision of the next and compares the result with that backup restored on its own, key by key. Real etcd
 * 3.4 and 3.5, real OpenSSH sites, segments made by the journal writer's own encoder and publisher.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { runCommand } from '../../src/commands/index.ts';
import { closeAll, storesFromSettings } from '../../src/config/stores.ts';
import { connect } from '../../src/etcd/connection.ts';
import { encodeSegment } from '../../src/journal/encode.ts';
import type { RevisionRecord } from '../../src/journal/records.ts';
import { journalFolder, type SegmentManifest } from '../../src/journal/segment.ts';
import type { Manifest } from '../../src/repository/manifest.ts';
import type { Store } from '../../src/stores/store.ts';
import { successfulBackup } from '../harness/engine.ts';
import { startCluster, type EtcdCluster, type EtcdVersion } from '../harness/etcd.ts';
import { commandDeps, prodInputs, settingsFrom, type InputValues } from '../harness/settings.ts';
import { makeClientKey, startSftpSite, type SftpSite } from '../harness/sftp.ts';
import { tempDir } from '../harness/tmp.ts';
import { decodeSegment } from './journal-sites.ts';
import { publishRecorded } from './reader-fixture.ts';
import { startRecorder, type TestRecorder } from './replay-recorder.ts';

const CASES: Array<{ version: EtcdVersion; encrypted: boolean }> = [
  { version: '3.4', encrypted: true },
  { version: '3.5', encrypted: false },
];

async function decode(bytes: Buffer, manifest: SegmentManifest, identities: readonly string[]): Promise<RevisionRecord[]> {
  return (await decodeSegment(bytes, manifest, identities, manifest.object.file)).filter((r): r is RevisionRecord => r.type === 'rev');
}

for (const { version, encrypted } of CASES) {
  describe(`the drill's journal check, etcd ${version}${encrypted ? ', age-encrypted' : ''}`, () => {
    let cluster: EtcdCluster;
    let dc1: SftpSite;
    let dc2: SftpSite;
    let stores: Store[];
    let recorder: TestRecorder;
    let first: Manifest;
    let second: Manifest;
    let segments: SegmentManifest[];
    let identity: string;
    let recipients: string[];
    let inputs: InputValues;

    const folderOn = (site: SftpSite): string => path.join(site.root, journalFolder('prod'));
    const verify = (extra: InputValues = {}) => runCommand('verify', settingsFrom({ ...inputs, ...extra }), commandDeps({ realSleep: true }));

    before(async () => {
      const clientKey = await makeClientKey(await tempDir('etcd-dr-pitr-drill-key-'));
      [cluster, dc1, dc2] = await Promise.all([
        startCluster({ version, members: 1, name: `drill-${version.replace('.', '')}` }),
        startSftpSite('dc1', { clientKey }),
        startSftpSite('dc2', { clientKey }),
      ]);
      identity = await generateX25519Identity();
      recipients = encrypted ? [await identityToRecipient(identity)] : [];
      inputs = prodInputs(cluster, [dc1, dc2], encrypted ? identity : undefined);
      stores = storesFromSettings(settingsFrom(inputs));
      const client = await connect({ endpoints: cluster.endpoints, callTimeoutMs: 10_000 });
      try {
        for (let i = 0; i < 30; i++) await client.put(`/registry/secrets/s-${i}`).value(`secret ${i}`);
        recorder = await startRecorder(cluster.endpoints[0]!, 1);
        const backup = (): Promise<Manifest> => successfulBackup(cluster, stores, { cluster: 'prod', recipients });
        first = await backup();
        const lease = (await client.leaseClient.leaseGrant({ TTL: 300 })).ID;
        for (let i = 0; i < 80; i++) {
          if (i % 10 === 0) await client.put(`/registry/leases/l-${i}`).value('held').lease(lease);
          else if (i % 7 === 0) await client.delete().key(`/registry/secrets/s-${i % 30}`);
          else await client.put(`/registry/secrets/s-${i % 40}`).value(`v${i}`);
        }
        await client.if('/registry/secrets/s-1', 'Version', '>', 0).then(client.put('/registry/configmaps/a').value('A'), client.put('/registry/configmaps/b').value('B')).commit();
        second = await backup();
        for (let i = 0; i < 20; i++) await client.put(`/registry/secrets/after-${i}`).value('after the second backup');
        await recorder.waitFor(Number((await client.maintenance.status()).header.revision));
      } finally {
        client.close();
      }
      segments = await publishRecorded(stores, 'prod', first, recorder.records, recorder.leases, { revisionsPerSegment: 15, recipients });
    });
    after(async () => {
      await recorder?.stop();
      await closeAll(stores ?? []);
      await Promise.all([cluster?.stop(), dc1?.destroy(), dc2?.destroy()]);
    });

    it('passes on a good journal: replayed from one full backup to the next, every key equals that backup', async () => {
      const report = await verify();
      assert.equal(report.outcome, 'success', report.summary);
      assert.match(report.summary, new RegExp(`Journal check passed: the journal replayed from ${first.name} to revision \\d+ \\(\\d+ revisions\\) against full backup ${second.name}: \\d+ keys identical`));
    });

    it('fails on a segment whose bytes were changed on every site, naming it', async () => {
      const target = segments.find((s) => s.firstRevision > first.revision && s.lastRevision < second.revision)!;
      const files = [dc1, dc2].map((site) => path.join(folderOn(site), target.object.file));
      const originals = await Promise.all(files.map((f) => readFile(f)));
      const tampered = Buffer.from(originals[0]!);
      tampered.writeUInt8(tampered.readUInt8(tampered.length - 5) ^ 0x01, tampered.length - 5);
      await Promise.all(files.map((f) => writeFile(f, tampered)));
      try {
        const report = await verify();
        assert.equal(report.outcome, 'failed');
        assert.match(report.failure ?? '', /journal check failed/);
        assert.match(report.summary, new RegExp(target.name));
      } finally {
        await Promise.all(files.map((f, i) => writeFile(f, originals[i]!)));
      }
    });

    it('fails on a forged segment whose manifests and hash chain were rewritten to match: the replay differs from the next full backup', async () => {
      // A put no later revision up to the second backup touches again: forging its value must show.
      const records = recorder.records.filter((r) => r.rev > first.revision && r.rev <= second.revision);
      const lastTouch = new Map<string, number>();
      for (const r of records) for (const e of r.events) lastTouch.set(e.key, r.rev);
      const index = segments.findIndex(
        (s) =>
          s.lastRevision < second.revision &&
          records.some((r) => r.rev >= s.firstRevision && r.rev <= s.lastRevision && r.events.some((e) => e.type === 'put' && lastTouch.get(e.key) === r.rev)),
      );
      assert.ok(index >= 0 && index + 1 < segments.length, 'a segment to forge');
      const target = segments[index]!;
      const next = segments[index + 1]!;
      const paths = (site: SftpSite, s: SegmentManifest) => ({ object: path.join(folderOn(site), s.object.file), manifest: path.join(folderOn(site), `${s.name}.json`) });
      const saved = await Promise.all(
        [dc1, dc2].flatMap((site) => [paths(site, target), paths(site, next)]).flatMap((p) => [p.object, p.manifest]).map(async (file) => ({ file, bytes: await readFile(file) })),
      );
      try {
        const decoded = await decode(await readFile(paths(dc1, target).object), target, [identity]);
        let forged = false;
        const changed = decoded.map((r) => ({
          ...r,
          events: r.events.map((e) => {
            if (forged || e.type !== 'put' || lastTouch.get(e.key) !== r.rev) return e;
            forged = true;
            return { ...e, value: Buffer.from('forged').toString('base64') };
          }),
        }));
        assert.ok(forged);
        const object = await encodeSegment(changed, target.compression, target.encryptedTo);
        const forgedManifest = { ...target, object: { ...target.object, size: object.bytes.length, sha256: object.sha256 } };
        const rechained = { ...next, previousSha256: object.sha256 };
        for (const site of [dc1, dc2]) {
          await writeFile(paths(site, target).object, object.bytes);
          await writeFile(paths(site, target).manifest, `${JSON.stringify(forgedManifest, null, 2)}\n`);
          await writeFile(paths(site, next).manifest, `${JSON.stringify(rechained, null, 2)}\n`);
        }
        const report = await verify();
        assert.equal(report.outcome, 'failed', report.summary);
        assert.match(report.failure ?? '', /journal check failed: .*1 of \d+ keys differ: .* the journal replayed from .* has value "forged"/);
      } finally {
        await Promise.all(saved.map((s) => writeFile(s.file, s.bytes)));
      }
    });

    it('verify with to-revision drills the journal replayed onto its full backup, saying which revision and receive time it reached', async () => {
      const revision = Math.floor((first.revision + second.revision) / 2);
      const report = await verify({ 'to-revision': String(revision) });
      assert.equal(report.outcome, 'success', report.summary);
      assert.match(report.summary, new RegExp(`reached revision \\| ${revision} `));
      assert.match(report.summary, new RegExp(`base full backup \\| ${first.name}`));
      assert.match(report.summary, /exactly the requested revision/);
    });

    it('list shows the recoverable window: from the oldest full backup to the end of the journal', async () => {
      const report = await runCommand('list', settingsFrom(inputs), commandDeps());
      assert.equal(report.outcome, 'success', report.summary);
      assert.match(report.summary, /### Point-in-time recovery windows/);
      const end = segments[segments.length - 1]!.lastRevision;
      assert.match(report.summary, new RegExp(`\\| ${first.revision} \\| ${first.createdAt.replace(/\.\d{3}Z$/, 'Z')} \\| ${end} \\| .* \\| 2 \\(oldest ${first.name}\\) \\|`));
      assert.match(report.summary, new RegExp(`Journal: ${segments.length} segment\\(s\\), revisions ${first.revision + 1}\\.\\.${end}`));
    });

    it('verify refuses a target after the end of the journal, listing the recoverable window', async () => {
      let said: string;
      try {
        const report = await verify({ 'to-revision': '999999' });
        assert.equal(report.outcome, 'failed');
        said = report.summary;
      } catch (error) {
        // The command layer may rethrow bad input after recording the failure.
        said = error instanceof Error ? error.message : String(error);
      }
      assert.match(said, new RegExp(`cannot restore to revision 999999: it is after the end of the journal\\. recoverable: revisions ${first.revision}\\.\\.\\d+`));
    });
  });
}
