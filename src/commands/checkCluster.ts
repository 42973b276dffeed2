/**
 * The `check-cluster` command, run after a multi-member restore: every member answers, one leader with
 * quorum, and (optionally) revision and key count at least / exactly what the restored backup holds.
 */
import { etcdAccess } from '../config/etcd.ts';
import { Inputs, Outputs } from '../config/names.ts';
import { text, type SettingSource } from '../config/source.ts';
import { connect } from '../etcd/connection.ts';
import { countKeys } from '../etcd/keys.ts';
import { probeCluster, type MemberStatus } from '../etcd/members.ts';
import { chooseSource } from '../etcd/source.ts';
import { InputError } from '../errors.ts';
import type { CommandDeps } from './context.ts';
import { table, type CommandReport } from './report.ts';

/** Members restored one by one take a little while to find each other. */
const PATIENCE_MS = 90_000;

export async function checkClusterCommand(source: SettingSource, deps: CommandDeps): Promise<CommandReport> {
  const access = etcdAccess(source);
  const expectKeys = optionalCount(source, Inputs.ExpectKeys);
  const expectRevision = optionalCount(source, Inputs.ExpectRevisionAtLeast);
  let problems: string[] = [];
  let rows: string[][] = [];
  const deadline = deps.now().getTime() + PATIENCE_MS;
  for (;;) {
    const members = await probeCluster(access);
    rows = members.map((m) => [m.endpoint, m.reachable ? m.name : '-', m.reachable ? (m.id === m.leaderId ? 'leader' : 'follower') : `unreachable: ${m.error}`]);
    problems = members.filter((m) => !m.reachable).map((m) => `${m.endpoint} does not answer`);
    const choice = chooseSource(members);
    if (!choice || choice.quality !== 'leader') problems.push('no leader with quorum');
    if (problems.length === 0 && choice) problems = await checkData(access, choice.member, expectKeys, expectRevision);
    if (problems.length === 0 || deps.now().getTime() >= deadline) break;
    await deps.sleep(2000);
  }
  const ok = problems.length === 0;
  return {
    outcome: ok ? 'success' : 'failed',
    outputs: { [Outputs.Status]: ok ? 'success' : 'failed' },
    summary: [`## etcd cluster check: ${ok ? 'healthy' : 'FAILED'}`, '', table(['endpoint', 'member', 'state'], rows), '', ...problems.map((p) => `- ${p}`)].join('\n'),
    ...(ok ? {} : { failure: `cluster check failed: ${problems.join('; ')}` }),
  };
}

async function checkData(access: ReturnType<typeof etcdAccess>, leader: MemberStatus, keys?: number, revision?: number): Promise<string[]> {
  const problems: string[] = [];
  if (revision !== undefined && leader.revision < revision) problems.push(`revision ${leader.revision} is below ${revision}`);
  if (keys !== undefined) {
    const client = await connect(access, [leader.endpoint]);
    try {
      const count = await countKeys(client);
      if (count !== keys) problems.push(`the cluster holds ${count} keys, expected ${keys}`);
    } finally {
      client.close();
    }
  }
  return problems;
}

function optionalCount(source: SettingSource, name: Inputs): number | undefined {
  const value = text(source, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InputError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}
