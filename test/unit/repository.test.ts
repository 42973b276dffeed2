/** The repository's record formats: what a manifest and a status record must be, and how newer formats are refused. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IntegrityError } from '../../src/errors.ts';
import { backupName, classifyFile, isTemporaryFile, objectFileName, temporaryName } from '../../src/repository/layout.ts';
import { MANIFEST_FORMAT, encodeManifest, parseManifest, type Manifest } from '../../src/repository/manifest.ts';
import { encodeStatus, parseStatus, STATUS_FORMAT, type StatusRecord } from '../../src/repository/status.ts';

const NAME = backupName('prod', new Date('2026-11-25T12:00:00Z'), 'etcd-0', 42);
const SHA = 'a'.repeat(64);
const MANIFEST: Manifest = {
  format: MANIFEST_FORMAT,
  kind: 'backup',
  name: NAME,
  cluster: 'prod',
  createdAt: '2026-11-25T12:00:00.000Z',
  source: { name: 'etcd-0', id: '8e9e05c52164694d', endpoint: 'https://10.0.0.1:2379', wasLeader: true },
  revision: 42,
  raftTerm: 2,
  raftIndex: 50,
  etcdVersion: '3.5.17',
  dbSize: 1000,
  keyCount: 7,
  keyCountExact: true,
  snapshotSha256: SHA,
  object: { file: objectFileName(NAME, 'zstd', false), size: 500, sha256: SHA },
  compression: 'zstd',
  encryptedTo: [],
  quality: 'leader',
  toolVersion: '0.1.0',
};

describe('manifest format', () => {
  it('reads back what it writes, kind included', () => {
    assert.deepEqual(parseManifest(encodeManifest(MANIFEST), NAME, 'prod'), MANIFEST);
  });

  it('reads a format-1 manifest written before kinds existed (no kind, no keyCountExact) as a backup', () => {
    const { kind: _kind, keyCountExact: _exact, ...old } = MANIFEST;
    const parsed = parseManifest(Buffer.from(JSON.stringify(old)), NAME, 'prod');
    assert.equal(parsed.kind, undefined);
    assert.equal(parsed.keyCountExact, false);
    assert.equal(parsed.revision, 42);
  });

  it('refuses a newer format with a sentence saying so, and never reads its fields', () => {
    const newer = { ...MANIFEST, format: 2, revision: 'means something else now' };
    assert.throws(
      () => parseManifest(Buffer.from(JSON.stringify(newer)), NAME, 'prod'),
      (error: Error) =>
        error instanceof IntegrityError &&
        error.message.includes('written by a newer etcd-dr (format 2); this version reads up to 1'),
    );
  });

  it("reads an imported snapshot's manifest (quality 'imported', with its extra imported field) as a backup", () => {
    const imported = { ...MANIFEST, quality: 'imported', imported: { file: '/backups/old.db', at: '2026-11-25T12:00:00.000Z' } };
    const parsed = parseManifest(Buffer.from(JSON.stringify(imported)), NAME, 'prod');
    assert.equal(parsed.quality, 'imported');
    assert.equal(parsed.revision, 42);
  });

  it('refuses a manifest of another kind as a backup', () => {
    const segment = { ...MANIFEST, kind: 'journal-segment' };
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify(segment)), NAME, 'prod'), /kind "journal-segment", not a backup's/);
  });
});

describe('status record format', () => {
  const record: StatusRecord = {
    cluster: 'prod',
    lastAttempt: { at: '2026-11-25T12:00:00.000Z', operation: 'backup', outcome: 'success', backup: NAME },
    lastSuccess: { at: '2026-11-25T12:00:00.000Z', backup: NAME, revision: 42 },
    sites: [{ store: 'sftp://backup@dc1:22/srv/etcd', ok: true, newestBackup: NAME }],
  };

  it('stores its format and reads back the record', () => {
    const stored = encodeStatus(record);
    assert.equal(JSON.parse(stored.toString()).format, STATUS_FORMAT);
    assert.deepEqual(parseStatus(stored), record);
  });

  it('reads a record written before formats existed', () => {
    assert.deepEqual(parseStatus(JSON.stringify(record)), record);
  });

  it('refuses a newer format with a sentence saying so', () => {
    assert.throws(
      () => parseStatus(JSON.stringify({ ...record, format: 3 })),
      /written by a newer etcd-dr \(format 3\); this version reads up to 1/,
    );
  });

  it('says which field is wrong, in the record’s own words', () => {
    assert.throws(() => parseStatus('{"cluster":"prod"}'), /^Error: status\.lastAttempt is missing$/);
    const badSite = { ...record, sites: [{ store: 'x', ok: 'yes' }] };
    assert.throws(() => parseStatus(JSON.stringify(badSite)), /sites\[0\]\.ok is not a boolean/);
    const badOperation = { ...record, lastAttempt: { ...record.lastAttempt, operation: 'dance' } };
    assert.throws(() => parseStatus(JSON.stringify(badOperation)), /lastAttempt\.operation "dance" is unknown/);
  });
});

describe('layout', () => {
  it('gives every upload its own temporary name carrying the final name', () => {
    const a = temporaryName('x.db');
    const b = temporaryName('x.db');
    assert.notEqual(a, b);
    assert.ok(isTemporaryFile(a) && a.startsWith('.tmp-x.db-'));
    assert.equal(classifyFile(a).kind, 'temporary');
  });
});
