/**
 * A one-member etcd on free loopback ports over a restored data directory, for drills: it never joins
 * or touches the live cluster (own name, own token, own ports, loopback only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { EtcdTools } from './etcdTools.ts';

export interface ThrowawayEtcd {
  readonly clientUrl: string;
  /** Set once the process has exited: etcd's last words, for the error message of a failed drill. */
  exitedWith(): string | undefined;
  stop(): Promise<void>;
}

export const DRILL_MEMBER = 'etcd-dr-drill';

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function drillPeerUrl(): Promise<string> {
  return `http://127.0.0.1:${await freeLoopbackPort()}`;
}

/** Request limits for a throwaway etcd that replays a journal: one source revision must fit one transaction. */
export interface ThrowawayLimits {
  /** --max-txn-ops (etcd's default 128). */
  readonly maxTxnOps: number;
  /** --max-request-bytes (etcd's default 1.5 MiB). */
  readonly maxRequestBytes: number;
  /**
   * --unsafe-no-fsync: a replay only needs the snapshot taken from the running process at the end, and a
   * crash just fails it, so waiting for the disk on every one of its thousands of transactions buys nothing.
   */
  readonly unsafeNoFsync?: boolean;
  /** --quota-backend-bytes (etcd's default 2 GiB): a replay keeps every revision's history. */
  readonly quotaBackendBytes?: number;
  /**
   * --backend-batch-interval in ms (etcd's default 100) with a batch limit to match: a replay applies
   * thousands of small transactions a second, and each backend commit rewrites the tree pages they touched;
   * committing once a second instead of ten times measured ~15% faster in bench/pitr.ts's mix (one noisy run).
   * Reads see uncommitted writes (etcd's read buffer) and a snapshot commits first, so nothing else changes.
   */
  readonly backendBatchIntervalMs?: number;
}

export async function startThrowawayEtcd(tools: EtcdTools, dataDir: string, peerUrl: string, limits?: ThrowawayLimits): Promise<ThrowawayEtcd> {
  const clientUrl = `http://127.0.0.1:${await freeLoopbackPort()}`;
  const child: ChildProcess = spawn(
    tools.etcd,
    [
      `--name=${DRILL_MEMBER}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${DRILL_MEMBER}=${peerUrl}`,
      '--log-level=error',
      ...(limits ? [`--max-txn-ops=${limits.maxTxnOps}`, `--max-request-bytes=${limits.maxRequestBytes}`] : []),
      ...(limits?.unsafeNoFsync ? ['--unsafe-no-fsync'] : []),
      ...(limits?.quotaBackendBytes ? [`--quota-backend-bytes=${limits.quotaBackendBytes}`] : []),
      ...(limits?.backendBatchIntervalMs ? [`--backend-batch-interval=${limits.backendBatchIntervalMs}ms`, '--backend-batch-limit=100000'] : []),
    ],
    // ETCD_* variables in the runner's environment would silently override these flags.
    { stdio: ['ignore', 'ignore', 'pipe'], env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_'))) },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let exitMessage: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitMessage = `throwaway etcd exited (${signal ?? code}): ${stderr.trim() || 'no output'}`;
      resolve();
    }),
  );
  child.once('error', (error) => (exitMessage = `throwaway etcd could not start: ${error.message}`));
  return {
    clientUrl,
    exitedWith: () => exitMessage,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
