/**
 * The `restore` command: this node's member, from a named backup (or `latest`). With dry-run it only
 * downloads, verifies and restores into a scratch directory.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { etcdAccess } from '../config/etcd.ts';
import { Outputs } from '../config/names.ts';
import { tempDir } from '../config/backup.ts';
import { memberSpec, restoreSettings } from '../config/restore.ts';
import type { SettingSource } from '../config/source.ts';
import { etcdAnswers } from '../etcd/serving.ts';
import { InputError, messageOf } from '../errors.ts';
import type { MemberSpec } from '../restore/member.ts';
import { restoreMember, type RestoreMemberResult } from '../restore/restoreMember.ts';
import { execRunner, serviceControl } from '../restore/service.ts';
import { pointInTimeSource, withPointInTime, type PointInTimeSource } from './pointInTime.ts';
import type { CommandDeps } from './context.ts';
import { table, type CommandReport } from './report.ts';
import { withSites, type CommandShape } from './skeleton.ts';
import { resolveBackup } from './resolve.ts';
import { etcdToolsFor } from './tools.ts';

const HEALTH_TIMEOUT_MS = 180_000;

export async function restoreCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  const settings = restoreSettings(source);
  const access = etcdAccess(source);
  const owner = settings.owner ? await resolveOwner(settings.owner) : undefined;
  // The restore says nothing about the sites' backups: it raises or clears the alarm only.
  const shape: CommandShape = {
    source,
    deps,
    cluster: settings.cluster,
    record: { operation: 'restore', status: false },
    failure: { title: 'etcd restore', what: 'restore' },
  };
  return withSites(shape, async (stores) => {
    let pitr: PointInTimeSource | undefined;
    try {
      // to-time / to-revision: plan (refusing a target outside the journal's windows) and replay, before anything is stopped.
      pitr = await pointInTimeSource({ ...settings, tempDir: tempDir(source) }, stores, deps);
      const entry = pitr?.entry ?? (await resolveBackup(stores, settings.cluster, settings.backup));
      const member = memberSpec(settings, pitr?.tokenSeed ?? entry.name);
      const tools = pitr?.tools ?? (await etcdToolsFor(entry.manifest!, settings.tools, deps));
      const run = execRunner();
      // This node's member answers at the first endpoint: that is where "is etcd stopped?" is asked.
      const isServing = (): Promise<boolean> => etcdAnswers(access, access.endpoints[0]!);
      const service = settings.service
        ? serviceControl(settings.service, { run, log: deps.log, sleep: deps.sleep, isServing })
        : { describe: () => 'not needed for a dry run', stop: async () => undefined, start: async () => undefined };
      if (!settings.dryRun) {
        deps.log.warning(
          'stop kube-apiserver on every control-plane node before restoring etcd, or it keeps writing to a cluster that is being replaced (see docs/restore-runbook.md)',
        );
      }
      const result = await restoreMember({
        entry,
        stores: pitr?.stores ?? stores,
        identities: pitr?.identities ?? settings.identities,
        tools,
        dataDir: settings.dataDir,
        member,
        bump: settings.bump,
        dryRun: settings.dryRun,
        ...(owner ? { owner } : {}),
        service,
        managesEtcd: settings.service !== undefined && settings.service.kind !== 'none',
        isServing,
        access,
        run,
        healthTimeoutMs: HEALTH_TIMEOUT_MS,
        ...deps,
      });
      return {
        report: withPointInTime(restoreReport(result, settings.dataDir, member, service.describe()), pitr),
        backup: { name: result.manifest.name, revision: result.manifest.revision },
      };
    } finally {
      await pitr?.cleanup();
    }
  });
}

function restoreReport(result: RestoreMemberResult, dataDir: string, member: MemberSpec, service: string): CommandReport {
  const m = result.manifest;
  const rows = [
    ['backup', m.name],
    ['member', `${member.name} (${member.initialAdvertisePeerUrls})`],
    ['initial cluster', member.initialCluster],
    ['cluster token', member.initialClusterToken],
    ['etcd is stopped and started by', service],
    ['from', result.from],
    ['backup revision / keys', `${m.revision} / ${m.keyCount}`],
    ...(result.state ? [['restored revision / keys', `${result.state.revision} / ${result.state.keys}`]] : []),
    ['data directory', result.dryRun ? `${dataDir} (untouched: dry run)` : dataDir],
    ...(result.movedAside ? [['old data directory moved to', result.movedAside]] : []),
  ];
  return {
    outcome: 'success',
    outputs: {
      [Outputs.Status]: 'success',
      [Outputs.BackupName]: m.name,
      [Outputs.Revision]: String(result.state?.revision ?? m.revision),
      [Outputs.Keys]: String(result.state?.keys ?? m.keyCount),
      ...(result.movedAside ? { [Outputs.MovedAside]: result.movedAside } : {}),
    },
    summary: [
      `## etcd restore${result.dryRun ? ' (dry run)' : ''}: done`,
      '',
      table(['', ''], rows),
      '',
      `Steps: ${result.steps.join(' → ')}`,
      '',
      ...result.warnings.map((w) => `> ⚠️ ${w}`),
    ].join('\n'),
  };
}

/** `etcd`, `etcd:etcd`, or `uid:gid` -> numeric ids (names through `id`, never a shell). */
async function resolveOwner(owner: string): Promise<{ uid: number; gid: number }> {
  const numeric = /^(\d+):(\d+)$/.exec(owner);
  if (numeric) return { uid: Number(numeric[1]), gid: Number(numeric[2]) };
  const [user, group] = owner.split(':');
  if (!user || !/^[a-z_][a-z0-9_-]*$/i.test(user) || (group !== undefined && !/^[a-z_][a-z0-9_-]*$/i.test(group))) {
    throw new InputError(`etcd-user ${JSON.stringify(owner)} is not a user, user:group or uid:gid`);
  }
  const run = promisify(execFile);
  try {
    const uid = Number((await run('id', ['-u', user])).stdout.trim());
    const gid = group
      ? Number((await run('getent', ['group', group])).stdout.split(':')[2])
      : Number((await run('id', ['-g', user])).stdout.trim());
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('id gave no number');
    return { uid, gid };
  } catch (error) {
    throw new InputError(`etcd-user: no such user or group ${owner}: ${messageOf(error)}`);
  }
}
