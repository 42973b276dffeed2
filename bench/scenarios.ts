/**
 * What the bench measures, as a list of scenarios run against the same loaded database.
 *
 * A scenario is one timed end-to-end operation. Backup scenarios start from a running etcd and two
 * empty sites and leave both sites empty again (cleanup is not timed). The restore issue will add
 * scenarios with `phase: 'restore'` (ours vs scp + `etcdutl snapshot restore`, and the drill); they
 * get the same context, and can use `prepare` to put a backup on the sites first.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { EtcdBinaries } from '../test/harness/etcd.ts';
import type { SftpSite } from '../test/harness/sftp.ts';
import { GrowthWatcher, assertOk, filesUnder, runTimed, type Growth, type StderrLine } from './measure.ts';

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
  /** environment for children: PATH and HOME only, so no ETCDCTL_, ETCD_DR_ or GITHUB_ variable leaks in */
  readonly env: NodeJS.ProcessEnv;
  /** environment for our CLI: `env`, plus NODE_OPTIONS when BENCH_NODE_OPTIONS is set */
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
function ours(id: string, label: string, encrypt: boolean): Scenario {
  return {
    id,
    label,
    phase: 'backup',
    async run(ctx) {
      const spool = path.join(ctx.work, 'spool');
      await rm(spool, { recursive: true, force: true });
      await mkdir(spool, { recursive: true });
      const args = [
        ctx.cli,
        'backup',
        '--cluster-name',
        CLUSTER_NAME,
        '--endpoints',
        ctx.endpoint,
        ...ctx.sites.flatMap((s) => ['--stores', s.url]),
        '--ssh-private-key-file',
        ctx.keyFile,
        '--ssh-known-hosts-file',
        ctx.knownHostsFile,
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
      const siteDirs = Object.fromEntries(ctx.sites.map((s, i) => [`site${i + 1}`, s.root]));
      const watcher = new GrowthWatcher({ spool, ...siteDirs }, (dir, relative) => {
        if (dir === 'spool') return relative.endsWith('.raw') ? 'raw spool' : relative.endsWith('.obj') ? 'object spool' : undefined;
        // status.json and the manifest (also as .tmp-*.json-*) are tiny and written last: only the object counts.
        return relative.includes('.json') ? undefined : `${dir} upload`;
      });
      watcher.start();
      const run = await runTimed(process.execPath, args, {
        env: ctx.cliEnv,
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

/** Every scenario, in the order of the first repetition (later repetitions alternate the order). */
export const SCENARIOS: readonly Scenario[] = [baseline, oursZstd, oursAge];
