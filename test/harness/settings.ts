/**
 * Settings for calling the command layer in-process (`runCommand(command, source, deps)`), built from
 * a plain object of input values as a workflow's `with:` would give them, plus an environment. Values
 * marked secret are recorded so tests can check that nothing secret leaked into summaries.
 */
import type { CommandDeps } from '../../src/commands/index.ts';
import type { Inputs } from '../../src/config/names.ts';
import type { SettingSource } from '../../src/config/source.ts';
import type { EtcdCluster, EtcdMember } from './etcd.ts';
import { recordingLog } from './engine.ts';
import type { SftpSite } from './sftp.ts';

/** Input values by input name (`cluster-name`, `stores`, ...); undefined or '' means not given. */
export type InputValues = Partial<Record<`${Inputs}`, string | undefined>>;

export interface TestSettings extends SettingSource {
  /** Every value the command marked secret. */
  readonly secrets: readonly string[];
}

/**
 * A SettingSource over `inputs`. `env` defaults to an empty environment (not process.env), so no
 * ETCDCTL_* or GITHUB_* variable of the machine running the tests leaks in.
 */
export function settingsFrom(inputs: InputValues, env: NodeJS.ProcessEnv = {}): TestSettings {
  const secrets: string[] = [];
  const values: Readonly<Record<string, string | undefined>> = { ...inputs };
  return {
    get: (name: Inputs): string | undefined => {
      const value = values[name];
      return value === undefined || value === '' ? undefined : value;
    },
    secret: (value: string): void => {
      if (!secrets.includes(value)) secrets.push(value);
    },
    env,
    secrets,
  };
}

/** The `stores`, `ssh-private-key` and `ssh-known-hosts` inputs for real SFTP sites sharing one client key. */
export function siteInputs(sites: readonly SftpSite[]): InputValues {
  const key = sites[0]?.privateKey;
  if (key === undefined) throw new Error('siteInputs: give at least one site');
  if (sites.some((s) => s.privateKey !== key)) throw new Error('siteInputs: the sites must accept the same client key');
  return {
    stores: sites.map((s) => s.url).join('\n'),
    'ssh-private-key': key,
    'ssh-known-hosts': sites.map((s) => s.knownHosts).join('\n'),
  };
}

/** The etcd connection inputs for a harness cluster (endpoints, TLS files and credentials when it has them). */
export function etcdInputs(cluster: EtcdCluster): InputValues {
  return {
    endpoints: cluster.endpoints.join(','),
    ...(cluster.tls ? { cacert: cluster.tls.caFile, cert: cluster.tls.certFile, key: cluster.tls.keyFile } : {}),
    ...(cluster.auth ? { username: cluster.auth.username, password: cluster.auth.password } : {}),
  };
}

/**
 * Inputs of a command run for cluster `prod` on harness sites with the harness cluster's etcd tools, no GitHub
 * issue, and the identity that decrypts the backups when they are encrypted.
 */
export function prodInputs(cluster: EtcdCluster, sites: readonly SftpSite[], identity?: string): InputValues {
  return {
    ...siteInputs(sites),
    'cluster-name': 'prod',
    'etcd-bin-dir': cluster.binaries.binDir,
    'open-issue-on-failure': 'false',
    ...(identity !== undefined ? { 'decrypt-identity': identity } : {}),
  };
}

/** The per-member inputs of a restore of `member` of a harness cluster (no service manager: the harness runs etcd). */
export function memberRestoreInputs(cluster: EtcdCluster, member: EtcdMember): Record<string, string> {
  return {
    'data-dir': member.dataDir,
    'member-name': member.name,
    'initial-cluster': cluster.initialCluster,
    'initial-advertise-peer-urls': member.peerUrl,
    'etcd-service': 'none',
    endpoints: member.clientUrl,
  };
}

export interface RecordingDeps extends CommandDeps {
  /** What the command logged, as `info: ...`, `warning: ...`, `error: ...`. */
  readonly lines: string[];
  /** Every delay the command asked deps.sleep for (the fake sleep returns at once). */
  readonly sleeps: number[];
}

/**
 * CommandDeps with a recording log. `now` defaults to the real clock; `sleep` to a fake that records
 * the delay and returns at once (pass `realSleep: true` to really wait).
 */
export function commandDeps(options: { now?: () => Date; realSleep?: boolean } = {}): RecordingDeps {
  const log = recordingLog();
  const sleeps: number[] = [];
  return {
    log,
    lines: log.lines,
    sleeps,
    now: options.now ?? (() => new Date()),
    sleep: async (ms: number): Promise<void> => {
      sleeps.push(ms);
      if (options.realSleep) await new Promise((resolve) => setTimeout(resolve, ms));
    },
  };
}

/** A clock for `deps.now` that starts at `start` and moves only when told. */
export interface TestClock {
  readonly now: () => Date;
  set(time: Date): void;
  advance(ms: number): void;
}

export function testClock(start: Date = new Date()): TestClock {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    set: (time) => {
      current = time.getTime();
    },
    advance: (ms) => {
      current += ms;
    },
  };
}
