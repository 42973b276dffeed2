/**
 * Point-in-time replay: a full backup plus the journal's revisions, up to a target revision.
 *
 * The backup's raw snapshot is restored into scratch space WITHOUT a revision bump (the replayed revisions
 * must follow the snapshot's own), a throwaway etcd is started on loopback over it, and every source
 * revision after the snapshot's is applied as ONE transaction, in order. A transaction is one revision, so
 * after each one the throwaway etcd stands at exactly the source's revision, and every key gets the
 * create/mod revision and version it had in the source. The transaction also compares each key's version
 * (and create revision) with what the journal says it was before: a journal that does not continue the
 * backup it claims to start from fails at the first revision where they part, naming it.
 *
 * The transactions go one at a time, each sent once the previous one's response names its revision: etcd
 * does not order concurrent requests (measured: pipelined transactions, each guarded by a compare on its
 * predecessor's mod revision, were taken out of turn a third to a half of the time and had to be sent
 * again, which ate the gain). What is made fast is the single transaction: replayTxnClient.ts writes it straight onto
 * HTTP/2, and the throwaway etcd runs without fsync.
 *
 * A revision is never split: one can hold more operations than etcd's default --max-txn-ops (a lease expiry
 * deleting thousands of keys), so the throwaway etcd runs with limits that fit, and is restarted on the same
 * data with larger ones when a revision needs more.
 *
 * The result is taken as a snapshot of the throwaway etcd, which the ordinary member restore then handles
 * (revision bump, mark compacted) like any backup.
 */
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { stat } from 'node:fs/promises';
import type { Etcd3 } from 'etcd3';
import type { Log } from '../base/log.ts';
import { messageOf } from '../errors.ts';
import { countKeys } from '../etcd/keys.ts';
import { OWN_PREFIX } from '../etcd/lock.ts';
import { openSnapshot } from '../etcd/snapshotStream.ts';
import { openFileSink } from '../base/fileSink.ts';
import type { LeaseGrant, RevisionRecord } from '../journal/records.ts';
import { SnapshotTrailer, type SnapshotIdentity } from '../snapshot/verifier.ts';
import { owningStream } from '../base/ownStream.ts';
import { waitServing } from './check.ts';
import type { EtcdTools } from './etcdTools.ts';
import { shortenLeaseTtls, type LeaseTtlChange } from './replayLeaseTtl.ts';
import { ReplayLeases } from './replayLeases.ts';
import { encodeRevisionTxn, ReplayTxnClient } from './replayTxnClient.ts';
import type { CommandRunner } from './service.ts';
import { runSnapshotRestore } from './snapshotRestore.ts';
import { DRILL_MEMBER, drillPeerUrl, startThrowawayEtcd, type ThrowawayEtcd, type ThrowawayLimits } from './throwawayEtcd.ts';

export interface ReplayTarget {
  readonly revision: number;
  /** The moment the result stands for: a lease gets the TTL it had left then. */
  readonly time: Date;
}

export interface ReplayInput {
  /** A full backup's raw snapshot (etcd's sha256 trailer included), as fetchSnapshot leaves it. */
  readonly snapshotFile: string;
  /** The journal's revisions in order; those at or below the snapshot's revision are skipped. */
  readonly records: AsyncIterable<RevisionRecord>;
  /** Grants of the leases the journal's keys carry (from the segment manifests), by id. */
  readonly leases: ReadonlyMap<string, LeaseGrant>;
  readonly target: ReplayTarget;
  /**
   * Revoke, at the target, leases the journal's times say had expired by then but whose expiry the journal
   * does not show yet (adds one revision, reported). A drill comparing exact revisions turns it off.
   */
  readonly expireLeases: boolean;
  readonly tools: EtcdTools;
  readonly run: CommandRunner;
  /** An empty directory the replay may fill (the restored data directory lives here). */
  readonly scratchDir: string;
  readonly log: Log;
  readonly sleep: (ms: number) => Promise<void>;
  /** Limits to start the throwaway etcd with; raised (by a restart) when a revision needs more. */
  readonly limits?: ThrowawayLimits;
}

export interface ReplayReport {
  /** The revision the backup's snapshot actually holds (can be a few past its manifest's). */
  readonly baseRevision: number;
  /** The throwaway etcd's revision at the end: the target, plus one when expired leases were revoked. */
  readonly revision: number;
  /** Receive time of the last revision applied (undefined when none was needed). */
  readonly reachedAt?: string;
  readonly revisionsApplied: number;
  readonly eventsApplied: number;
  readonly leasesGranted: number;
  /** Leases revoked at the target because the journal's times say they had expired. */
  readonly leasesRevoked: readonly string[];
  /** Leases of the base backup whose TTL is shortened, in the snapshot, to what they had left at the target. */
  readonly leasesToShorten: readonly LeaseTtlChange[];
  /** Times the throwaway etcd was restarted with larger request limits. */
  readonly limitRaises: number;
  readonly limits: ThrowawayLimits;
  readonly warnings: readonly string[];
}

/**
 * The base snapshot holds revisions past the target (writes landed while it was taken, after the revision
 * its manifest records): an older full backup is needed.
 */
export class SnapshotPastTarget extends Error {
  override readonly name = 'SnapshotPastTarget';
}

/** A throwaway etcd holding the replayed state, for the caller to read or snapshot. */
export interface ReplayedEtcd {
  readonly clientUrl: string;
  readonly client: Etcd3;
}

/** etcd's defaults are 128 ops and 1.5 MiB; a replay starts well above them and grows when needed. */
export const DEFAULT_REPLAY_LIMITS: ThrowawayLimits = { maxTxnOps: 10_000, maxRequestBytes: 16 << 20 };
/** Per operation in a request: tags, lengths, the compare that goes with it. */
const OP_OVERHEAD_BYTES = 64;
/**
 * Added to the base snapshot's size for the throwaway etcd's --quota-backend-bytes: the replay keeps every
 * revision's old values (it never compacts: the drill reads the result at exact revisions), so an hour of
 * journal on a 1 GiB base passes etcd's 2 GiB default and would stop with NOSPACE. The quota is only a
 * check (etcd warns above 8 GiB, and starts).
 */
const REPLAY_QUOTA_EXTRA_BYTES = 16 * 2 ** 30;

type Etcd3Module = typeof import('etcd3');

/** A client for a loopback throwaway etcd: no deadline, no TLS, and responses as large as a revision's. */
async function throwawayClient(clientUrl: string): Promise<Etcd3> {
  const loaded: Etcd3Module & { default?: Etcd3Module } = await import('etcd3');
  const { Etcd3 } = loaded.default ?? loaded;
  return new Etcd3({
    hosts: clientUrl.replace(/^http:\/\//, ''),
    grpcOptions: { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 },
  });
}

/**
 * Whether this etcd has --unsafe-no-fsync (3.5 and late 3.4 releases; 3.4.23 has it): an etcd without it refuses to start
 * with an unknown flag, so it is asked first. Without it the replay is correct, only slower.
 */
async function supportsNoFsync(run: CommandRunner, tools: EtcdTools): Promise<boolean> {
  try {
    await run(tools.etcd, ['--unsafe-no-fsync', '--version']);
    return true;
  } catch {
    return false;
  }
}

/**
 * What one revision's transaction needs from the throwaway etcd's limits. etcd checks --max-txn-ops
 * against the compares as well as the operations, and an update carries two compares (version and create
 * revision): 6,000 updates in one revision need 12,000.
 */
export function revisionNeeds(record: RevisionRecord): ThrowawayLimits {
  let bytes = 0;
  let compares = 0;
  for (const event of record.events) {
    // base64 length * 3/4 is the byte length (+2 for padding is harmless here).
    bytes += ((event.key.length * 3) >> 2) * 2 + OP_OVERHEAD_BYTES;
    compares += event.type === 'put' && event.version > 1 ? 2 : 1;
    if (event.type === 'put') bytes += (event.value.length * 3) >> 2;
  }
  return { maxTxnOps: Math.max(record.events.length, compares), maxRequestBytes: bytes };
}

function fits(needs: ThrowawayLimits, limits: ThrowawayLimits): boolean {
  return needs.maxTxnOps <= limits.maxTxnOps && needs.maxRequestBytes <= limits.maxRequestBytes;
}

function printable(keyBase64: string): string {
  const text = Buffer.from(keyBase64, 'base64').toString('utf8');
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}...` : text);
}

/** Names the keys whose state in the throwaway etcd is not what the journal's revision expects. */
async function explainMismatch(client: Etcd3, record: RevisionRecord): Promise<string> {
  const problems: string[] = [];
  for (const event of record.events) {
    const { kvs } = await client.kv.range({ key: Buffer.from(event.key, 'base64') });
    const kv = kvs[0];
    const version = kv ? Number(kv.version) : 0;
    if (event.type === 'delete' && !kv) problems.push(`delete of ${printable(event.key)}, which the replayed etcd does not hold`);
    if (event.type === 'put' && version !== event.version - 1) {
      problems.push(`put of ${printable(event.key)} as version ${event.version}, but the replayed etcd holds version ${version}`);
    } else if (event.type === 'put' && kv && event.version > 1 && Number(kv.create_revision) !== event.createRevision) {
      problems.push(`put of ${printable(event.key)} created at ${event.createRevision}, but the replayed etcd's was created at ${kv.create_revision}`);
    }
    if (problems.length >= 3) break;
  }
  return problems.join('; ') || 'the keys changed under the replay';
}

/**
 * Restores the snapshot, replays the journal onto it up to the target, hands the running throwaway etcd to
 * `use`, then stops it. Throws, naming the revision, when the journal does not continue the snapshot,
 * misses a revision, or ends before the target.
 */
export async function withReplayedEtcd<T>(input: ReplayInput, use: (etcd: ReplayedEtcd, report: ReplayReport) => Promise<T>): Promise<T> {
  const dataDir = join(input.scratchDir, 'replay-data');
  const peerUrl = await drillPeerUrl();
  const member = { name: DRILL_MEMBER, initialCluster: `${DRILL_MEMBER}=${peerUrl}`, initialAdvertisePeerUrls: peerUrl, initialClusterToken: 'etcd-dr-replay' };
  // No bump: the journal's revisions continue the snapshot's own.
  await runSnapshotRestore(input.run, input.tools, input.snapshotFile, dataDir, member, undefined);

  const noFsync = await supportsNoFsync(input.run, input.tools);
  const quotaBackendBytes = (await stat(input.snapshotFile)).size + REPLAY_QUOTA_EXTRA_BYTES;
  let limits: ThrowawayLimits = { ...(input.limits ?? DEFAULT_REPLAY_LIMITS), unsafeNoFsync: noFsync, quotaBackendBytes, backendBatchIntervalMs: 1000 };
  let etcd: ThrowawayEtcd | undefined;
  let client: Etcd3 | undefined;
  let txnClient: ReplayTxnClient | undefined;
  const leases = new ReplayLeases(input.leases, input.target.time);
  const start = async (): Promise<void> => {
    etcd = await startThrowawayEtcd(input.tools, dataDir, peerUrl, limits);
    const running = etcd;
    await waitServing({ endpoints: [running.clientUrl], callTimeoutMs: 10_000 }, running.clientUrl, {
      timeoutMs: 60_000,
      sleep: input.sleep,
      dead: () => running.exitedWith(),
    });
    client = await throwawayClient(running.clientUrl);
    txnClient = new ReplayTxnClient(running.clientUrl);
    await leases.attach(client);
  };
  const stop = async (): Promise<void> => {
    leases.detach();
    client?.close();
    client = undefined;
    txnClient?.close();
    txnClient = undefined;
    await etcd?.stop();
    etcd = undefined;
  };
  try {
    await start();
    const status = await client!.maintenance.status();
    const baseRevision = Number(status.header.revision);
    if (baseRevision > input.target.revision) {
      throw new SnapshotPastTarget(
        `the backup's snapshot already holds revision ${baseRevision}, past the target ${input.target.revision}: restore from an older full backup`,
      );
    }
    let current = baseRevision;
    let reachedAt: string | undefined;
    let events = 0;
    let limitRaises = 0;
    const warnings: string[] = [];
    // A snapshot already at the target needs no journal at all.
    const records = baseRevision < input.target.revision ? input.records : [];
    for await (const record of records) {
      if (record.rev <= baseRevision) continue;
      if (record.rev !== current + 1) {
        throw new Error(
          record.rev <= current
            ? `the journal repeats or reorders revision ${record.rev} (the replay stands at ${current})`
            : `the journal jumps from revision ${current} to ${record.rev}: revisions ${current + 1}..${record.rev - 1} are missing`,
        );
      }
      const needs = revisionNeeds(record);
      if (!fits(needs, limits)) {
        // Restart on the same data with limits that fit: the revision stays one transaction.
        limits = {
          ...limits,
          maxTxnOps: Math.max(limits.maxTxnOps, needs.maxTxnOps * 2),
          maxRequestBytes: Math.max(limits.maxRequestBytes, needs.maxRequestBytes * 2),
        };
        input.log.info(
          `revision ${record.rev} has ${needs.maxTxnOps} operations (~${needs.maxRequestBytes} bytes): restarting the throwaway etcd with --max-txn-ops=${limits.maxTxnOps} --max-request-bytes=${limits.maxRequestBytes}`,
        );
        await stop();
        await start();
        limitRaises++;
      }
      const at = new Date(record.at);
      for (const event of record.events) {
        if (event.type === 'put' && event.lease !== '0') await leases.ensure(client!, event.lease, at, record.rev);
      }
      const renewal = leases.failure();
      if (renewal) throw new Error(`keeping the replay's leases alive failed before revision ${record.rev}: ${renewal}`);
      let response;
      try {
        response = await txnClient!.txn(encodeRevisionTxn(record));
      } catch (error) {
        throw new Error(`replaying revision ${record.rev} (${record.events.length} events) failed: ${messageOf(error)}`, { cause: error });
      }
      if (!response.succeeded) {
        throw new Error(
          `revision ${record.rev} does not continue the replayed state (${await explainMismatch(client!, record)}): ` +
            'the journal and the backup it starts from disagree',
        );
      }
      const reached = response.revision;
      if (reached !== record.rev) {
        throw new Error(`replaying revision ${record.rev} left the throwaway etcd at revision ${reached}: the replay would no longer match the source`);
      }
      current = reached;
      reachedAt = record.at;
      events += record.events.length;
      if (current === input.target.revision) break;
    }
    if (current < input.target.revision) {
      throw new Error(`the journal ends at revision ${current}, before the target ${input.target.revision}`);
    }
    const revoked: string[] = [];
    if (input.expireLeases) {
      for (const id of leases.expiredAtTarget()) {
        const live = await client!.leaseClient.leaseTimeToLive({ ID: id, keys: true });
        // etcd-dr's own locks are renewed by their holder after the journal asked, so they always look
        // expired: revoking them would only add a revision. They expire on their own after the restore.
        if (live.keys.length > 0 && live.keys.every((k) => k.toString('utf8').startsWith(OWN_PREFIX))) continue;
        await client!.leaseClient.leaseRevoke({ ID: id });
        leases.forget(id);
        if (live.keys.length > 0) {
          revoked.push(id);
          warnings.push(
            `lease ${id} had expired by the target according to the journal's times, but the journal shows no expiry yet: ` +
              `revoked it, deleting its ${live.keys.length} key(s) (one more revision)`,
          );
        }
      }
    }
    const final = Number((await client!.maintenance.status()).header.revision);
    const report: ReplayReport = {
      baseRevision,
      revision: final,
      ...(reachedAt ? { reachedAt } : {}),
      revisionsApplied: current - baseRevision,
      eventsApplied: events,
      leasesGranted: leases.grantedLeases().length,
      leasesRevoked: revoked,
      leasesToShorten: leases.baseLeasesToShorten(),
      limitRaises,
      limits,
      warnings,
    };
    return await use({ clientUrl: etcd!.clientUrl, client: client! }, report);
  } finally {
    await stop();
  }
}

/** Replays, then writes the throwaway etcd's snapshot (sha256 trailer included) to `outFile`. */
export async function replayToSnapshot(
  input: ReplayInput,
  outFile: string,
): Promise<ReplayReport & { readonly snapshot: SnapshotIdentity; readonly keyCount: number }> {
  return withReplayedEtcd(input, async (etcd, report) => {
    // Counted as a backup's manifest counts them (without etcd-dr's own keys), for the member restore's check.
    const keyCount = await countKeys(etcd.client);
    const stream = await openSnapshot({ endpoints: [etcd.clientUrl], callTimeoutMs: 30_000 }, etcd.clientUrl);
    const trailer = new SnapshotTrailer(`snapshot of the replayed etcd at revision ${report.revision}`);
    await owningStream(stream.bytes, async () => {
      const sink = await openFileSink(outFile, { flags: 'w', mode: 0o600 });
      await pipeline(stream.bytes, trailer, sink);
    });
    if (report.leasesToShorten.length === 0) return { ...report, snapshot: trailer.result(), keyCount };
    const shortened = await shortenLeaseTtls(outFile, report.leasesToShorten);
    const missed = report.leasesToShorten.filter((c) => !shortened.rewritten.has(c.id));
    const warnings = [
      ...report.warnings,
      ...missed.map((c) => `lease ${c.id} of the base backup keeps its TTL of ${c.from} s (its record was not found in the snapshot to shorten it to ${c.to} s)`),
    ];
    input.log.info(`shortened ${shortened.rewritten.size} lease(s) of the base backup to the TTL they had left at the target`);
    return { ...report, warnings, snapshot: shortened.snapshot, keyCount };
  });
}
