import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { formatCatalogTable } from '../../src/catalog/catalog.ts';
import { findBackup, latest, listCatalog } from '../../src/repository/listing.ts';
import { parseManifest } from '../../src/repository/manifest.ts';
import { heal, planHealing } from '../../src/catalog/healing.ts';
import type { Manifest } from '../../src/repository/manifest.ts';
import { backupName, manifestFileName, objectFileName } from '../../src/repository/layout.ts';
import { DEFAULT_RETENTION_POLICY, type RetentionPolicy } from '../../src/catalog/policy.ts';
import { planPrune, prune } from '../../src/catalog/prune.ts';
import { LocalStore } from '../../src/stores/local.ts';
import { writeSmallFile } from '../../src/repository/publish.ts';
import type { Store, StoredFile } from '../../src/stores/store.ts';

const CLUSTER = 'prod';
const NOW = new Date('2026-11-25T12:00:00Z');
const HOUR = 3_600_000;
const KEEP_LAST_1: RetentionPolicy = { ...DEFAULT_RETENTION_POLICY, keepWithinMs: 0, keepLast: 1 };

const roots = new Map<Store, string>();
after(async () => {
  for (const root of roots.values()) await fs.rm(root, { recursive: true, force: true });
});

async function localStore(label: string): Promise<LocalStore> {
  const root = await fs.mkdtemp(join(tmpdir(), `etcd-dr-catalog-${label}-`));
  const store = new LocalStore(root, `file://${label}`);
  roots.set(store, root);
  return store;
}

function rootOf(store: Store): string {
  const root = roots.get(store);
  if (root === undefined) throw new Error(`no root for ${store.id}`);
  return root;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function manifestFor(name: string, time: Date, revision: number, object: Buffer): Manifest {
  return {
    format: 1,
    name,
    cluster: CLUSTER,
    createdAt: time.toISOString(),
    source: { name: 'etcd-0', id: '8e9e05c52164694d', endpoint: 'https://10.0.0.1:2379', wasLeader: true },
    revision,
    raftTerm: 2,
    raftIndex: revision + 10,
    etcdVersion: '3.5.17',
    dbSize: object.length,
    keyCount: 42,
    keyCountExact: true,
    snapshotSha256: sha256(object),
    object: { file: objectFileName(name, 'none', false), size: object.length, sha256: sha256(object) },
    compression: 'none',
    encryptedTo: [],
    quality: 'leader',
    toolVersion: '0.1.0',
  };
}

interface Made {
  name: string;
  objectFile: string;
  manifestFile: string;
  object: Buffer;
  manifest: Manifest;
}

function makeBackup(hoursAgo: number, revision = 1000 + hoursAgo): Made {
  const time = new Date(NOW.getTime() - hoursAgo * HOUR);
  const name = backupName(CLUSTER, time, 'etcd-0', revision);
  const object = randomBytes(256 + hoursAgo);
  const manifest = manifestFor(name, time, revision, object);
  return { name, objectFile: manifest.object.file, manifestFile: manifestFileName(name), object, manifest };
}

async function put(store: Store, made: Made, object = made.object): Promise<void> {
  await writeSmallFile(store, CLUSTER, made.objectFile, object);
  await writeSmallFile(store, CLUSTER, made.manifestFile, Buffer.from(JSON.stringify(made.manifest)));
}

async function names(store: Store): Promise<string[]> {
  return (await store.list(CLUSTER)).map((f) => f.name).sort();
}

async function setMtime(store: Store, file: string, time: Date): Promise<void> {
  await fs.utimes(join(rootOf(store), CLUSTER, file), time, time);
}

/** Wraps a store, recording removals and optionally failing some operations. */
class Wrapped implements Store {
  readonly removed: string[] = [];
  readonly read: string[] = [];
  constructor(
    private readonly inner: Store,
    private readonly failures: { list?: boolean; remove?: (name: string) => boolean } = {},
  ) {}
  get id(): string {
    return this.inner.id;
  }
  write(folder: string, name: string, content: Readable): Promise<number> {
    return this.inner.write(folder, name, content);
  }
  rename(folder: string, from: string, to: string, options?: { replace?: boolean }): Promise<void> {
    return this.inner.rename(folder, from, to, options);
  }
  download(folder: string, name: string): Promise<Readable> {
    return this.inner.download(folder, name);
  }
  readFile(folder: string, name: string): Promise<Buffer> {
    this.read.push(name);
    return this.inner.readFile(folder, name);
  }
  async list(folder: string): Promise<StoredFile[]> {
    if (this.failures.list) throw new Error('connect ECONNREFUSED 10.0.0.2:22');
    return this.inner.list(folder);
  }
  async remove(folder: string, name: string): Promise<void> {
    if (this.failures.remove?.(name)) throw new Error('permission denied');
    await this.inner.remove(folder, name);
    this.removed.push(name);
  }
  open(): Promise<void> {
    return this.inner.open();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('listCatalog', () => {
  it('pairs manifests with objects across stores, newest first, and finds the latest', async () => {
    const a = await localStore('a1');
    const b = await localStore('b1');
    const [b1, b2, b3] = [makeBackup(1), makeBackup(2), makeBackup(3)];
    for (const m of [b1!, b2!, b3!]) await put(a, m);
    await put(b, b2!);
    await put(b, b3!);
    const catalog = await listCatalog([a, b], CLUSTER);
    assert.deepEqual(catalog.failedStores, []);
    assert.deepEqual(
      catalog.entries.map((e) => [e.name, e.copies.map((c) => c.storeId), e.consistent]),
      [
        [b1!.name, ['file://a1'], true],
        [b2!.name, ['file://a1', 'file://b1'], true],
        [b3!.name, ['file://a1', 'file://b1'], true],
      ],
    );
    const first = catalog.entries[0]!;
    assert.equal(first.revision, 1001);
    assert.equal(first.size, b1!.object.length);
    assert.equal(first.sourceMember, 'etcd-0');
    assert.deepEqual(first.manifest, b1!.manifest);
    assert.deepEqual(first.copies[0], {
      storeId: 'file://a1',
      objectFile: b1!.objectFile,
      objectSize: b1!.object.length,
      manifestSha256: sha256(b1!.object),
    });
    assert.equal(latest(catalog)?.name, b1!.name);

    const table = formatCatalogTable(catalog);
    assert.match(table, /^\| Backup \| Time \(UTC\) \| Revision \| Size \| Member \| Sites \| Consistent \|$/m);
    assert.ok(table.includes(`| \`${b1!.name}\` | 2026-11-25T11:00:00Z | 1001 | 257 B | etcd-0 | 1/2 (missing on file://b1) | yes |`));
    assert.ok(table.includes(`| \`${b2!.name}\` | 2026-11-25T10:00:00Z | 1002 | 258 B | etcd-0 | 2/2 | yes |`));
  });

  it('records unreadable manifests, temporary and foreign files, and a latest that skips the unreadable', async () => {
    const a = await localStore('a2');
    const good = makeBackup(2);
    const unreadable = makeBackup(1);
    await put(a, good);
    await writeSmallFile(a, CLUSTER, unreadable.objectFile, unreadable.object);
    await writeSmallFile(a, CLUSTER, unreadable.manifestFile, Buffer.from('{"format": 1, "name": '));
    await writeSmallFile(a, CLUSTER, 'notes.txt', Buffer.from('hello'));
    await writeSmallFile(a, CLUSTER, '.tmp-x.db-123', Buffer.from('partial'));
    const catalog = await listCatalog([a], CLUSTER);
    assert.deepEqual(
      catalog.unreadable.map((u) => [u.storeId, u.name, u.file]),
      [['file://a2', unreadable.name, unreadable.manifestFile]],
    );
    assert.match(catalog.unreadable[0]!.error, /not valid JSON/);
    const listing = catalog.stores[0]!;
    assert.deepEqual(listing.foreign.map((f) => f.name), ['notes.txt']);
    assert.deepEqual(listing.temporary.map((f) => f.name), ['.tmp-x.db-123']);
    assert.ok(listing.temporary[0]!.modifiedAt instanceof Date);
    assert.deepEqual(listing.orphanObjects, []);
    assert.equal(catalog.entries[0]!.name, unreadable.name);
    assert.equal(catalog.entries[0]!.manifest, undefined);
    assert.equal(latest(catalog)?.name, good.name);
    assert.match(formatCatalogTable(catalog), /unreadable manifest `prod-.*\.json` on file:\/\/a2 \(kept\)/);
  });

  it('a store that throws on list is recorded with its error and skipped', async () => {
    const a = await localStore('a3');
    await put(a, makeBackup(1));
    const down = new Wrapped(await localStore('down3'), { list: true });
    const catalog = await listCatalog([a, down], CLUSTER);
    assert.deepEqual(catalog.stores.map((s) => s.storeId), ['file://a3']);
    assert.equal(catalog.failedStores.length, 1);
    assert.equal(catalog.failedStores[0]!.storeId, 'file://down3');
    assert.match(catalog.failedStores[0]!.error, /listing prod\/ on file:\/\/down3: connect ECONNREFUSED/);
    assert.equal(catalog.entries.length, 1);
    assert.match(formatCatalogTable(catalog), /store down, skipped/);
  });

  it('copies whose manifests disagree on the sha256 are inconsistent', async () => {
    const a = await localStore('a4');
    const b = await localStore('b4');
    const m = makeBackup(1);
    await put(a, m);
    const other = randomBytes(m.object.length);
    await put(b, { ...m, manifest: { ...m.manifest, object: { ...m.manifest.object, sha256: sha256(other) } } }, other);
    const catalog = await listCatalog([a, b], CLUSTER);
    assert.equal(catalog.entries[0]!.copies.length, 2);
    assert.equal(catalog.entries[0]!.consistent, false);
    assert.match(formatCatalogTable(catalog), /\| \*\*no\*\* \|/);
  });
});

describe('findBackup (what a restore or a drill starts from)', () => {
  it('finds a named backup by reading its manifest on each store, and nothing else, with the entry listCatalog gives', async () => {
    const a = new Wrapped(await localStore('fa1'));
    const b = new Wrapped(await localStore('fb1'));
    const made = [1, 2, 3, 4, 5].map((hoursAgo) => makeBackup(hoursAgo));
    for (const m of made) {
      await put(a, m);
      await put(b, m);
    }
    const wanted = made[2]!;
    const { entry, catalog } = await findBackup([a, b], CLUSTER, { kind: 'named', name: wanted.name });
    assert.deepEqual(a.read, [wanted.manifestFile]);
    assert.deepEqual(b.read, [wanted.manifestFile]);
    const full = await listCatalog([a, b], CLUSTER);
    assert.deepEqual(entry, full.entries.find((e) => e.name === wanted.name));
    assert.deepEqual(catalog.stores.map((s) => s.storeId), ['file://fa1', 'file://fb1']);
  });

  it('latest goes back from the newest name until a backup has a usable copy', async () => {
    const a = new Wrapped(await localStore('fa2'));
    const [unreadable, noObject, good, older] = [makeBackup(1), makeBackup(2), makeBackup(3), makeBackup(4)];
    await writeSmallFile(a, CLUSTER, unreadable!.objectFile, unreadable!.object);
    await writeSmallFile(a, CLUSTER, unreadable!.manifestFile, Buffer.from('{"format": 1'));
    await writeSmallFile(a, CLUSTER, noObject!.manifestFile, Buffer.from(JSON.stringify(noObject!.manifest)));
    await put(a, good!);
    await put(a, older!);
    const { entry } = await findBackup([a], CLUSTER, { kind: 'latest' });
    assert.equal(entry?.name, good!.name);
    assert.equal(entry?.name, latest(await listCatalog([a], CLUSTER))?.name);
    assert.deepEqual(a.read.slice(0, 3), [unreadable!.manifestFile, noObject!.manifestFile, good!.manifestFile]);
  });

  it('gives no entry for an unknown name or a cluster without usable backups, and reports a store it cannot list', async () => {
    const a = await localStore('fa3');
    await put(a, makeBackup(1));
    const down = new Wrapped(await localStore('fdown3'), { list: true });
    const unknown = await findBackup([a, down], CLUSTER, { kind: 'named', name: makeBackup(9).name });
    assert.equal(unknown.entry, undefined);
    assert.deepEqual(unknown.catalog.stores.map((s) => s.storeId), ['file://fa3']);
    assert.deepEqual(unknown.catalog.failedStores.map((f) => f.storeId), ['file://fdown3']);
    assert.match(unknown.catalog.failedStores[0]!.error, /ECONNREFUSED/);
    const empty = await findBackup([await localStore('fempty3')], CLUSTER, { kind: 'latest' });
    assert.equal(empty.entry, undefined);
  });
});

describe('parseManifest', () => {
  it('accepts a complete manifest and rejects missing or mistyped fields, and a wrong name', () => {
    const m = makeBackup(1);
    const text = JSON.stringify(m.manifest);
    assert.deepEqual(parseManifest(Buffer.from(text), m.name, CLUSTER), m.manifest);
    const broken: [Record<string, unknown>, RegExp][] = [
      [{ ...m.manifest, format: 2 }, /format must be 1/],
      [{ ...m.manifest, revision: '12' }, /revision must be a whole number/],
      [{ ...m.manifest, keyCount: undefined }, /keyCount must be/],
      [{ ...m.manifest, object: { ...m.manifest.object, sha256: 'abc' } }, /object\.sha256 must be a lowercase hex sha256/],
      [{ ...m.manifest, object: { ...m.manifest.object, file: `${m.name}.db.zst` } }, /does not match the backup's compression/],
      [{ ...m.manifest, quality: 'great' }, /quality must be/],
      [{ ...m.manifest, source: { ...m.manifest.source, wasLeader: 'yes' } }, /source\.wasLeader must be a boolean/],
      [{ ...m.manifest, cluster: 'staging' }, /belongs to cluster "staging"/],
    ];
    for (const [value, message] of broken) {
      assert.throws(() => parseManifest(Buffer.from(JSON.stringify(value)), m.name, CLUSTER), message);
    }
    assert.throws(() => parseManifest(Buffer.from(text), makeBackup(2).name, CLUSTER), /manifest names backup/);
    assert.throws(() => parseManifest(Buffer.from('[]'), m.name, CLUSTER), /not a JSON object/);
  });
});

describe('prune', () => {
  it('foreign files and unreadable manifests are left alone by prune', async () => {
    const a = await localStore('p1');
    const backups = [1, 2, 3, 4, 5].map((h) => makeBackup(h));
    for (const m of backups) await put(a, m);
    const unreadable = makeBackup(10);
    await writeSmallFile(a, CLUSTER, unreadable.objectFile, unreadable.object);
    await writeSmallFile(a, CLUSTER, unreadable.manifestFile, Buffer.from(JSON.stringify({ ...unreadable.manifest, format: 99 })));
    const otherCluster = backupName('staging', new Date(NOW.getTime() - 20 * HOUR), 'etcd-0', 1);
    for (const f of ['README.md', 'keep.db', `${otherCluster}.json`, `${otherCluster}.db`]) {
      await writeSmallFile(a, CLUSTER, f, Buffer.from('not ours'));
    }
    const before = await names(a);
    const result = await prune([a], CLUSTER, KEEP_LAST_1, NOW, { dryRun: false });
    const expectedDeleted = backups.slice(1).flatMap((m) => [m.manifestFile, m.objectFile]);
    assert.deepEqual(result.perStore[0]!.deleted, expectedDeleted);
    assert.deepEqual(result.perStore[0]!.errors, []);
    assert.deepEqual(await names(a), before.filter((n) => !expectedDeleted.includes(n)));
    for (const f of ['README.md', 'keep.db', `${otherCluster}.json`, `${otherCluster}.db`, unreadable.manifestFile, unreadable.objectFile]) {
      assert.ok((await names(a)).includes(f), `${f} is still there`);
    }
    const kept = result.perStore[0]!.kept;
    assert.deepEqual(kept.map((d) => d.backup.name), [backups[0]!.name, unreadable.name]);
    assert.match(kept[1]!.reasons[0]!, /^manifest unreadable: format must be 1/);
    assert.deepEqual(result.perStore[0]!.dropped.map((d) => d.backup.name), backups.slice(1).map((m) => m.name));
  });

  it('deletes the manifest first, then the object; a failed manifest deletion keeps the object', async () => {
    const inner = await localStore('p2');
    const backups = [1, 2, 3].map((h) => makeBackup(h));
    for (const m of backups) await put(inner, m);
    const store = new Wrapped(inner, { remove: (name) => name === backups[2]!.manifestFile });
    const result = await prune([store], CLUSTER, KEEP_LAST_1, NOW, { dryRun: false });
    assert.deepEqual(store.removed, [backups[1]!.manifestFile, backups[1]!.objectFile]);
    assert.equal(result.perStore[0]!.errors.length, 1);
    assert.match(result.perStore[0]!.errors[0]!, new RegExp(`deleting prod/${backups[2]!.manifestFile} on file://p2 .*permission denied`));
    assert.ok((await names(inner)).includes(backups[2]!.objectFile));
  });

  it('a temp file is removed only when older than the safe age', async () => {
    const a = await localStore('p3');
    await put(a, makeBackup(1));
    const old = '.tmp-old.db-aaaa';
    const young = '.tmp-young.db-bbbb';
    await writeSmallFile(a, CLUSTER, old, Buffer.from('x'));
    await writeSmallFile(a, CLUSTER, young, Buffer.from('y'));
    await setMtime(a, old, new Date(NOW.getTime() - 7 * HOUR));
    await setMtime(a, young, new Date(NOW.getTime() - 5 * HOUR));

    const dry = await prune([a], CLUSTER, DEFAULT_RETENTION_POLICY, NOW, { dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.perStore[0]!.deleted, [old]);
    assert.ok((await names(a)).includes(old), 'a dry run deletes nothing');

    const result = await prune([a], CLUSTER, DEFAULT_RETENTION_POLICY, NOW, { dryRun: false });
    assert.deepEqual(result.perStore[0]!.deleted, [old]);
    const left = await names(a);
    assert.ok(!left.includes(old));
    assert.ok(left.includes(young));

    const shorter = await prune([a], CLUSTER, DEFAULT_RETENTION_POLICY, NOW, { dryRun: true, tempMaxAgeMs: HOUR });
    assert.deepEqual(shorter.perStore[0]!.deleted, [young]);
    await assert.rejects(prune([a], CLUSTER, DEFAULT_RETENTION_POLICY, NOW, { dryRun: true, tempMaxAgeMs: 0 }), /tempMaxAgeMs/);
  });

  it('a store that throws on list is reported as skipped and the other is still pruned', async () => {
    const a = await localStore('p4');
    const backups = [1, 2].map((h) => makeBackup(h));
    for (const m of backups) await put(a, m);
    const down = new Wrapped(await localStore('down4'), { list: true });
    const result = await prune([down, a], CLUSTER, KEEP_LAST_1, NOW, { dryRun: false });
    assert.equal(result.perStore[0]!.storeId, 'file://down4');
    assert.match(result.perStore[0]!.skipped ?? '', /ECONNREFUSED/);
    assert.deepEqual(result.perStore[0]!.deleted, []);
    assert.equal(result.perStore[1]!.skipped, undefined);
    assert.deepEqual(result.perStore[1]!.deleted, [backups[1]!.manifestFile, backups[1]!.objectFile]);
  });

  it('each store is pruned from its own listing', async () => {
    const a = await localStore('p5');
    const b = await localStore('p5b');
    const [m1, m2, m3] = [makeBackup(1), makeBackup(2), makeBackup(3)];
    for (const m of [m1!, m2!, m3!]) await put(a, m);
    await put(b, m3!); // b missed the two newest: its only backup is its newest good one
    const result = await prune([a, b], CLUSTER, KEEP_LAST_1, NOW, { dryRun: false });
    assert.deepEqual(result.perStore[1]!.deleted, []);
    assert.deepEqual(await names(b), [m3!.objectFile, m3!.manifestFile].sort());
    assert.equal(result.perStore[0]!.deleted.length, 4);
  });

  it('an object without a manifest is removed once old; a manifest without its object is kept', async () => {
    const a = await localStore('p6');
    const newest = makeBackup(1);
    const orphan = makeBackup(5);
    const youngOrphan = makeBackup(3);
    const noObject = makeBackup(4);
    await put(a, newest);
    await writeSmallFile(a, CLUSTER, orphan.objectFile, orphan.object);
    await setMtime(a, orphan.objectFile, new Date(NOW.getTime() - 7 * HOUR));
    await writeSmallFile(a, CLUSTER, youngOrphan.objectFile, youngOrphan.object);
    await setMtime(a, youngOrphan.objectFile, new Date(NOW.getTime() - 2 * HOUR));
    await writeSmallFile(a, CLUSTER, noObject.manifestFile, Buffer.from(JSON.stringify(noObject.manifest)));
    const catalog = await listCatalog([a], CLUSTER);
    const plan = planPrune(catalog.stores[0]!, KEEP_LAST_1, NOW);
    assert.deepEqual(plan.actions.map((x) => x.files), [[orphan.objectFile]]);
    assert.match(plan.actions[0]!.reason, /object without a manifest/);
    const keptNoObject = plan.decisions.find((d) => d.backup.name === noObject.name)!;
    assert.equal(keptNoObject.keep, true);
    assert.deepEqual(keptNoObject.reasons, [`object ${noObject.objectFile} missing`]);
  });
});

describe('healing', () => {
  it('healing copies a backup missing from store B and the catalog then shows both copies consistent', async () => {
    const a = await localStore('h1a');
    const b = await localStore('h1b');
    const [recent, missed, old] = [makeBackup(1), makeBackup(2), makeBackup(60)];
    for (const m of [recent!, missed!, old!]) await put(a, m);
    await put(b, recent!);
    const catalog = await listCatalog([a, b], CLUSTER);
    const plan = planHealing(catalog, DEFAULT_RETENTION_POLICY, NOW);
    // The 60-hour-old backup is outside keep-within 48h, but keep-last 3 keeps it, so it is copied too.
    assert.deepEqual(
      plan.copies.map((c) => [c.name, c.from, c.to, c.writeManifest, c.replaceOrphan]),
      [
        [missed!.name, ['file://h1a'], 'file://h1b', true, false],
        [old!.name, ['file://h1a'], 'file://h1b', true, false],
      ],
    );
    const narrow = planHealing(catalog, { ...DEFAULT_RETENTION_POLICY, keepLast: 1 }, NOW);
    assert.deepEqual(narrow.copies.map((c) => c.name), [missed!.name], 'a backup the policy drops is not copied');

    const result = await heal([a, b], CLUSTER, narrow);
    assert.deepEqual(result, { healed: [{ name: missed!.name, from: 'file://h1a', to: 'file://h1b' }], failed: [] });
    assert.deepEqual(await fs.readFile(join(rootOf(b), CLUSTER, missed!.objectFile)), missed!.object);
    const after = await listCatalog([a, b], CLUSTER);
    const entry = after.entries.find((e) => e.name === missed!.name)!;
    assert.deepEqual(entry.copies.map((c) => c.storeId), ['file://h1a', 'file://h1b']);
    assert.equal(entry.consistent, true);
    assert.deepEqual(planHealing(after, { ...DEFAULT_RETENTION_POLICY, keepLast: 1 }, NOW).copies, []);
    assert.ok(!(await names(b)).some((n) => n.startsWith('.tmp-')));
  });

  it('a corrupted source copy (sha mismatch) is not committed on the target', async () => {
    const a = await localStore('h2a');
    const b = await localStore('h2b');
    const m = makeBackup(1);
    const corrupted = Buffer.from(m.object);
    corrupted[17] = corrupted[17]! ^ 0xff;
    await put(a, m, corrupted); // same size, wrong bytes: only the sha256 can tell
    const plan = planHealing(await listCatalog([a, b], CLUSTER), DEFAULT_RETENTION_POLICY, NOW);
    assert.equal(plan.copies.length, 1);
    const result = await heal([a, b], CLUSTER, plan);
    assert.deepEqual(result.healed, []);
    assert.equal(result.failed.length, 1);
    assert.equal(result.failed[0]!.to, 'file://h2b');
    assert.match(result.failed[0]!.error, /healing prod-.* onto file:\/\/h2b: from file:\/\/h2a: .*sha256 .* its manifest says .*not committed/);
    assert.deepEqual(await names(b), [], 'nothing committed, no temporary file left');
  });

  it('falls back to another source when the first one is corrupted', async () => {
    const a = await localStore('h3a');
    const b = await localStore('h3b');
    const c = await localStore('h3c');
    const m = makeBackup(1);
    const corrupted = Buffer.from(m.object);
    corrupted[0] = corrupted[0]! ^ 0x01;
    await put(a, m, corrupted);
    await put(c, m);
    const plan = planHealing(await listCatalog([a, b, c], CLUSTER), DEFAULT_RETENTION_POLICY, NOW);
    assert.deepEqual(plan.copies.map((x) => [x.from, x.to]), [[['file://h3a', 'file://h3c'], 'file://h3b']]);
    const result = await heal([a, b, c], CLUSTER, plan);
    assert.deepEqual(result, { healed: [{ name: m.name, from: 'file://h3c', to: 'file://h3b' }], failed: [] });
    assert.deepEqual(await fs.readFile(join(rootOf(b), CLUSTER, m.objectFile)), m.object);
  });

  it('replaces an orphan object, completes a manifest without object, and leaves unreadable manifests alone', async () => {
    const a = await localStore('h4a');
    const b = await localStore('h4b');
    const [orphaned, objectless, unreadable] = [makeBackup(1), makeBackup(2), makeBackup(3)];
    for (const m of [orphaned!, objectless!, unreadable!]) await put(a, m);
    await writeSmallFile(b, CLUSTER, orphaned!.objectFile, Buffer.from('half a backup'));
    await writeSmallFile(b, CLUSTER, objectless!.manifestFile, Buffer.from(JSON.stringify(objectless!.manifest)));
    await writeSmallFile(b, CLUSTER, unreadable!.manifestFile, Buffer.from('garbage'));
    const plan = planHealing(await listCatalog([a, b], CLUSTER), DEFAULT_RETENTION_POLICY, NOW);
    assert.deepEqual(
      plan.copies.map((c) => [c.name, c.writeManifest, c.replaceOrphan]),
      [
        [orphaned!.name, true, true],
        [objectless!.name, false, false],
      ],
    );
    assert.deepEqual(plan.skipped.map((s) => [s.name, s.storeId]), [[unreadable!.name, 'file://h4b']]);
    assert.match(plan.skipped[0]!.reason, /unreadable manifest/);
    const result = await heal([a, b], CLUSTER, plan);
    assert.deepEqual(result.failed, []);
    const after = await listCatalog([a, b], CLUSTER);
    for (const m of [orphaned!, objectless!]) {
      const entry = after.entries.find((e) => e.name === m.name)!;
      assert.equal(entry.copies.length, 2);
      assert.equal(entry.consistent, true);
    }
    assert.deepEqual(await b.readFile(CLUSTER, unreadable!.manifestFile), Buffer.from('garbage'));
  });
});
