/**
 * One HTTP/2 connection to an etcd member speaking gRPC without grpc-js: connect (TLS as configured),
 * authenticate, start calls, keep the connection checked with pings. Used where the generic client's
 * per-message cost shows: the snapshot stream (snapshotStream.ts) and the journal's watch (watch.ts).
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { messageOf, withContext } from '../errors.ts';
import { BatchedSocket } from './batchedSocket.ts';
import type { EtcdAccess } from './connection.ts';
import {
  AUTHENTICATE_TOKEN_FIELD,
  GrpcMessageReader,
  type ResponseBodyReader,
  GrpcStatusError,
  authenticateRequest,
  decodeGrpcMessage,
  grpcFrame,
} from './grpcFrames.ts';

const AUTHENTICATE_PATH = '/etcdserverpb.Auth/Authenticate';

/** HTTP/2 flow-control windows: what the member may send ahead of us, per stream and per connection. */
export interface SessionWindows {
  readonly stream: number;
  readonly session: number;
  /**
   * Once connected and authenticated, take incoming bytes from the kernel every this many ms instead of as
   * they arrive (batchedSocket.ts): for a long stream of small messages where a fraction of a second of
   * delay costs nothing. Left out: read at once.
   */
  readonly readBatchMs?: number;
}

/** A connected session, with a token when the access has credentials. */
export interface GrpcSession {
  readonly session: ClientHttp2Session;
  readonly token: string | undefined;
}

/** Connects and, with credentials, authenticates; a failure destroys the session and names the endpoint. */
export async function openGrpcSession(access: EtcdAccess, endpoint: string, windows: SessionWindows): Promise<GrpcSession> {
  const { session, batched } = await connect(access, endpoint, windows);
  try {
    const token = access.auth ? await authenticate(session, access, endpoint) : undefined;
    // The handshakes (TLS, HTTP/2 settings, authentication) went at full speed; what follows is batched.
    batched?.batch();
    return { session, token };
  } catch (error) {
    session.destroy();
    throw error;
  }
}

/** A session on the first of `endpoints` (tried in order) that connects and accepts the credentials. */
export interface FirstSession extends GrpcSession {
  readonly endpoint: string;
  /** Its index in `endpoints`. */
  readonly index: number;
}

/** Tries `endpoints` in order; rejects, naming every endpoint's reason after `what`, when none answers. */
export async function openFirstGrpcSession(access: EtcdAccess, endpoints: readonly string[], windows: SessionWindows, what: string): Promise<FirstSession> {
  const reasons: string[] = [];
  for (const [index, endpoint] of endpoints.entries()) {
    try {
      return { ...(await openGrpcSession(access, endpoint, windows)), endpoint, index };
    } catch (error) {
      reasons.push(messageOf(error));
    }
  }
  throw new Error(`${what}: no member answered (${reasons.join('; ')})`);
}

/**
 * Pings the member every `intervalMs`; no answer within `timeoutMs` calls `onSilent`. Without it a member
 * that vanishes without a TCP reset (powered off, partitioned) leaves a stream waiting forever: we send
 * nothing, so TCP never notices. Keep `intervalMs` above etcd's --grpc-keepalive-min-time (5 s by default)
 * so etcd never takes us for an abusive client. Returns the function that stops the pings.
 */
export function keepPinging(session: ClientHttp2Session, intervalMs: number, timeoutMs: number, onSilent: (error: Error) => void): () => void {
  const pinger = setInterval(() => {
    const timeout = setTimeout(() => onSilent(new Error(`etcd did not answer a ping within ${timeoutMs} ms`)), timeoutMs);
    timeout.unref();
    // A ping cancelled because the session is closing needs no report: the stream reports the close.
    const sent = session.ping(() => clearTimeout(timeout));
    if (!sent) clearTimeout(timeout);
  }, intervalMs);
  pinger.unref();
  return () => clearInterval(pinger);
}

/**
 * TLS follows the credentials, as in connection.ts (etcd3 ignores the scheme), and also an explicit
 * https:// (then verified against the system CAs). etcd serves gRPC on its client port both ways:
 * h2 by ALPN with TLS, HTTP/2 prior knowledge without.
 */
function authorityOf(access: EtcdAccess, endpoint: string): string {
  if (/^unixs?:/.test(endpoint)) throw new Error(`${endpoint}: unix socket endpoints are not supported by the HTTP/2 client (snapshots, the journal's watch)`);
  const hostPort = endpoint.replace(/^(https?):\/\//, '').replace(/\/+$/, '');
  const secure = access.tls !== undefined || endpoint.startsWith('https://');
  return `${secure ? 'https' : 'http'}://${hostPort}`;
}

/**
 * Connects within callTimeoutMs; rejects with the endpoint and the reason (refused, TLS, timeout). With
 * `readBatchMs`, also returns the batched transport, whose batching starts once the caller's handshakes are done.
 */
async function connect(access: EtcdAccess, endpoint: string, windows: SessionWindows): Promise<{ session: ClientHttp2Session; batched?: BatchedSocket }> {
  const authority = authorityOf(access, endpoint);
  const tlsOptions = access.tls
    ? { ca: access.tls.ca, ...(access.tls.cert ? { cert: access.tls.cert } : {}), ...(access.tls.key ? { key: access.tls.key } : {}) }
    : undefined;
  const url = new URL(authority);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  // Connected before http2.connect sees it: over a stream of our own, node starts the session at once and
  // a refused connection would only show later, as a session that closes.
  const batched =
    windows.readBatchMs === undefined
      ? undefined
      : await BatchedSocket.connect(host, Number(url.port || (url.protocol === 'https:' ? 443 : 80)), windows.readBatchMs, access.callTimeoutMs).catch(
          (error: unknown) => {
            throw withContext(`connecting to etcd at ${endpoint}`, error);
          },
        );
  const transport = batched
    ? {
        // TLS over it, as http2.connect does over its own socket: h2 by ALPN, the certificate checked against the host.
        createConnection: (): Duplex =>
          url.protocol === 'https:' ? tls.connect({ ...tlsOptions, socket: batched, host, ALPNProtocols: ['h2'], ...(net.isIP(host) ? {} : { servername: host }) }) : batched,
      }
    : {};
  const session = http2.connect(authority, {
    ...tlsOptions,
    ...transport,
    settings: { initialWindowSize: windows.stream, enablePush: false },
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
  session.setLocalWindowSize(windows.session);
  return { session, ...(batched ? { batched } : {}) };
}

export interface GrpcCall {
  readonly stream: ClientHttp2Stream;
  /** Settles when the call is over: resolves on grpc-status 0 after a complete body, rejects otherwise. */
  readonly done: Promise<void>;
  /** Ends the call early with `reason` (done rejects with it). */
  abort(reason: Error): void;
}

/**
 * Starts one gRPC call; the caller writes the request frames (and ends its side). Response messages go to `reader`;
 * the outcome is decided by grpc-status, taken from the trailers, or from the headers when etcd answers
 * an error with no body ("trailers-only"). A stream that closes without any status was cut.
 */
export function startGrpcCall(
  session: ClientHttp2Session,
  path: string,
  token: string | undefined,
  reader: ResponseBodyReader,
  metadata: Readonly<Record<string, string>> = {},
): GrpcCall {
  const stream = session.request({
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...metadata,
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
  return { stream, done, abort: fail };
}

/** A call with one request message (unary or server-streaming): the request is sent and our side closed. */
export function grpcCall(session: ClientHttp2Session, path: string, request: Buffer, token: string | undefined, reader: ResponseBodyReader): GrpcCall {
  const call = startGrpcCall(session, path, token, reader);
  call.stream.end(grpcFrame(request));
  return call;
}

/**
 * Gets a token with Auth.Authenticate on this session rather than borrowing the one etcd3 caches in its
 * connection pool: that pool is private API (its shape could change under an upgrade and leave us sending
 * no token at all), etcd3 authenticates lazily (no token until its first call), and a cached simple token
 * may have expired (etcd forgets them after --auth-token-ttl idle). A fresh token costs one round trip
 * (a bcrypt check on etcd) per snapshot, nothing next to streaming the database, and a wrong password
 * fails right here with etcd's own message.
 */
export async function authenticate(session: ClientHttp2Session, access: EtcdAccess, endpoint: string): Promise<string> {
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

