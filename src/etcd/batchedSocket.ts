/**
 * A TCP connection whose incoming bytes are taken from the kernel in batches, every `intervalMs`, instead
 * of the moment each packet lands: the transport under the journal's watch.
 *
 * Why: at a Kubernetes-like load etcd sends the watch one small response per revision, a few hundred a
 * second. Read as they come, each one wakes the follower's process (epoll, a read, node's callback scope,
 * the HTTP/2 and stream machinery, the microtask queue): measured, those wake-ups were most of the
 * follower's CPU, far more than decoding the events. Read in batches, the kernel holds the bytes meanwhile
 * (TCP flow control bounds what it holds) and one wake-up handles them all. The journal publishes every
 * few seconds, so a batch interval of a fraction of a second changes nothing a user sees.
 *
 * How: the socket's readable high-water mark is 0, so node stops reading from the kernel after every chunk;
 * a timer asks for the next read. Bytes written go out at once (pings, progress requests). While `eager` (a
 * handshake: TLS, HTTP/2 settings, authentication) every chunk is passed on as it arrives.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';

/** What node's TCP reads take from the kernel at most (libuv's read buffer): a shorter read found it drained. */
const KERNEL_READ_BYTES = 64 * 1024;

export class BatchedSocket extends Duplex {
  private readonly socket: net.Socket;
  private timer: NodeJS.Timeout | undefined;
  private eager = true;
  /** Bytes received since the current round of reading began. */
  private roundBytes = 0;

  /** Resolves once the TCP connection is up; rejects on its error or after `timeoutMs`. */
  static async connect(host: string, port: number, intervalMs: number, timeoutMs: number): Promise<BatchedSocket> {
    const socket = new BatchedSocket(host, port, intervalMs);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no TCP connection to ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      });
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return socket;
  }

  private constructor(host: string, port: number, private readonly intervalMs: number) {
    super({ allowHalfOpen: false });
    // High-water mark 0: once paused, node stops reading from the kernel after the next chunk.
    // (net.Socket passes stream options on to its Duplex; @types/node does not list them.)
    const streamOptions: net.SocketConstructorOpts & { readableHighWaterMark: number } = { readableHighWaterMark: 0 };
    this.socket = new net.Socket(streamOptions).setNoDelay(true).connect({ host, port });
    this.socket.on('connect', () => this.emit('connect'));
    this.socket.on('data', (chunk: Buffer) => this.received(chunk));
    this.socket.on('end', () => this.push(null));
    this.socket.on('error', (error) => this.destroy(error));
    this.socket.on('close', () => this.destroy());
  }

  /** Read by http2.connect (as on a net.Socket): it waits for 'connect' before it starts the HTTP/2 session. */
  get connecting(): boolean {
    return this.socket.connecting;
  }

  /** From now on, incoming bytes are read every `intervalMs` (call once the handshakes are done). */
  batch(): void {
    if (!this.eager || this.destroyed) return;
    this.eager = false;
    this.timer = setInterval(() => this.readRound(), this.intervalMs);
  }

  private readRound(): void {
    this.roundBytes = 0;
    this.socket.resume();
  }

  private received(chunk: Buffer): void {
    this.roundBytes += chunk.length;
    // A read shorter than node's read buffer found the kernel drained: this round is over. A round that
    // brought a lot (a journal catching up) is followed by the next one at once, not after the interval.
    if (!this.eager && chunk.length < KERNEL_READ_BYTES) {
      this.socket.pause();
      if (this.roundBytes >= KERNEL_READ_BYTES) setImmediate(() => this.readRound());
    }
    if (!this.push(chunk)) this.socket.pause();
  }

  override _read(): void {
    if (this.eager) this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.socket.write(chunk, done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.socket.end(done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    clearInterval(this.timer);
    this.socket.destroy();
    done(error);
  }
}
