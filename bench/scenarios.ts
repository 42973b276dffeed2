/**
 * What the bench measures, as a list of scenarios run against the same loaded database.
 *
 * A scenario is one timed end-to-end operation. Backup scenarios start from a running etcd and two
 * empty sites and leave both sites empty again (cleanup is not timed). Restore scenarios
 * (`phase: 'restore'`: scp + `etcdutl snapshot restore` vs our dry-run restore, and the drill) read
 * what `prepareRestore` put on site 1 once per size (ctx.restore), and leave it there.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { EtcdBinaries } from '../test/harness/etcd.ts';
import type { SftpSite } from '../test/harness/sftp.ts';
import { GrowthWatcher, assertOk, filesUnder, runTimed, type Growth, type StderrLine, type TimedRun } from './measure.ts';

/** Everything a scenario may use; set up once by bench.ts. */
export interface BenchContext {
  /** private scratch dir, removed at the end */
  readonly work: string;
  /** the one etcd member's client URL */
  readonly endpoint: string;
  readonly etcd: EtcdBinaries;
  readonly sites: readonly SftpSite[];
  /** OpenSSH private key accepted by every site */
  readonly keyFile: string;
  /** known_hosts lines for every site */
  readonly knownHostsFile: string;
  /** the bundled CLI (dist/cli.js or a fresh private bundle) */
  readonly cli: string;
  /** an age recipient for the encrypted runs */
  readonly recipient: string;
  /** the matching age identity (AGE-SECRET-KEY-1...), in a 0600 file */
  readonly identityFile: string;
  /** what the restore phase restores from (set by bench.ts after prepareRestore) */
  readonly restore?: RestoreFixture;
  /** environment for children: PATH and HOME only, so no ETCDCTL_, ETCD_DR_ or GITHUB_ variable leaks in */
  readonly env: NodeJS.ProcessEnv;
  /**
   * environment for our backups: `env`, as users run the action and the CLI (the backup re-executes node with
   * its young-generation cap itself), plus BENCH_NODE_OPTIONS when set
   */
  readonly backupCliEnv: NodeJS.ProcessEnv;
  /** environment for the node-defaults backup: `env` plus the re-execution marker, so V8 keeps its default young generation */
  readonly nodeDefaultsEnv: NodeJS.ProcessEnv;
  /** environment for our restores and drills: `env` alone */
  readonly cliEnv: NodeJS.ProcessEnv;
}

export interface Measurement {
  /** wall clock of the whole operation */
  readonly seconds: number;
  /** peak RSS of our process (KiB) */
  readonly peakRssKiB?: number;
  /** CPU seconds (user + sys) of the client side */
  readonly cpuSeconds?: number;
  /** bytes of what was stored on each site */
  readonly objectBytes?: number;
  /** sub-steps in seconds (baseline: save, scp per site) */
  readonly parts?: Readonly<Record<string, number>>;
  /** stage timeline sampled from files (ours: spool files, site files) */
  readonly timeline?: ReadonlyMap<string, Growth>;
  /** the CLI's stderr with timestamps */
  readonly log?: readonly StderrLine[];
  /** the drill's own `restore-seconds` output (download to a throwaway etcd serving) */
  readonly restoreSeconds?: number;
  /** CPU seconds other processes on the machine used meanwhile (set by bench.ts) */
  readonly foreignCpuSeconds?: number;
}

export interface Scenario {
  readonly id: string;
  /** column label in the report */
  readonly label: string;
  readonly phase: 'backup' | 'restore';
  run(ctx: BenchContext): Promise<Measurement>;
}

export const CLUSTER_NAME = 'bench';
/** The encrypted backup of the restore phase goes under its own cluster name, so its name cannot collide. */
export const CLUSTER_NAME_AGE = 'bench-age';

export function scpArgs(ctx: BenchContext, site: SftpSite, file: string): string[] {
  return [
    '-q',
    '-B',
    '-i',
    ctx.keyFile,
    '-o',
    `UserKnownHostsFile=${ctx.knownHostsFile}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-P',
    String(site.port),
    file,
    `${site.user}@${site.host}:${site.root}/`,
  ];
}

export function etcdctlEnv(ctx: BenchContext): NodeJS.ProcessEnv {
  return { ...ctx.env, ETCDCTL_API: '3' };
}

/** Empties every site's directory (between runs, untimed). */
export async function clearSites(ctx: BenchContext): Promise<void> {
  for (const site of ctx.sites) {
    await rm(site.root, { recursive: true, force: true });
    await mkdir(site.root, { recursive: true });
  }
}

/** Baseline: what an operator scripts by hand: `etcdctl snapshot save`, then scp to each site in turn. */
export const baseline: Scenario = {
  id: 'baseline',
  label: 'etcdctl save + scp ×2',
  phase: 'backup',
  async run(ctx) {
    const dir = path.join(ctx.work, 'baseline');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'snapshot.db');
    const parts: Record<string, number> = {};
    let cpu = 0;
    const started = performance.now();
    const save = assertOk(
      await runTimed(ctx.etcd.etcdctl, [`--endpoints=${ctx.endpoint}`, 'snapshot', 'save', file], {
        env: etcdctlEnv(ctx),
        measure: true,
        timeFile: path.join(dir, 'time-save'),
      }),
      'etcdctl snapshot save',
    );
    parts['save'] = save.seconds;
    cpu += save.cpuSeconds ?? 0;
    for (const [i, site] of ctx.sites.entries()) {
      const copy = assertOk(
        await runTimed('scp', scpArgs(ctx, site, file), { env: ctx.env, measure: true, timeFile: path.join(dir, `time-scp${i}`) }),
        `scp to ${site.name}`,
      );
      parts[`scp${i + 1}`] = copy.seconds;
      cpu += copy.cpuSeconds ?? 0;
    }
    const seconds = (performance.now() - started) / 1000;

    const local = (await filesUnder(dir)).find((f) => f.name === 'snapshot.db');
    if (!local) throw new Error('baseline: etcdctl wrote no snapshot.db');
    for (const site of ctx.sites) {
      const remote = (await filesUnder(site.root)).find((f) => f.name === 'snapshot.db');
      if (remote?.size !== local.size) throw new Error(`baseline: ${site.name} holds ${remote?.size ?? 'no'} bytes, expected ${local.size}`);
    }
    await rm(dir, { recursive: true, force: true });
    await clearSites(ctx);
    return { seconds, objectBytes: local.size, parts, cpuSeconds: cpu };
  },
};

/** Ours: the bundled CLI's `backup`, one process, both sites at once. */
function ours(id: string, label: string, encrypt: boolean, nodeDefaults = false): Scenario {
  return {
    id,
    label,
    phase: 'backup',
    async run(ctx) {
      const spool = path.join(ctx.work, 'spool');
      await rm(spool, { recursive: true, force: true });
      await mkdir(spool, { recursive: true });
      const args = backupArgs(ctx, CLUSTER_NAME, [
        ...ctx.sites.flatMap((s) => ['--stores', s.url]),
        '--ssh-private-key-file',
        ctx.keyFile,
        '--ssh-known-hosts-file',
        ctx.knownHostsFile,
      ], spool, encrypt);
      const siteDirs = Object.fromEntries(ctx.sites.map((s, i) => [`site${i + 1}`, s.root]));
      const watcher = new GrowthWatcher({ spool, ...siteDirs }, (dir, relative) => {
        if (dir === 'spool') return relative.endsWith('.spool') ? 'spool' : undefined;
        // status.json and the manifest (also as .tmp-*.json-*) are tiny and written last: only the object counts.
        return relative.includes('.json') ? undefined : `${dir} upload`;
      });
      watcher.start();
      const run = await runTimed(process.execPath, args, {
        env: nodeDefaults ? ctx.nodeDefaultsEnv : ctx.backupCliEnv,
        measure: true,
        timeFile: path.join(ctx.work, `time-${id}`),
        timeoutMs: 15 * 60_000,
      });
      const timeline = await watcher.stop();
      assertOk(run, `etcd-dr backup (${label})`);
      const outputs = Object.fromEntries(
        run.stdout
          .split('\n')
          .filter((l) => /^[a-z-]+=/.test(l))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      if (outputs['status'] !== 'success') throw new Error(`etcd-dr backup (${label}): status ${outputs['status']}\n${run.stdout}`);
      const size = Number(outputs['size']);
      const suffix = encrypt ? '.db.zst.age' : '.db.zst';
      for (const site of ctx.sites) {
        const files = await filesUnder(site.root);
        const object = files.find((f) => f.name.startsWith(`${CLUSTER_NAME}/`) && f.name.endsWith(suffix));
        const manifest = files.find((f) => object !== undefined && f.name === object.name.replace(suffix, '.json'));
        if (!object || object.size !== size || !manifest) {
          throw new Error(`etcd-dr backup (${label}): ${site.name} holds ${JSON.stringify(files)}, expected a ${size}-byte *${suffix} and its manifest`);
        }
      }
      await clearSites(ctx);
      await rm(spool, { recursive: true, force: true });
      return {
        seconds: run.seconds,
        objectBytes: size,
        timeline,
        log: run.stderr,
        ...(run.peakRssKiB !== undefined ? { peakRssKiB: run.peakRssKiB } : {}),
        ...(run.cpuSeconds !== undefined ? { cpuSeconds: run.cpuSeconds } : {}),
      };
    },
  };
}

export const oursZstd = ours('ours', 'etcd-dr backup (zstd)', false);
export const oursAge = ours('ours-age', 'etcd-dr backup (zstd + age)', true);
/** The zstd backup without the young-generation cap (not re-executed): what the cap saves and costs. */
export const oursNodeDefaults = ours('ours-node-defaults', 'etcd-dr backup (zstd, node defaults)', false, true);

// ---- restore ------------------------------------------------------------------------------------

/** What the restore phase restores from: all on site 1, prepared (untimed) once per size. */
export interface RestoreFixture {
  /** the raw `etcdctl snapshot save` file, as an operator would have stored it: `<site1 root>/raw/snapshot.db` */
  readonly rawRemotePath: string;
  readonly rawBytes: number;
  /** our zstd backup: name, object file (relative to the cluster's folder), stored bytes */
  readonly zstd: { readonly cluster: string; readonly name: string; readonly objectFile: string; readonly objectBytes: number };
  /** our zstd + age backup */
  readonly age: { readonly cluster: string; readonly name: string; readonly objectFile: string; readonly objectBytes: number };
  /** --initial-advertise-peer-urls for every restore (etcdutl only writes it into the data; nothing listens) */
  readonly peerUrl: string;
}

/** Parses `name=value` lines (the CLI's outputs on stdout). */
export function outputsOf(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((l) => /^[a-z-]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** `scp site:remotePath localFile` (download). */
export function scpGetArgs(ctx: BenchContext, site: SftpSite, remotePath: string, localFile: string): string[] {
  const upload = scpArgs(ctx, site, localFile);
  return [...upload.slice(0, -2), `${site.user}@${site.host}:${remotePath}`, localFile];
}

/** `node cli.js backup ...` as every scenario runs it: only the snapshot and the upload, no upkeep or alarms. */
function backupArgs(ctx: BenchContext, cluster: string, stores: string[], spool: string, encrypt: boolean): string[] {
  return [
    ctx.cli,
    'backup',
    '--cluster-name',
    cluster,
    '--endpoints',
    ctx.endpoint,
    ...stores,
    '--temp-dir',
    spool,
    '--prune',
    'false',
    '--heal',
    'false',
    '--open-issue-on-failure',
    'false',
    ...(encrypt ? ['--encrypt-to', ctx.recipient] : []),
  ];
}

function storeArgs(ctx: BenchContext): string[] {
  return ['--stores', ctx.sites[0]!.url, '--ssh-private-key-file', ctx.keyFile, '--ssh-known-hosts-file', ctx.knownHostsFile];
}

/**
 * Untimed, once per size: the raw snapshot (etcdctl) copied onto site 1, and one backup of ours to
 * site 1 in each format (`node cli.js backup --stores <site 1>`; zstd, and zstd + age under its own
 * cluster name). clearSites() is called first, so only these are there.
 */
export async function prepareRestore(ctx: BenchContext, peerUrl: string): Promise<RestoreFixture> {
  await clearSites(ctx);
  const site1 = ctx.sites[0]!;
  const dir = path.join(ctx.work, 'restore-fixture');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const raw = path.join(dir, 'snapshot.db');
  assertOk(await runTimed(ctx.etcd.etcdctl, [`--endpoints=${ctx.endpoint}`, 'snapshot', 'save', raw], { env: etcdctlEnv(ctx) }), 'etcdctl snapshot save');
  await mkdir(path.join(site1.root, 'raw'), { recursive: true });
  const rawRemotePath = path.join(site1.root, 'raw', 'snapshot.db');
  await copyFile(raw, rawRemotePath);
  await rm(dir, { recursive: true, force: true });
  const rawBytes = (await filesUnder(path.join(site1.root, 'raw'))).find((f) => f.name === 'snapshot.db')?.size ?? 0;

  const backup = async (cluster: string, encrypt: boolean): Promise<RestoreFixture['zstd']> => {
    const spool = path.join(ctx.work, 'spool');
    await rm(spool, { recursive: true, force: true });
    await mkdir(spool, { recursive: true });
    const run = assertOk(
      await runTimed(
        process.execPath,
        backupArgs(ctx, cluster, storeArgs(ctx), spool, encrypt),
        { env: ctx.cliEnv, timeoutMs: 15 * 60_000 },
      ),
      `etcd-dr backup for the restore phase (${cluster})`,
    );
    await rm(spool, { recursive: true, force: true });
    const outputs = outputsOf(run.stdout);
    const name = outputs['backup-name'];
    if (outputs['status'] !== 'success' || !name) throw new Error(`etcd-dr backup (${cluster}): status ${outputs['status']}, backup-name ${name}\n${run.stdout}`);
    const suffix = encrypt ? '.db.zst.age' : '.db.zst';
    const object = (await filesUnder(site1.root)).find((f) => f.name === `${cluster}/${name}${suffix}`);
    if (!object) throw new Error(`etcd-dr backup (${cluster}): no ${cluster}/${name}${suffix} on ${site1.name}`);
    return { cluster, name, objectFile: `${name}${suffix}`, objectBytes: object.size };
  };
  const zstd = await backup(CLUSTER_NAME, false);
  const age = await backup(CLUSTER_NAME_AGE, true);
  return { rawRemotePath, rawBytes, zstd, age, peerUrl };
}

function fixtureOf(ctx: BenchContext): RestoreFixture {
  if (!ctx.restore) throw new Error('restore scenario run without prepareRestore');
  return ctx.restore;
}

/** A fresh, empty directory for one restore run (its old contents removed, untimed). */
async function freshDir(ctx: BenchContext, id: string): Promise<string> {
  const dir = path.join(ctx.work, 'restore', id);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Removes a run's directory and flushes what it left, so the next run does not pay for its writeback. */
async function dropDir(ctx: BenchContext, dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  assertOk(await runTimed('sync', [], { env: ctx.env }), 'sync');
}

/** Seconds since the child started of its first stderr line matching `pattern`. */
function lineAt(run: TimedRun, pattern: RegExp): number | undefined {
  return run.stderr.find((l) => pattern.test(l.line))?.at;
}

/**
 * Baseline restore: `scp` of the raw snapshot from site 1 to a local file, then `etcdutl snapshot
 * restore` into a new data directory with the revision bump Kubernetes needs (as ours does).
 */
export const restoreBaseline: Scenario = {
  id: 'restore-baseline',
  label: 'scp + etcdutl snapshot restore',
  phase: 'restore',
  async run(ctx) {
    const fixture = fixtureOf(ctx);
    const dir = await freshDir(ctx, 'baseline');
    const file = path.join(dir, 'snapshot.db');
    const dataDir = path.join(dir, 'data');
    const started = performance.now();
    const copy = assertOk(
      await runTimed('scp', scpGetArgs(ctx, ctx.sites[0]!, fixture.rawRemotePath, file), { env: ctx.env, measure: true, timeFile: path.join(ctx.work, 'time-rscp') }),
      'scp from site 1',
    );
    const restore = assertOk(
      await runTimed(
        ctx.etcd.etcdutl!,
        [
          'snapshot',
          'restore',
          file,
          '--data-dir',
          dataDir,
          '--name',
          'bench',
          '--initial-cluster',
          `bench=${fixture.peerUrl}`,
          '--initial-advertise-peer-urls',
          fixture.peerUrl,
          '--bump-revision',
          '1000000000',
          '--mark-compacted',
        ],
        { env: ctx.env, measure: true, timeFile: path.join(ctx.work, 'time-rutl') },
      ),
      'etcdutl snapshot restore',
    );
    const seconds = (performance.now() - started) / 1000;
    const db = (await filesUnder(path.join(dataDir, 'member'))).find((f) => f.name === 'snap/db');
    if (!db) throw new Error(`baseline restore: no member/snap/db in ${dataDir}`);
    await dropDir(ctx, dir);
    return {
      seconds,
      parts: { scp: copy.seconds, etcdutl: restore.seconds },
      cpuSeconds: (copy.cpuSeconds ?? 0) + (restore.cpuSeconds ?? 0),
      // etcdutl's (bbolt maps the whole db): ours' figure includes it too, as GNU time reports the largest of the CLI and its children.
      ...(restore.peakRssKiB !== undefined ? { peakRssKiB: restore.peakRssKiB } : {}),
      objectBytes: fixture.rawBytes,
    };
  },
};

/** Ours: `node cli.js restore --dry-run true` from site 1 (download, verify, etcdutl restore into staging, removed). */
function oursRestore(id: string, label: string, encrypt: boolean): Scenario {
  return {
    id,
    label,
    phase: 'restore',
    async run(ctx) {
      const fixture = fixtureOf(ctx);
      const backup = encrypt ? fixture.age : fixture.zstd;
      const dir = await freshDir(ctx, id);
      const args = [
        ctx.cli,
        'restore',
        '--dry-run',
        'true',
        '--cluster-name',
        backup.cluster,
        '--backup',
        backup.name,
        '--endpoints',
        ctx.endpoint,
        ...storeArgs(ctx),
        '--etcd-bin-dir',
        ctx.etcd.binDir,
        '--data-dir',
        path.join(dir, 'data'),
        '--member-name',
        'bench',
        '--initial-advertise-peer-urls',
        fixture.peerUrl,
        '--open-issue-on-failure',
        'false',
        ...(encrypt ? ['--decrypt-identity-file', ctx.identityFile] : []),
      ];
      const run = await runTimed(process.execPath, args, { env: ctx.cliEnv, measure: true, timeFile: path.join(ctx.work, `time-${id}`), timeoutMs: 15 * 60_000 });
      assertOk(run, `etcd-dr restore --dry-run (${label})`);
      const outputs = outputsOf(run.stdout);
      if (outputs['status'] !== 'success' || outputs['backup-name'] !== backup.name) {
        throw new Error(`etcd-dr restore --dry-run (${label}): status ${outputs['status']}, backup-name ${outputs['backup-name']}\n${run.stdout}`);
      }
      const left = await filesUnder(dir);
      if (left.length > 0) throw new Error(`etcd-dr restore --dry-run (${label}) left ${JSON.stringify(left)}`);
      await dropDir(ctx, dir);
      // Lines on stderr: "step 1/1: download and verify the backup, restore it ...", then "downloaded <name> from <store>; etcd's restore ...".
      const download = lineAt(run, /step 1\/\d+: download/);
      const etcdutl = lineAt(run, /downloaded \S+ from \S+; etcd's restore/);
      const accepted = lineAt(run, /etcd's restore accepted/);
      return {
        seconds: run.seconds,
        objectBytes: backup.objectBytes,
        log: run.stderr,
        ...(download !== undefined && etcdutl !== undefined && accepted !== undefined
          ? { parts: { start: download, download: etcdutl - download, etcdutl: accepted - etcdutl, cleanup: run.seconds - accepted } }
          : {}),
        ...(run.peakRssKiB !== undefined ? { peakRssKiB: run.peakRssKiB } : {}),
        ...(run.cpuSeconds !== undefined ? { cpuSeconds: run.cpuSeconds } : {}),
      };
    },
  };
}

export const restoreOurs = oursRestore('restore-ours', 'etcd-dr restore --dry-run (zstd)', false);
export const restoreOursAge = oursRestore('restore-ours-age', 'etcd-dr restore --dry-run (zstd + age)', true);

/** The drill: `node cli.js verify` (restore into scratch, throwaway etcd on loopback, compare). */
export const drill: Scenario = {
  id: 'drill',
  label: 'etcd-dr verify (drill, zstd)',
  phase: 'restore',
  async run(ctx) {
    const fixture = fixtureOf(ctx);
    const dir = await freshDir(ctx, 'drill');
    const args = [
      ctx.cli,
      'verify',
      '--cluster-name',
      fixture.zstd.cluster,
      '--backup',
      fixture.zstd.name,
      ...storeArgs(ctx),
      '--etcd-bin-dir',
      ctx.etcd.binDir,
      '--temp-dir',
      dir,
      '--open-issue-on-failure',
      'false',
    ];
    const run = await runTimed(process.execPath, args, { env: ctx.cliEnv, measure: true, timeFile: path.join(ctx.work, 'time-drill'), timeoutMs: 15 * 60_000 });
    assertOk(run, 'etcd-dr verify');
    const outputs = outputsOf(run.stdout);
    const restoreSeconds = Number(outputs['restore-seconds']);
    if (outputs['status'] !== 'success' || !Number.isFinite(restoreSeconds)) {
      throw new Error(`etcd-dr verify: status ${outputs['status']}, restore-seconds ${outputs['restore-seconds']}\n${run.stdout}`);
    }
    await dropDir(ctx, dir);
    return {
      seconds: run.seconds,
      restoreSeconds,
      objectBytes: fixture.zstd.objectBytes,
      log: run.stderr,
      ...(run.peakRssKiB !== undefined ? { peakRssKiB: run.peakRssKiB } : {}),
      ...(run.cpuSeconds !== undefined ? { cpuSeconds: run.cpuSeconds } : {}),
    };
  },
};

/** Every scenario, in the order of the first repetition (later repetitions alternate the order). */
export const SCENARIOS: readonly Scenario[] = [baseline, oursZstd, oursAge, oursNodeDefaults, restoreBaseline, restoreOurs, restoreOursAge, drill];
