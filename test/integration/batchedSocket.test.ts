/**
 * The transport under the journal's watch (src/etcd/batchedSocket.ts), over real loopback TCP: once batching,
 * a trickle of small messages reaches the reader in a few chunks instead of one per message, a backlog is
 * still read at full speed, writes leave at once, and the connection's end and errors come through.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchedSocket } from '../../src/etcd/batchedSocket.ts';
import { until } from '../harness/until.ts';

interface Server {
  readonly port: number;
  readonly accepted: Promise<net.Socket>;
  close(): void;
}

async function listen(): Promise<Server> {
  const server = net.createServer();
  const accepted = once(server, 'connection').then(([socket]) => socket as net.Socket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, accepted, close: () => server.close() };
}

function collect(socket: BatchedSocket): { chunks: Buffer[]; bytes: () => number } {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { chunks, bytes: () => chunks.reduce((n, c) => n + c.length, 0) };
}

describe('a batched socket', () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  /** A batched socket reading every `intervalMs`, connected to a loopback peer; both go at the end. */
  async function connected(intervalMs: number): Promise<{ socket: BatchedSocket; peer: net.Socket }> {
    const server = await listen();
    cleanups.push(server.close);
    const socket = await BatchedSocket.connect('127.0.0.1', server.port, intervalMs, 5000);
    cleanups.push(() => socket.destroy());
    return { socket, peer: await server.accepted };
  }

  it('before batching passes each message on as it arrives; once batching, a trickle of 100 messages arrives in a few chunks, every byte in order', async () => {
    const { socket, peer } = await connected(200);
    peer.setNoDelay(true);
    const received = collect(socket);

    peer.write('hello');
    await until('the eager message', () => received.bytes() === 5);

    socket.batch();
    received.chunks.length = 0;
    const sent: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const message = Buffer.from(`message ${i};`);
      sent.push(message);
      peer.write(message);
      await sleep(5);
    }
    const total = Buffer.concat(sent);
    await until('every message', () => received.bytes() === total.length);
    assert.deepEqual(Buffer.concat(received.chunks), total);
    // Read every 200 ms over about a second: a handful of chunks (not 100), whatever the scheduling.
    assert.ok(received.chunks.length <= 30, `${received.chunks.length} chunks for 100 messages`);
  });

  it('reads a backlog far larger than one read at full speed, not one read per interval', async () => {
    // At one read of at most 64 KiB per 500 ms interval, 16 MiB would take over two minutes.
    const { socket, peer } = await connected(500);
    const received = collect(socket);
    socket.batch();
    const backlog = Buffer.alloc(16 << 20, 7);
    peer.write(backlog);
    await until('the 16 MiB backlog', () => received.bytes() === backlog.length);
  });

  it('sends what is written at once, while batching', async () => {
    const { socket, peer } = await connected(3_600_000);
    socket.batch();
    let got = '';
    peer.on('data', (d: Buffer) => (got += d.toString()));
    socket.write('ping');
    await until('the write', () => got === 'ping');
  });

  it('ends when the peer closes, and is destroyed with the connection', async () => {
    const { socket, peer } = await connected(100);
    socket.batch();
    socket.resume();
    const closed = once(socket, 'close');
    peer.end('bye');
    await closed;
    assert.ok(socket.destroyed);
  });

  it('rejects a refused connection with the reason', async () => {
    const server = await listen();
    const port = server.port;
    server.close();
    await assert.rejects(BatchedSocket.connect('127.0.0.1', port, 100, 5000), /ECONNREFUSED/);
  });
});
