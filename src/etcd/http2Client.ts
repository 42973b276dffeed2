/**
 * The journal's connection to etcd: unary calls and streams over one HTTP/2 connection of our own
 * (http2Session.ts), kept open between calls. The journal runs for hours beside etcd on every node, and
 * etcd3's client cost it more than the work itself: more CPU per call than etcd spent answering it (retry
 * and circuit-breaker policies, grpc-js's call stack, reflective protobuf, Long for every int64), and tens
 * of MB of memory for grpc-js, protobufjs and etcd's parsed .proto files.
 *
 * The connection goes to the first endpoint that answers. A unary call that fails is tried once more on a
 * fresh connection through the next endpoint (the member may be gone, or a simple auth token may have
 * expired after etcd's --auth-token-ttl of disuse: a new connection authenticates again). Pings tell a
 * silent member (powered off, partitioned) from an idle one; the connection is then dropped, which ends its
 * streams, and their owners open them again (through the next endpoint).
 */
import { withContext } from '../errors.ts';
import type { EtcdAccess } from './connection.ts';
import { MessageCollector, type ResponseBodyReader } from './grpcFrames.ts';
import { grpcCall, keepPinging, openFirstGrpcSession, startGrpcCall, type GrpcCall, type GrpcSession } from './http2Session.ts';

/** The lock's and leases' messages are small: the default windows are enough. */
const WINDOWS = { stream: 64 << 10, session: 1 << 20 } as const;
/** Above etcd's --grpc-keepalive-min-time (5 s). */
const PING_EVERY_MS = 10_000;

interface Connection {
  readonly grpc: GrpcSession;
  readonly endpoint: string;
}

export interface OpenStream {
  readonly call: GrpcCall;
  /** The member the stream goes to. */
  readonly endpoint: string;
}

export class EtcdHttp2Client {
  private connection: Promise<Connection> | undefined;
  /** The connection `connection` resolved to, while it is the current one. */
  private live: Connection | undefined;
  /** Index of the endpoint the next connection tries first. */
  private turn = 0;
  private closed = false;

  constructor(readonly access: EtcdAccess) {}

  /** Calls `path` (e.g. '/etcdserverpb.Lease/LeaseGrant') with an encoded request; resolves with the encoded answer. */
  async call(path: string, request: Buffer): Promise<Buffer> {
    try {
      return await this.once(path, request);
    } catch {
      this.dropConnection();
      return this.once(path, request);
    }
  }

  /**
   * Starts a bidirectional stream on the connection; the caller writes framed requests on `call.stream`,
   * reads answers through `reader`, and opens it again when `call.done` settles.
   */
  async openStream(path: string, reader: ResponseBodyReader): Promise<OpenStream> {
    const { grpc, endpoint } = await this.current();
    return { call: startGrpcCall(grpc.session, path, grpc.token, reader), endpoint };
  }

  /** Forgets the connection (closing it, which ends its streams); the next call connects again, from the next endpoint. */
  dropConnection(): void {
    const connection = this.connection;
    this.forget();
    this.turn = (this.turn + 1) % this.access.endpoints.length;
    void connection?.then(
      ({ grpc }) => grpc.session.destroy(),
      () => undefined,
    );
  }

  close(): void {
    this.closed = true;
    this.dropConnection();
  }

  private async once(path: string, request: Buffer): Promise<Buffer> {
    const { grpc, endpoint } = await this.current();
    const collector = new MessageCollector();
    const call = grpcCall(grpc.session, path, request, grpc.token, collector);
    const timer = setTimeout(() => call.abort(new Error(`no answer within ${this.access.callTimeoutMs} ms`)), this.access.callTimeoutMs);
    try {
      await call.done;
    } catch (error) {
      throw withContext(`${path} on etcd at ${endpoint}`, error);
    } finally {
      clearTimeout(timer);
    }
    const [answer, ...more] = collector.messages;
    if (answer === undefined || more.length > 0) throw new Error(`${path} on etcd at ${endpoint}: ${collector.messages.length} answers to one request`);
    return answer;
  }

  private current(): Promise<Connection> {
    if (this.closed) return Promise.reject(new Error('the connection to etcd is closed'));
    return (this.connection ??= this.connect());
  }

  private async connect(): Promise<Connection> {
    const endpoints = this.access.endpoints;
    // From the endpoint after the last one dropped: a member that failed is not tried first again.
    const order = [...endpoints.slice(this.turn), ...endpoints.slice(0, this.turn)];
    const first = await openFirstGrpcSession(this.access, order, WINDOWS, 'connecting to etcd');
    this.turn = (this.turn + first.index) % endpoints.length;
    const connection: Connection = { grpc: first, endpoint: first.endpoint };
    this.live = connection;
    const stopPinging = keepPinging(first.session, PING_EVERY_MS, Math.max(this.access.callTimeoutMs, 10_000), () => {
      if (this.live === connection) this.dropConnection();
    });
    first.session.once('close', () => {
      stopPinging();
      // Closed by etcd (or by us): the next call connects again.
      if (this.live === connection) this.forget();
    });
    return connection;
  }

  private forget(): void {
    this.live = undefined;
    this.connection = undefined;
  }
}
