import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';
import { run, sleep, tail, tcpProbe, terminate, track, waitExit } from './process.ts';
import { makeTls, type TlsFiles } from './tls.ts';

export type EtcdVersion = '3.4' | '3.5';

export interface EtcdBinaries {
  version: EtcdVersion;
  etcd: string;
  etcdctl: string;
  etcdutl?: string;
  binDir: string;
}

export const ETCD_VERSIONS: EtcdVersion[] = ['3.4', '3.5'];

// test/harness/etcd.ts -> repo root is two levels up.
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function etcdBinaries(version: EtcdVersion): EtcdBinaries {
  if (version === '3.4') {
    const binDir = '/usr/bin';
    return { version, etcd: path.join(binDir, 'etcd'), etcdctl: path.join(binDir, 'etcdctl'), binDir };
  }
  const binDir = path.join(REPO_ROOT, '.tools', 'etcd-3.5', 'usr', 'bin');
  return {
    version,
    etcd: path.join(binDir, 'etcd'),
    etcdctl: path.join(binDir, 'etcdctl'),
    etcdutl: path.join(binDir, 'etcdutl'),
    binDir,
  };
}

export interface ClusterOptions {
  version: EtcdVersion;
  /** default 3 */
  members?: number;
  tls?: boolean;
  /** enables auth with user root; the password is in cluster.auth */
  auth?: boolean;
  /** used in member names and the temp dir name */
  name?: string;
  /** more etcd flags for every member (e.g. a bench's --quota-backend-bytes); none by default */
  extraFlags?: readonly string[];
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** the flags the member was first started with (initial-cluster-state new) */
  readonly args: readonly string[];
  readonly running: boolean;
  /** SIGTERM, wait for exit */
  stop(): Promise<void>;
  /** SIGKILL now (simulate a crash); `running` is false immediately */
  kill(): void;
  /**
   * Restart with the same flags and data dir (initial-cluster-state existing).
   * Resolves once the client port accepts connections; it does not wait for
   * quorum (use cluster.waitHealthy for that), so members of a fully stopped
   * cluster can be restarted one after another.
   */
  start(): Promise<void>;
}

export interface EtcdCluster {
  readonly version: EtcdVersion;
  readonly binaries: EtcdBinaries;
  readonly members: EtcdMember[];
  readonly endpoints: string[];
  readonly dir: string;
  /** name=peerUrl,... */
  readonly initialCluster: string;
  /** initial-cluster-token */
  readonly token: string;
  /** client-side TLS files */
  readonly tls?: { caFile: string; certFile: string; keyFile: string };
  /** all TLS files (server/peer cert included) for starting extra members, e.g. on restored data */
  readonly tlsFiles?: TlsFiles;
  readonly auth?: { username: string; password: string };
  /**
   * Run etcdctl (API v3) with endpoints/TLS/auth flags; returns stdout.
   * Default endpoints: the running members (all members if none runs).
   */
  etcdctl(args: string[], opts?: { endpoints?: string[] }): Promise<string>;
  put(key: string, value: string): Promise<void>;
  /** all keys under prefix ('' = whole keyspace) at the latest revision */
  getAll(prefix?: string): Promise<Map<string, string>>;
  /** the running member that is leader; waits up to ~15 s for an election */
  leader(): Promise<EtcdMember>;
  /** every running member reports healthy (retries up to ~20 s) */
  waitHealthy(): Promise<void>;
  /** stop all members and rm -rf dir */
  stop(): Promise<void>;
}

export interface MemberFlagsOptions {
  name: string;
  dataDir: string;
  clientUrl: string;
  peerUrl: string;
  initialCluster: string;
  token: string;
  state: 'new' | 'existing';
  tls?: TlsFiles;
}

/**
 * etcd flags for a member listening on one client and one peer URL. Short
 * heartbeat/election timeouts so a new leader is elected quickly after the
 * leader is stopped in tests.
 */
export function memberFlags(o: MemberFlagsOptions): string[] {
  const args = [
    `--name=${o.name}`,
    `--data-dir=${o.dataDir}`,
    `--listen-client-urls=${o.clientUrl}`,
    `--advertise-client-urls=${o.clientUrl}`,
    `--listen-peer-urls=${o.peerUrl}`,
    `--initial-advertise-peer-urls=${o.peerUrl}`,
    `--initial-cluster=${o.initialCluster}`,
    `--initial-cluster-token=${o.token}`,
    `--initial-cluster-state=${o.state}`,
    '--heartbeat-interval=100',
    '--election-timeout=1000',
    '--logger=zap',
    '--log-outputs=stderr',
  ];
  if (o.tls) args.push(...tlsServerFlags(o.tls));
  return args;
}

/** Client and peer TLS with client-certificate authentication against the harness CA. */
export function tlsServerFlags(t: TlsFiles): string[] {
  return [
    `--cert-file=${t.serverCertFile}`,
    `--key-file=${t.serverKeyFile}`,
    '--client-cert-auth',
    `--trusted-ca-file=${t.caFile}`,
    `--peer-cert-file=${t.serverCertFile}`,
    `--peer-key-file=${t.serverKeyFile}`,
    '--peer-client-cert-auth',
    `--peer-trusted-ca-file=${t.caFile}`,
  ];
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

export interface MemberProcess {
  stop(): Promise<void>;
  kill(): void;
  pid: number;
  /** resolves when the process has exited */
  readonly exited: Promise<void>;
  readonly child: ChildProcess;
}

/**
 * Start an etcd process from arbitrary flags (e.g. on a restored data dir),
 * logging stdout+stderr to logFile. Resolves once the client port accepts TCP
 * connections. It deliberately does not wait for /health: a member of a
 * multi-member cluster cannot be healthy until a quorum of members runs, and
 * callers start those one at a time. `tls` is accepted for API symmetry (the
 * TCP probe needs no certificates). Throws with the log tail if the process
 * exits or the port does not open within 20 s.
 */
export async function startMemberProcess(
  binaries: EtcdBinaries,
  args: string[],
  opts: { clientUrl: string; tls?: TlsFiles | { caFile: string; certFile: string; keyFile: string }; logFile: string },
): Promise<MemberProcess> {
  await mkdir(path.dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binaries.etcd, args, {
      stdio: ['ignore', fd, fd],
      // etcd 3.4 needs no special env on amd64; keep the caller's env minus
      // ETCD_* variables that could silently override our flags.
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_'))),
    });
  } finally {
    closeSync(fd);
  }
  track(child);
  const exited = waitExit(child);
  let spawnError: Error | undefined;
  child.once('error', (e) => {
    spawnError = e;
  });

  const port = portOf(opts.clientUrl);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (spawnError) throw new Error(`etcd failed to spawn: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `etcd exited (code ${child.exitCode}, signal ${child.signalCode}) before serving ${opts.clientUrl}; ` +
          `args: ${args.join(' ')}\nlast log lines (${opts.logFile}):\n${await tail(opts.logFile, 30)}`,
      );
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `etcd did not open ${opts.clientUrl} within 20 s\nlast log lines (${opts.logFile}):\n${await tail(opts.logFile, 30)}`,
      );
    }
    try {
      await tcpProbe(port, false, 500);
      break;
    } catch {
      await sleep(100);
    }
  }

  return {
    pid: child.pid ?? -1,
    child,
    exited,
    stop: () => terminate(child),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

class Member implements EtcdMember {
  private proc: MemberProcess | undefined;
  private lastExit: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    readonly logFile: string,
    readonly args: readonly string[],
    private readonly binaries: EtcdBinaries,
    private readonly tlsFiles: TlsFiles | undefined,
  ) {}

  get running(): boolean {
    const c = this.proc?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  async launch(state: 'new' | 'existing'): Promise<void> {
    // A crashed predecessor may still hold the data dir's locks and ports.
    await this.lastExit;
    const args = this.args.map((a) => (a.startsWith('--initial-cluster-state=') ? `--initial-cluster-state=${state}` : a));
    const p = await startMemberProcess(this.binaries, args, {
      clientUrl: this.clientUrl,
      logFile: this.logFile,
      ...(this.tlsFiles ? { tls: this.tlsFiles } : {}),
    });
    this.proc = p;
    this.lastExit = p.exited;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p) await p.stop();
  }

  kill(): void {
    const p = this.proc;
    this.proc = undefined;
    p?.kill();
  }

  async start(): Promise<void> {
    if (this.running) return;
    await this.launch('existing');
  }

  /** SIGKILL and wait for the exit (teardown). */
  async destroy(): Promise<void> {
    this.kill();
    await this.lastExit;
  }
}

interface EndpointStatus {
  endpoint: string;
  memberId: string;
  leaderId: string;
}

class Cluster implements EtcdCluster {
  auth?: { username: string; password: string };
  readonly tls?: { caFile: string; certFile: string; keyFile: string };

  constructor(
    readonly version: EtcdVersion,
    readonly binaries: EtcdBinaries,
    readonly members: Member[],
    readonly dir: string,
    readonly initialCluster: string,
    readonly token: string,
    readonly tlsFiles: TlsFiles | undefined,
  ) {
    if (tlsFiles) {
      this.tls = { caFile: tlsFiles.caFile, certFile: tlsFiles.clientCertFile, keyFile: tlsFiles.clientKeyFile };
    }
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  private runningEndpoints(): string[] {
    const eps = this.members.filter((m) => m.running).map((m) => m.clientUrl);
    return eps.length > 0 ? eps : this.endpoints;
  }

  async etcdctl(args: string[], opts?: { endpoints?: string[] }): Promise<string> {
    const eps = opts?.endpoints ?? this.runningEndpoints();
    const flags = [`--endpoints=${eps.join(',')}`, '--dial-timeout=5s', '--command-timeout=15s'];
    if (this.tls) flags.push(`--cacert=${this.tls.caFile}`, `--cert=${this.tls.certFile}`, `--key=${this.tls.keyFile}`);
    if (this.auth) flags.push(`--user=${this.auth.username}:${this.auth.password}`);
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('ETCDCTL_')),
    );
    env.ETCDCTL_API = '3';
    const { stdout } = await run(this.binaries.etcdctl, [...flags, ...args], { env, timeoutMs: 30_000 });
    return stdout;
  }

  async put(key: string, value: string): Promise<void> {
    // `--` so keys/values starting with '-' are not read as flags.
    await this.etcdctl(['put', '--', key, value]);
  }

  async getAll(prefix = ''): Promise<Map<string, string>> {
    const out = await this.etcdctl(['get', '--prefix', '-w', 'json', '--', prefix]);
    const parsed = JSON.parse(quoteBigInts(out)) as { kvs?: { key: string; value?: string }[] };
    const m = new Map<string, string>();
    for (const kv of parsed.kvs ?? []) {
      m.set(Buffer.from(kv.key, 'base64').toString('utf8'), Buffer.from(kv.value ?? '', 'base64').toString('utf8'));
    }
    return m;
  }

  private async status(endpoint: string): Promise<EndpointStatus> {
    const out = await this.etcdctl(['endpoint', 'status', '-w', 'json'], { endpoints: [endpoint] });
    const arr = JSON.parse(quoteBigInts(out)) as {
      Endpoint: string;
      Status: { header: { member_id: string | number }; leader: string | number };
    }[];
    const s = arr[0];
    if (!s) throw new Error(`no status for ${endpoint}`);
    return { endpoint, memberId: String(s.Status.header.member_id), leaderId: String(s.Status.leader) };
  }

  async leader(): Promise<EtcdMember> {
    const deadline = Date.now() + 15_000;
    let lastErr = 'no running member reports itself leader';
    for (;;) {
      const running = this.members.filter((m) => m.running);
      const results = await Promise.allSettled(running.map((m) => this.status(m.clientUrl)));
      for (let i = 0; i < running.length; i++) {
        const r = results[i];
        const m = running[i];
        if (r?.status === 'fulfilled' && m && r.value.leaderId !== '0' && r.value.memberId === r.value.leaderId) {
          return m;
        }
        if (r?.status === 'rejected') lastErr = String(r.reason);
      }
      if (Date.now() > deadline) throw new Error(`leader(): no leader within 15 s: ${lastErr}`);
      await sleep(200);
    }
  }

  async waitHealthy(): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await this.etcdctl(['endpoint', 'health'], { endpoints: this.members.filter((m) => m.running).map((m) => m.clientUrl) });
        return;
      } catch (e) {
        if (Date.now() > deadline) {
          const logs = await Promise.all(this.members.map(async (m) => `--- ${m.name} (${m.logFile}):\n${await tail(m.logFile, 30)}`));
          throw new Error(`cluster not healthy within 20 s: ${(e as Error).message}\n${logs.join('\n')}`);
        }
        await sleep(250);
      }
    }
  }

  async stop(): Promise<void> {
    // The data is deleted right after, so a graceful shutdown buys nothing;
    // SIGTERM on all members at once costs seconds (the leader tries to hand
    // over leadership to followers that are shutting down too).
    await Promise.all(this.members.map((m) => m.destroy()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * etcd prints uint64 member ids/revisions as bare JSON numbers, which lose
 * precision as JS numbers (two ids could compare equal); quote long ones.
 */
function quoteBigInts(json: string): string {
  return json.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
}

export async function startCluster(opts: ClusterOptions): Promise<EtcdCluster> {
  const binaries = etcdBinaries(opts.version);
  if (!existsSync(binaries.etcd)) {
    throw new Error(`etcd ${opts.version} not found at ${binaries.etcd}; run scripts/install-deps.sh`);
  }
  const n = opts.members ?? 3;
  const base = (opts.name ?? 'etcd').replace(/[^A-Za-z0-9-]/g, '-');
  const dir = await mkdtemp(path.join(os.tmpdir(), `etcd-dr-test-${base}-`));
  const tlsFiles = opts.tls ? await makeTls(path.join(dir, 'tls')) : undefined;
  const scheme = opts.tls ? 'https' : 'http';
  const token = `etcd-dr-${base}-${randomBytes(6).toString('hex')}`;

  const specs: { name: string; clientUrl: string; peerUrl: string; dataDir: string; logFile: string }[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${base}-${i}`;
    specs.push({
      name,
      clientUrl: `${scheme}://127.0.0.1:${await freePort()}`,
      peerUrl: `${scheme}://127.0.0.1:${await freePort()}`,
      dataDir: path.join(dir, `${name}.data`),
      logFile: path.join(dir, `${name}.log`),
    });
  }
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
  const members = specs.map(
    (s) =>
      new Member(
        s.name,
        s.clientUrl,
        s.peerUrl,
        s.dataDir,
        s.logFile,
        [...memberFlags({ ...s, initialCluster, token, state: 'new', ...(tlsFiles ? { tls: tlsFiles } : {}) }), ...(opts.extraFlags ?? [])],
        binaries,
        tlsFiles,
      ),
  );
  const cluster = new Cluster(opts.version, binaries, members, dir, initialCluster, token, tlsFiles);

  try {
    await Promise.all(members.map((m) => m.launch('new')));
    await cluster.waitHealthy();
    if (opts.auth) {
      const password = randomBytes(12).toString('base64url');
      await cluster.etcdctl(['user', 'add', `root:${password}`]);
      // etcdctl's `auth enable` creates the root role and grants it to root
      // when missing, in both 3.4 and 3.5.
      await cluster.etcdctl(['auth', 'enable']);
      cluster.auth = { username: 'root', password };
      await cluster.waitHealthy();
    }
  } catch (e) {
    await Promise.all(members.map((m) => m.destroy()));
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return cluster;
}
