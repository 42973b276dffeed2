/**
 * Reference for tests and the benchmark: etcd's Maintenance.Snapshot through etcd3's own gRPC client, as
 * the product first did (src/etcd/snapshotStream.ts replaced it with a faster HTTP/2 reader). etcd3's own `maintenance.snapshot()` passes the auth
 * metadata where the request belongs (so it fails once auth is enabled); we call the gRPC method through
 * the connection pool with the request and metadata in their right places.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { Etcd3 } from 'etcd3';
import type { SnapshotStream } from '../../src/etcd/snapshotStream.ts';

/** grpc-js call metadata (auth token); opaque to us. */
type Metadata = object;

interface SnapshotChunk {
  readonly blob: Buffer;
  readonly remaining_bytes: string;
}

/** The one method we call on the raw grpc client: a server-streaming RPC yielding SnapshotResponse messages. */
interface MaintenanceGrpc {
  snapshot(request: Record<string, never>, metadata: Metadata, options: object): Readable & { cancel(): void };
}

/** The pool is internal to etcd3; this names the single method of it we use. */
interface PoolOwner {
  readonly pool: {
    withConnection<T>(
      service: 'Maintenance',
      fn: (connection: { client: MaintenanceGrpc; metadata: Metadata }) => T | Promise<T>,
    ): Promise<T>;
  };
}

/** Opens the snapshot stream on the single member `client` is bound to. */
export async function openSnapshotWithEtcd3(client: Etcd3): Promise<SnapshotStream> {
  const call = await (client as unknown as PoolOwner).pool.withConnection('Maintenance', ({ client: grpc, metadata }) =>
    grpc.snapshot({}, metadata, {}),
  );
  // Chunks are ~32 KiB; a few MiB of buffer lets etcd run ahead of the spool's disk writes.
  const bytes = new PassThrough({ highWaterMark: 4 << 20 });
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  call.on('data', (chunk: SnapshotChunk) => {
    markStarted();
    if (!bytes.write(chunk.blob)) {
      call.pause();
      bytes.once('drain', () => call.resume());
    }
  });
  call.on('end', () => bytes.end());
  call.on('error', (error: Error) => bytes.destroy(error));
  bytes.on('close', () => {
    if (!bytes.writableFinished) call.cancel();
  });
  return { bytes, started, cancel: () => call.cancel() };
}
