/**
 * A watch on its own HTTP/2 connection (http2Session.ts), decoded by watchMessages.ts: the journal's
 * follower receives every revision of the whole keyspace through one, so its per-message cost is the
 * follower's CPU (see watchMessages.ts for why not etcd3's Watcher); its standbys watch the writer's lock key.
 *
 * One connection per watch, to the first of the given endpoints that answers. The watch asks etcd to
 * require a leader ("hasleader", as etcd's Go client's WithRequireLeader): a member cut off from its
 * cluster cancels the stream instead of going quiet while the others move on, and the caller watches again
 * through another member.
 */
import { withContext } from '../errors.ts';
import type { EtcdAccess } from './connection.ts';
import { grpcFrame } from './grpcFrames.ts';
import { keepPinging, openFirstGrpcSession, startGrpcCall, type GrpcSession } from './http2Session.ts';
import { WATCH_PROGRESS_REQUEST, watchCreateRequest, watchResponseReader, type WatchRange, type WatchResponseMessage } from './watchMessages.ts';

const WATCH_PATH = '/etcdserverpb.Watch/Watch';
/** etcd's rpctypes.MetadataRequireLeaderKey / MetadataHasLeader. */
const REQUIRE_LEADER = { hasleader: 'true' } as const;
/**
 * A journal catching up receives responses of many MiB: let etcd stream them without waiting on each window.
 * Incoming bytes are read every 100 ms (batchedSocket.ts): most of the follower's CPU went into waking up for
 * each revision's response, and the journal publishes every few seconds anyway.
 */
const WINDOWS = { stream: 1 << 20, session: 2 << 20, readBatchMs: 100 } as const;
/** Above etcd's --grpc-keepalive-min-time (5 s); a silent member is noticed within this plus the ping deadline. */
const PING_EVERY_MS = 10_000;

export interface EtcdWatch {
  /** The member this watch reads from. */
  readonly endpoint: string;
  /** Asks for a progress notification (answered once everything up to etcd's current revision was sent). */
  requestProgress(): void;
  /**
   * Stops taking responses (HTTP/2 flow control then holds etcd back, which keeps the events meanwhile), or
   * starts again: for a reader whose consumer is behind.
   */
  pause(): void;
  resume(): void;
  /** Ends the watch and its connection; no further callbacks. */
  close(): void;
}

export interface WatchHandlers {
  onResponse(response: WatchResponseMessage): void;
  /** The stream ended (connection lost, member gone or leaderless, etcd ended it): called at most once, never after close(). */
  onEnd(error: Error): void;
}

/**
 * Watches `range` from `startRevision` (from now when left out), through the first of `endpoints` that
 * accepts a connection (and the credentials). Rejects, naming every endpoint's reason, when none does.
 */
export async function openWatch(
  access: EtcdAccess,
  endpoints: readonly string[],
  range: WatchRange,
  startRevision: number | undefined,
  handlers: WatchHandlers,
): Promise<EtcdWatch> {
  const request = watchCreateRequest(range, startRevision);
  const what = `watching etcd${startRevision !== undefined ? ` from revision ${startRevision}` : ''}`;
  const first = await openFirstGrpcSession(access, endpoints, WINDOWS, what);
  return startWatch(first, first.endpoint, request, handlers, Math.max(access.callTimeoutMs, 10_000));
}

function startWatch(
  { session, token }: GrpcSession,
  endpoint: string,
  createRequest: Buffer,
  handlers: WatchHandlers,
  pingTimeoutMs: number,
): EtcdWatch {
  let over = false;
  let created = false;
  const finish = (error: Error | undefined, report: boolean): void => {
    if (over) return;
    over = true;
    stopPinging();
    if (!session.destroyed) session.destroy();
    if (report) handlers.onEnd(withContext(`the watch on etcd at ${endpoint}`, error ?? new Error('etcd ended the stream')));
  };
  const reader = watchResponseReader((response) => {
    if (over) return;
    if (response.kind === 'created') created = true;
    handlers.onResponse(response);
  });
  const call = startGrpcCall(session, WATCH_PATH, token, reader, REQUIRE_LEADER);
  const stopPinging = keepPinging(session, PING_EVERY_MS, pingTimeoutMs, (error) => call.abort(error));
  call.done.then(
    () => finish(undefined, true),
    (error: unknown) => finish(error instanceof Error ? error : new Error(String(error)), true),
  );
  call.stream.write(grpcFrame(createRequest));
  return {
    endpoint,
    requestProgress: () => {
      if (!over && created) call.stream.write(grpcFrame(WATCH_PROGRESS_REQUEST));
    },
    pause: () => call.stream.pause(),
    resume: () => call.stream.resume(),
    close: () => finish(undefined, false),
  };
}
