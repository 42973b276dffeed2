/**
 * etcd's Maintenance.Snapshot over `node:http2` directly, at about half the CPU of etcd3's client (kept
 * as a reference in test/harness/etcd3Snapshot.ts). Through etcd3 -> grpc-js -> protobufjs every ~32 KiB
 * chunk is decoded into an object (and its blob copied) by generic machinery; on a 2-core runner that,
 * not etcd or the disk, bounded the backup. (etcd3's own snapshot() also sends no auth token.)
 * Here each HTTP/2 DATA chunk is scanned by a tiny protobuf reader and the blob is pushed on as a view of
 * the received buffer.
 *
 * One HTTP/2 session per snapshot, closed when the stream ends or is cancelled: a snapshot is long and
 * rare, so sharing etcd3's connection would save one handshake and couple our flow control to its calls.
 */
import type { ClientHttp2Session } from 'node:http2';
import { Readable } from 'node:stream';
import { withContext } from '../errors.ts';
import type { EtcdAccess } from './connection.ts';
import { snapshotBlobReader } from './grpcFrames.ts';
import { grpcCall, keepPinging, openGrpcSession, type GrpcCall } from './http2Session.ts';

export interface SnapshotStream {
  /** Raw snapshot bytes, ending with etcd's 32-byte sha256 trailer. */
  readonly bytes: Readable;
  /** Resolves when the first chunk arrives: etcd has taken its point-in-time view of the database. */
  readonly started: Promise<void>;
  /** Cancels the call (e.g. when every store failed and there is no point continuing). */
  cancel(): void;
}

const SNAPSHOT_PATH = '/etcdserverpb.Maintenance/Snapshot';

/**
 * HTTP/2's default 64 KiB windows let etcd send two 32 KiB messages before waiting for a WINDOW_UPDATE.
 * Larger windows keep it streaming; backpressure still holds, since a paused stream stops granting
 * window, so the stream window bounds what is buffered for us beyond `bytes`. The session window only
 * needs to exceed it (one stream per session), and measured faster well above it: on loopback against
 * etcd 3.5, 64K/64K ~200 MB/s, 4M/8M ~250 MB/s, 4M/32M ~400 MB/s.
 */
const STREAM_WINDOW = 4 << 20;
const SESSION_WINDOW = 32 << 20;
/** One MiB: the stream window already lets etcd run 4 MiB ahead of us; more buffering only costs memory. */
const READABLE_HIGH_WATER_MARK = 1 << 20;
/** Pings are what tells a silent member (powered off, partitioned) from a slow consumer. */
const DEFAULT_KEEPALIVE_MS = 30_000;

export interface SnapshotOptions {
  /**
   * While the snapshot streams, ping etcd this often; no answer within max(callTimeoutMs, 10 s) fails
   * the stream. Without it a member that vanishes without a TCP reset leaves the backup waiting forever
   * (we send nothing once our window is granted, so TCP never notices). Above etcd's default
   * --grpc-keepalive-min-time (5 s) so etcd never takes us for an abusive client.
   */
  readonly keepaliveMs?: number;
  /** Ping answer deadline; tests shorten it. Default max(callTimeoutMs, 10 s). */
  readonly keepaliveTimeoutMs?: number;
}

/**
 * Opens Maintenance.Snapshot on the member at `endpoint` (one of `access.endpoints`). Resolves once the
 * session is up (and, with auth, a token obtained), so a refused connection, a rejected certificate or
 * a wrong password reject here; failures after that destroy `bytes` with the reason.
 *
 * The stream `bytes` ends only when etcd ended the call with grpc-status 0: a connection cut mid-stream
 * (the member crashed) is an error, never a short snapshot that ends cleanly.
 */
export async function openSnapshot(
  access: EtcdAccess,
  endpoint: string,
  options: SnapshotOptions = {},
): Promise<SnapshotStream> {
  const { session, token } = await openGrpcSession(access, endpoint, { stream: STREAM_WINDOW, session: SESSION_WINDOW });
  return startSnapshot(session, endpoint, token, {
    keepaliveMs: options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
    keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? Math.max(access.callTimeoutMs, 10_000),
  });
}

function startSnapshot(
  session: ClientHttp2Session,
  endpoint: string,
  token: string | undefined,
  keepalive: { keepaliveMs: number; keepaliveTimeoutMs: number },
): SnapshotStream {
  let markStarted: () => void = () => undefined;
  let failStart: (error: Error) => void = () => undefined;
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve;
    failStart = reject;
  });
  // Callers may only care about `bytes`; a snapshot that fails before its first byte must not also
  // surface as an unhandled rejection of `started`.
  started.catch(() => undefined);

  let finished = false;
  let stopPinging: (() => void) | undefined;
  /** Graceful close after a complete call; otherwise drop the connection so etcd stops at once. */
  const release = (graceful = false): void => {
    stopPinging?.();
    if (session.destroyed) return;
    if (graceful) session.close();
    else session.destroy();
  };

  let call: GrpcCall | undefined;
  const bytes = new Readable({
    highWaterMark: READABLE_HIGH_WATER_MARK,
    read: () => {
      call?.stream.resume();
    },
    destroy: (error, callback) => {
      // The consumer gave up (or we failed the stream): stop etcd sending and drop the connection.
      if (!finished) call?.abort(error ?? new Error('snapshot stream destroyed by its reader'));
      release();
      callback(error);
    },
  });

  const reader = snapshotBlobReader(
    (piece) => {
      if (!bytes.push(piece)) call?.stream.pause();
    },
    markStarted,
  );
  call = grpcCall(session, SNAPSHOT_PATH, Buffer.alloc(0), token, reader);
  const current = call;

  stopPinging = keepPinging(session, keepalive.keepaliveMs, keepalive.keepaliveTimeoutMs, (error) => current.abort(error));

  current.done.then(
    () => {
      finished = true;
      markStarted();
      release(true);
      bytes.push(null);
    },
    (error: unknown) => {
      finished = true;
      const wrapped = withContext(`snapshot from etcd at ${endpoint}`, error);
      failStart(wrapped);
      release();
      bytes.destroy(wrapped);
    },
  );

  return {
    bytes,
    started,
    cancel: () => current.abort(new Error('snapshot cancelled')),
  };
}
