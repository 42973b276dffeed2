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
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { Readable } from 'node:stream';
import { withContext } from '../errors.ts';
import type { EtcdAccess } from './connection.ts';
import {
  AUTHENTICATE_TOKEN_FIELD,
  GrpcMessageReader,
  GrpcStatusError,
  authenticateRequest,
  decodeGrpcMessage,
  grpcFrame,
  snapshotBlobReader,
} from './grpcFrames.ts';

export interface SnapshotStream {
  /** Raw snapshot bytes, ending with etcd's 32-byte sha256 trailer. */
  readonly bytes: Readable;
  /** Resolves when the first chunk arrives: etcd has taken its point-in-time view of the database. */
  readonly started: Promise<void>;
  /** Cancels the call (e.g. when every store failed and there is no point continuing). */
  cancel(): void;
}

const SNAPSHOT_PATH = '/etcdserverpb.Maintenance/Snapshot';
const AUTHENTICATE_PATH = '/etcdserverpb.Auth/Authenticate';

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
  const session = await connectSession(access, endpoint);
  let token: string | undefined;
  try {
    token = access.auth ? await authenticate(session, access, endpoint) : undefined;
  } catch (error) {
    session.destroy();
    throw error;
  }
  return startSnapshot(session, endpoint, token, {
    keepaliveMs: options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
    keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? Math.max(access.callTimeoutMs, 10_000),
  });
}

/**
 * TLS follows the credentials, as in connection.ts (etcd3 ignores the scheme), and also an explicit
 * https:// (then verified against the system CAs). etcd serves gRPC on its client port both ways:
 * h2 by ALPN with TLS, HTTP/2 prior knowledge without.
 */
function authorityOf(access: EtcdAccess, endpoint: string): string {
  if (/^unixs?:/.test(endpoint)) throw new Error(`${endpoint}: unix socket endpoints are not supported by the HTTP/2 snapshot reader`);
  const hostPort = endpoint.replace(/^(https?):\/\//, '').replace(/\/+$/, '');
  const secure = access.tls !== undefined || endpoint.startsWith('https://');
  return `${secure ? 'https' : 'http'}://${hostPort}`;
}

/** Connects within callTimeoutMs; rejects with the endpoint and the reason (refused, TLS, timeout). */
async function connectSession(access: EtcdAccess, endpoint: string): Promise<ClientHttp2Session> {
  const authority = authorityOf(access, endpoint);
  const tls = access.tls;
  const session = http2.connect(authority, {
    ...(tls ? { ca: tls.ca, ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}) } : {}),
    settings: { initialWindowSize: STREAM_WINDOW, enablePush: false },
  });
  // Without a listener a late session error (reset after we are done with it) would crash the process;
  // the streams report errors that matter.
  session.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no HTTP/2 connection within ${access.callTimeoutMs} ms`)),
        access.callTimeoutMs,
      );
      const settle = (error?: Error): void => {
        clearTimeout(timer);
        session.off('connect', onConnect);
        session.off('error', onError);
        session.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onConnect = (): void => settle();
      const onError = (error: Error): void => settle(error);
      const onClose = (): void => settle(new Error('the connection closed during the handshake'));
      session.once('connect', onConnect);
      session.once('error', onError);
      session.once('close', onClose);
    });
  } catch (error) {
    session.destroy();
    throw withContext(`connecting to etcd at ${endpoint}`, error);
  }
  session.setLocalWindowSize(SESSION_WINDOW);
  return session;
}

interface GrpcCall {
  readonly stream: ClientHttp2Stream;
  /** Settles when the call is over: resolves on grpc-status 0 after a complete body, rejects otherwise. */
  readonly done: Promise<void>;
  /** Ends the call early with `reason` (done rejects with it). */
  abort(reason: Error): void;
}

/**
 * Starts one gRPC call with an already-encoded request message. Response messages go to `reader`;
 * the outcome is decided by grpc-status, taken from the trailers, or from the headers when etcd answers
 * an error with no body ("trailers-only"). A stream that closes without any status was cut.
 */
function grpcCall(session: ClientHttp2Session, path: string, request: Buffer, token: string | undefined, reader: GrpcMessageReader): GrpcCall {
  const stream = session.request({
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
    // etcd's auth interceptor reads the token from this metadata key (rpctypes.TokenFieldNameGRPC).
    ...(token !== undefined ? { token } : {}),
  });
  let settled = false;
  let resolveDone: () => void = () => undefined;
  let rejectDone: (error: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const fail = (error: Error): void => {
    if (settled) return;
    settled = true;
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    rejectDone(error);
  };

  let responseHeaders: IncomingHttpHeaders | undefined;
  let trailers: IncomingHttpHeaders | undefined;
  stream.on('response', (headers) => {
    responseHeaders = headers;
    const status = headers[':status'];
    // A proxy or a non-gRPC listener on the port: say so rather than "no grpc-status".
    if (status !== 200) fail(new Error(`HTTP status ${status} from a gRPC endpoint (is this an etcd client URL?)`));
  });
  stream.on('trailers', (headers) => {
    trailers = headers;
  });
  stream.on('data', (chunk: Buffer) => {
    if (settled) return;
    try {
      reader.write(chunk);
    } catch (error) {
      fail(error as Error);
    }
  });
  stream.on('error', (error) => fail(error));
  stream.on('close', () => {
    if (settled) return;
    const meta = trailers ?? (responseHeaders?.['grpc-status'] !== undefined ? responseHeaders : undefined);
    const status = meta?.['grpc-status'];
    if (status === undefined) {
      fail(new Error('the call ended without a gRPC status: the connection to etcd was lost'));
      return;
    }
    const code = Number(status);
    if (code !== 0) {
      const message = meta?.['grpc-message'];
      fail(new GrpcStatusError(code, typeof message === 'string' ? decodeGrpcMessage(message) : ''));
      return;
    }
    try {
      reader.finish();
    } catch (error) {
      fail(error as Error);
      return;
    }
    settled = true;
    resolveDone();
  });
  stream.end(grpcFrame(request));
  return { stream, done, abort: fail };
}

/**
 * Gets a token with Auth.Authenticate on this session rather than borrowing the one etcd3 caches in its
 * connection pool: that pool is private API (its shape could change under an upgrade and leave us sending
 * no token at all), etcd3 authenticates lazily (no token until its first call), and a cached simple token
 * may have expired (etcd forgets them after --auth-token-ttl idle). A fresh token costs one round trip
 * (a bcrypt check on etcd) per snapshot, nothing next to streaming the database, and a wrong password
 * fails right here with etcd's own message.
 */
async function authenticate(session: ClientHttp2Session, access: EtcdAccess, endpoint: string): Promise<string> {
  const auth = access.auth;
  if (!auth) throw new Error('authenticate called without credentials');
  const pieces: Buffer[] = [];
  const reader = new GrpcMessageReader({ bytes: (_field, piece) => pieces.push(piece) }, new Set([AUTHENTICATE_TOKEN_FIELD]));
  const call = grpcCall(session, AUTHENTICATE_PATH, authenticateRequest(auth.username, auth.password), undefined, reader);
  const timer = setTimeout(() => call.abort(new Error(`no answer within ${access.callTimeoutMs} ms`)), access.callTimeoutMs);
  try {
    await call.done;
  } catch (error) {
    throw withContext(`authenticating to etcd at ${endpoint} as ${auth.username}`, error);
  } finally {
    clearTimeout(timer);
  }
  if (reader.messageCount !== 1 || pieces.length === 0) {
    throw new Error(`authenticating to etcd at ${endpoint} as ${auth.username}: the answer carries no token`);
  }
  return Buffer.concat(pieces).toString('utf8');
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
  let pinger: NodeJS.Timeout | undefined;
  /** Graceful close after a complete call; otherwise drop the connection so etcd stops at once. */
  const release = (graceful = false): void => {
    if (pinger) clearInterval(pinger);
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

  pinger = setInterval(() => {
    const timeout = setTimeout(
      () => current.abort(new Error(`etcd did not answer a ping within ${keepalive.keepaliveTimeoutMs} ms`)),
      keepalive.keepaliveTimeoutMs,
    );
    timeout.unref();
    // A ping cancelled because the session is closing needs no report: the stream reports the close.
    const sent = session.ping(() => clearTimeout(timeout));
    if (!sent) clearTimeout(timeout);
  }, keepalive.keepaliveMs);
  pinger.unref();

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
