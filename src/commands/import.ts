/**
 * The `import` command (CLI only): brings existing `etcdctl snapshot save` files (a team's cron folder) into
 * the catalog, so their history survives the switch to etcd-dr. Each file is
 *   1. checked: etcd's sha256 trailer (the last 32 bytes) must match the data, and etcd's own tool
 *      (`etcdutl snapshot status`, `etcdctl snapshot status` on 3.4) must read it as a snapshot;
 *   2. measured: restored with etcd's tool into a scratch directory and started as a throwaway etcd on
 *      loopback, which gives the revision and the exact live key count a drill later checks against;
 *   3. encoded like a backup (compression, then age encryption) once, into a local file;
 *   4. published to every store through the repository's one protocol (temporary name, rename, manifest last),
 *      named `<cluster>-<time>-imported-r<revision>`, with `imported` as source member.
 * Every file is checked and measured before anything is written, so one bad file means nothing written at all.
 * A backup of the same name already on a store is left as it is there (importing a folder twice is harmless).
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Measure } from '../base/measure.ts';
import { importSettings, snapshotFilesIn, type ImportSettings } from '../config/import.ts';
import { Inputs, Outputs } from '../config/names.ts';
import type { SettingSource } from '../config/source.ts';
import { connect } from '../etcd/connection.ts';
import { countKeys } from '../etcd/keys.ts';
import { InputError, IntegrityError, inContext, messageOf } from '../errors.ts';
import { openFileSink } from '../base/fileSink.ts';
import { backupName, manifestFileName, objectFileName } from '../repository/layout.ts';
import { listCatalog } from '../repository/listing.ts';
import { encodeManifest, MANIFEST_FORMAT, type Manifest } from '../repository/manifest.ts';
import { publishObject } from '../repository/publish.ts';
import { waitServing } from '../restore/check.ts';
import { resolveEtcdTools, type EtcdTools } from '../restore/etcdTools.ts';
import { execRunner, type CommandRunner } from '../restore/service.ts';
import { runSnapshotRestore } from '../restore/snapshotRestore.ts';
import { DRILL_MEMBER, drillPeerUrl, startThrowawayEtcd } from '../restore/throwawayEtcd.ts';
import { checkRecipients, compressor, encryptStream } from '../snapshot/codec.ts';
import { chain } from '../snapshot/streams.ts';
import { SnapshotVerifier } from '../snapshot/verifier.ts';
import type { Store } from '../stores/store.ts';
import { TOOL_VERSION } from '../version.ts';
import { NO_TOOL_CACHE, type CommandDeps } from './context.ts';
import { table, type CommandReport } from './report.ts';
import { withSites } from './skeleton.ts';

/** The source member of an imported backup, in its name and manifest. */
export const IMPORTED_MEMBER = 'imported';

/** What checking and measuring one file found. */
export interface InspectedSnapshot {
  readonly file: string;
  /** Bytes of the file, trailer included. */
  readonly size: number;
  /** etcd's sha256 trailer, checked against the data. */
  readonly sha256: string;
  /** The revision the restored snapshot serves (at least what `snapshot status` reports). */
  readonly revision: number;
  /** Live keys at `revision`, as a drill counts them. */
  readonly keyCount: number;
  readonly createdAt: Date;
}

interface SiteResult {
  readonly store: string;
  readonly ok: boolean;
  readonly note: string;
}

interface Imported {
  readonly snapshot: InspectedSnapshot;
  readonly name: string;
  readonly sites: readonly SiteResult[];
}

export async function importCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  // Every setting and every file is checked before a store is touched.
  const settings = importSettings(source);
  const files = await snapshotFilesIn(settings.paths);
  if (settings.createdAt && files.length !== 1) {
    throw new InputError(`${Inputs.CreatedAt} names the time of one snapshot, but ${files.length} files are given: leave it out to use each file's modification time`);
  }
  await checkRecipients(settings.recipients);
  // Not recorded (no status record, no alarm): an import says nothing about the cluster's own backups.
  return withSites({ source, deps, cluster: settings.cluster }, async (stores) => {
    const tools = await resolveEtcdTools({
      version: settings.tools.version,
      ...(settings.tools.binDir ? { binDir: settings.tools.binDir } : {}),
      downloadBaseUrl: settings.tools.downloadBaseUrl,
      toolsDir: settings.tools.toolsDir,
      cache: deps.toolCache ?? NO_TOOL_CACHE,
      log: deps.log,
    });
    const scratch = await mkdtemp(join(settings.tempDir, 'etcd-dr-import-'));
    try {
      return { report: await importFiles(files, settings, tools, stores, scratch, deps) };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
}

/** Checks and measures every file (nothing written if one fails), then publishes each to every store. */
async function importFiles(
  files: readonly string[],
  settings: ImportSettings,
  tools: EtcdTools,
  stores: readonly Store[],
  scratch: string,
  deps: CommandDeps,
): Promise<CommandReport> {
  const inspected: InspectedSnapshot[] = [];
  for (const file of files) {
    deps.log.info(`checking ${file}`);
    inspected.push(await inspectSnapshot(file, tools, scratch, deps, settings.createdAt));
  }
  const planned = inspected.map((snapshot) => ({ snapshot, name: backupName(settings.cluster, snapshot.createdAt, IMPORTED_MEMBER, snapshot.revision) }));
  for (const [i, { snapshot, name }] of planned.entries()) {
    const twin = planned.slice(0, i).find((p) => p.name === name);
    if (twin) throw new InputError(`${twin.snapshot.file} and ${snapshot.file} would both be imported as ${name} (same time and revision): give only one of them`);
  }
  const catalog = await listCatalog(stores, settings.cluster);
  if (catalog.failedStores.length === stores.length) {
    throw new Error(`no store can be listed: ${catalog.failedStores.map((f) => `${f.storeId} (${f.error})`).join('; ')}`);
  }
  const imported: Imported[] = [];
  for (const { snapshot, name } of planned) {
    const present = new Set(catalog.stores.flatMap((s) => (s.backups.some((b) => b.name === name) ? [s.storeId] : [])));
    const down = new Map(catalog.failedStores.map((f) => [f.storeId, f.error]));
    const sites = await publishImport(snapshot, name, settings, tools, stores, { present, down, spoolDir: scratch, now: deps.now() });
    for (const site of sites) {
      if (site.ok) deps.log.info(`${name} on ${site.store}: ${site.note}`);
      else deps.log.warning(`${name} on ${site.store}: ${site.note}`);
    }
    imported.push({ snapshot, name, sites });
  }
  return importReport(settings.cluster, imported);
}

/**
 * Checks one file with etcd's sha256 trailer and etcd's own `snapshot status`, then restores it in a scratch
 * directory and starts a throwaway etcd to read its revision and count its keys. Throws IntegrityError naming
 * the file when it is not a snapshot or fails a check.
 */
export async function inspectSnapshot(
  file: string,
  tools: EtcdTools,
  /** A private directory; the restore and the throwaway etcd work in a new folder below it, removed at the end. */
  tempDir: string,
  deps: Pick<CommandDeps, 'sleep'>,
  createdAt?: Date,
  run: CommandRunner = execRunner(),
): Promise<InspectedSnapshot> {
  const info = await stat(file);
  const verifier = new SnapshotVerifier(file);
  try {
    await pipeline(createReadStream(file), verifier, discard());
  } catch (error) {
    throw new IntegrityError(`${file} is not an etcd snapshot or is damaged: ${messageOf(error)}`, { cause: error });
  }
  const trailer = verifier.result();
  const status = await snapshotStatus(file, tools, run);

  const work = await mkdtemp(join(tempDir, 'inspect-'));
  // etcd's restore creates the data directory itself and refuses one that exists.
  const dataDir = join(work, 'data');
  try {
    const peerUrl = await drillPeerUrl();
    const member = { name: DRILL_MEMBER, initialCluster: `${DRILL_MEMBER}=${peerUrl}`, initialAdvertisePeerUrls: peerUrl, initialClusterToken: 'etcd-dr-import' };
    await inContext(`restoring ${file} with etcd's tool`, () => runSnapshotRestore(run, tools, file, dataDir, member, undefined));
    const etcd = await startThrowawayEtcd(tools, dataDir, peerUrl);
    try {
      const access = { endpoints: [etcd.clientUrl], callTimeoutMs: 10_000 };
      await waitServing(access, etcd.clientUrl, { timeoutMs: 60_000, sleep: deps.sleep, dead: () => etcd.exitedWith() });
      const client = await connect(access, [etcd.clientUrl]);
      try {
        const revision = Number((await client.maintenance.status()).header.revision);
        if (revision < status.revision) {
          throw new IntegrityError(`${file}: restored, it serves revision ${revision}, below the ${status.revision} etcd's snapshot status reads`);
        }
        const keyCount = await countKeys(client, revision);
        return { file, size: trailer.size, sha256: trailer.sha256, revision, keyCount, createdAt: createdAt ?? info.mtime };
      } finally {
        client.close();
      }
    } finally {
      await etcd.stop();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `etcdutl snapshot status -w json` (3.5+) or `etcdctl snapshot status -w json` (3.4): etcd's own reading of the file. */
async function snapshotStatus(file: string, tools: EtcdTools, run: CommandRunner): Promise<{ revision: number; totalKey: number }> {
  const tool = tools.etcdutl ?? tools.etcdctl;
  let stdout: string;
  try {
    ({ stdout } = await run(tool, ['snapshot', 'status', file, '-w', 'json']));
  } catch (error) {
    throw new IntegrityError(`${file} is not an etcd snapshot: ${basename(tool)} snapshot status refused it: ${messageOf(error)}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new IntegrityError(`${file}: ${basename(tool)} snapshot status printed no JSON: ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  const { revision, totalKey } = (parsed ?? {}) as { revision?: unknown; totalKey?: unknown };
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || typeof totalKey !== 'number') {
    throw new IntegrityError(`${file}: ${basename(tool)} snapshot status gave no revision: ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  return { revision, totalKey };
}

/**
 * Encodes the file once (the same bytes for every store: age encryption is not deterministic), then
 * publishes it on every store that lacks it, each through the repository's protocol.
 */
async function publishImport(
  snapshot: InspectedSnapshot,
  name: string,
  settings: ImportSettings,
  tools: EtcdTools,
  stores: readonly Store[],
  context: { present: ReadonlySet<string>; down: ReadonlyMap<string, string>; spoolDir: string; now: Date },
): Promise<SiteResult[]> {
  const encrypted = settings.recipients.length > 0;
  const objectFile = objectFileName(name, settings.compression, encrypted);
  const encoded = join(context.spoolDir, objectFile);
  const measure = new Measure();
  await inContext(`encoding ${snapshot.file}`, async () => {
    // Opened before the source, so a failed open leaves no read stream hanging.
    const sink = await openFileSink(encoded, { flags: 'wx', mode: 0o600 });
    const compressed = chain(createReadStream(snapshot.file), compressor(settings.compression));
    try {
      const content = encrypted ? await encryptStream(compressed, settings.recipients) : compressed;
      await pipeline(content, measure, sink);
    } catch (error) {
      compressed.destroy();
      sink.destroy();
      throw error;
    }
  });
  try {
    const manifest: Manifest & { readonly imported: { readonly file: string; readonly at: string } } = {
      format: MANIFEST_FORMAT,
      kind: 'backup',
      name,
      cluster: settings.cluster,
      createdAt: snapshot.createdAt.toISOString(),
      source: { name: IMPORTED_MEMBER, id: '0', endpoint: `file://${snapshot.file}`, wasLeader: false },
      revision: snapshot.revision,
      // Unknown for a file: etcd's snapshot keeps no raft term or index a restore would use.
      raftTerm: 0,
      raftIndex: 0,
      etcdVersion: tools.version,
      dbSize: snapshot.size,
      keyCount: snapshot.keyCount,
      // Counted on the restored snapshot itself, at the revision it serves: exact.
      keyCountExact: true,
      snapshotSha256: snapshot.sha256,
      object: { file: objectFile, size: measure.size, sha256: measure.sha256 },
      compression: settings.compression,
      encryptedTo: [...settings.recipients],
      quality: IMPORTED_QUALITY,
      toolVersion: TOOL_VERSION,
      imported: { file: snapshot.file, at: context.now.toISOString() },
    };
    const bytes = encodeManifest(manifest);
    return await Promise.all(
      stores.map(async (store): Promise<SiteResult> => {
        if (context.present.has(store.id)) return { store: store.id, ok: true, note: 'already there, left as it is' };
        const down = context.down.get(store.id);
        if (down !== undefined) return { store: store.id, ok: false, note: `not imported: the store could not be listed (${down})` };
        try {
          await publishObject(store, settings.cluster, {
            objectName: objectFile,
            content: createReadStream(encoded),
            expectedSize: measure.size,
            expectedSha256: measure.sha256,
            source: `encoded from ${snapshot.file}`,
            manifest: { name: manifestFileName(name), bytes },
          });
          return { store: store.id, ok: true, note: 'imported' };
        } catch (error) {
          return { store: store.id, ok: false, note: `not imported: ${messageOf(error)}` };
        }
      }),
    );
  } finally {
    await rm(encoded, { force: true });
  }
}

/**
 * The manifest's quality of an imported snapshot: how it was taken (from a leader or not) is unknown, and
 * that is no fault to report; the manifest's `imported` field says where it came from.
 */
const IMPORTED_QUALITY: Manifest['quality'] = 'imported';

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

function importReport(cluster: string, imported: readonly Imported[]): CommandReport {
  const failed = imported.flatMap((i) => i.sites.filter((s) => !s.ok).map((s) => `${i.name} on ${s.store}: ${s.note}`));
  const nowhere = imported.filter((i) => i.sites.every((s) => !s.ok));
  const outcome = nowhere.length > 0 ? 'failed' : failed.length > 0 ? 'degraded' : 'success';
  const rows = imported.map((i) => [
    i.snapshot.file,
    i.name,
    String(i.snapshot.revision),
    String(i.snapshot.keyCount),
    i.sites.map((s) => `${s.store}: ${s.note}`).join('; '),
  ]);
  return {
    outcome,
    outputs: {
      [Outputs.Status]: outcome,
      [Outputs.Backups]: JSON.stringify(imported.map((i) => ({ file: i.snapshot.file, name: i.name, revision: i.snapshot.revision, keys: i.snapshot.keyCount, sites: i.sites.filter((s) => s.ok).map((s) => s.store) }))),
    },
    summary: [
      `## etcd import into ${cluster}: ${outcome}`,
      '',
      table(['file', 'backup', 'revision', 'keys', 'sites'], rows),
      '',
      'Retention applies to imported backups like to any other: keep-daily, keep-weekly and keep-monthly decide which of them the next backup keeps.',
      '',
    ].join('\n'),
    ...(failed.length > 0 ? { failure: `import ${outcome}: ${failed.join('; ')}` } : {}),
  };
}
