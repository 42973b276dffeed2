/**
 * A store on an SFTP server, the production backend (one per DR site). ssh2-sftp-client owns the connection
 * lifecycle; file operations go to the ssh2 SFTP channel it returns, whose callbacks carry the SFTP status
 * code (2 = no such file), which the wrapper's string-formatted errors lose.
 *
 * Security: the host key must be pinned in known_hosts text (never trust-on-first-use), and only public-key
 * authentication is attempted. Performance: the TCP socket is created here with TCP_NODELAY, because ssh2
 * writes many small packets and Nagle's algorithm stalls each one (measured ~2 MB/s without, ~200 MB/s with;
 * the writes of one tick are coalesced, see coalesceWrites),
 * and writes are pipelined (several in flight) instead of one request per round trip.
 */
import net from 'node:net';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import ssh2, { type FileEntryWithStats, type SFTPWrapper, type ServerHostKeyAlgorithm, type Stats } from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { isUnsupportedSftpExtension, sshConnectFailure } from '../base/failures.ts';
import { InputError, NotFoundError, inContext, messageOf } from '../errors.ts';
import {
  HostKeyError,
  fingerprintSha256,
  hostKeyMatches,
  keyTypeOf,
  knownHostsName,
  pinnedKeyTypes,
  type HostKeyCheck,
} from './knownHosts.ts';
import type { Store, StoredFile } from './store.ts';
import { owningStream } from '../base/ownStream.ts';
import { storePathSegments, type StoreLocation } from './url.ts';
import { fillNewFile } from './newFile.ts';

export type SftpLocation = Extract<StoreLocation, { kind: 'sftp' }>;

export interface SftpStoreOptions {
  readonly location: SftpLocation;
  /** OpenSSH/PEM private key text. */
  readonly privateKey: string;
  readonly passphrase?: string;
  /** known_hosts text pinning the server's host key. */
  readonly knownHosts: string;
  /** Connect + handshake + auth deadline. */
  readonly readyTimeoutMs?: number;
  readonly keepaliveIntervalMs?: number;
}

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
// SFTP status codes (draft-ietf-secsh-filexfer-02).
const NO_SUCH_FILE = 2;
const OP_UNSUPPORTED = 8;
// Bytes of unacknowledged writes allowed in flight: enough to fill a WAN link's bandwidth-delay product
// without buffering much (the content stream is paused while the window is full).
const WRITE_WINDOW = 4 * 1024 * 1024;
/**
 * Bytes per SFTP read or write request. OpenSSH's sftp-server takes at most 255 KiB per request (its
 * limits@openssh.com reply); ssh2 splits a bigger request into parts it sends one after the other, each
 * waiting for the previous answer, which serialised 1 MiB writes into five round trips. 254 KiB is under
 * that limit and under ssh2's own cap for OpenSSH servers that do not announce limits (for servers that
 * are not OpenSSH, ssh2 caps requests at about 31 KiB and splits again: slower, still correct).
 */
const SFTP_PIECE = 254 * 1024;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

// known_hosts key type -> the host key algorithms that produce such a key, so we ask the server for a key
// we can check (an OpenSSH server holding several keys would otherwise offer one we did not pin).
const HOST_KEY_ALGORITHMS: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

interface Connection {
  readonly client: SftpClient;
  readonly sftp: SFTPWrapper;
}

export class SftpStore implements Store {
  readonly id: string;
  private readonly location: SftpLocation;
  private connection: Promise<Connection> | undefined;

  constructor(private readonly options: SftpStoreOptions) {
    this.location = options.location;
    this.id = options.location.id;
    if (options.knownHosts.trim() === '') {
      throw new InputError(
        `${this.id}: ssh-known-hosts is empty; SFTP stores need the server's host key pinned ` +
          `(get it with: ssh-keyscan -p ${this.location.port} ${this.location.host}, and verify it)`,
      );
    }
    if (options.privateKey.trim() === '') {
      throw new InputError(`${this.id}: ssh-private-key is empty; SFTP stores authenticate with a private key`);
    }
    const parsed = ssh2.utils.parseKey(options.privateKey, options.passphrase);
    if (parsed instanceof Error) {
      throw new InputError(`${this.id}: ssh-private-key cannot be used: ${parsed.message}`);
    }
  }

  async open(): Promise<void> {
    await inContext(`${this.id}: opening`, async () => {
      const { sftp } = await this.connect();
      const stats = await statOrUndefined(sftp, this.location.path);
      if (!stats) throw new Error(`directory ${this.location.path} does not exist on the server`);
      if (!isDirectory(stats)) throw new Error(`${this.location.path} on the server is not a directory`);
    });
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (!connection) return;
    const opened = await connection.catch(() => undefined);
    await opened?.client.end().catch(() => undefined);
  }

  write(folder: string, name: string, content: Readable): Promise<number> {
    return owningStream(content, () =>
      inContext(`${this.id}: uploading ${folder}/${name}`, async () => {
        const path = this.filePath(folder, name);
        const { sftp } = await this.connect();
        await this.makeFolder(sftp, folder);
        // 'wx' (O_EXCL): the name must be new. Opened before the try: a file that already existed is not ours to remove.
        const handle = await sftpCall<Buffer>((cb) => sftp.open(path, 'wx', { mode: FILE_MODE }, cb));
        // writeRemoteFile closes the handle; if the pipeline fails before calling it (content already failed), we do.
        let handed = false;
        return fillNewFile({
          copy: (counted) =>
            pipeline(content, (source: AsyncIterable<Buffer | string>) => {
              handed = true;
              return writeRemoteFile(sftp, handle, source, counted);
            }),
          storedSize: async () => (await sftpCall<Stats>((cb) => sftp.stat(path, cb))).size,
          holder: 'the server',
          where: path,
          release: async () => {
            if (!handed) await sftpCall<void>((cb) => sftp.close(handle, cb));
          },
          remove: () => sftpCall<void>((cb) => sftp.unlink(path, cb)),
        });
      }),
    );
  }

  async rename(folder: string, from: string, to: string, options?: { replace?: boolean }): Promise<void> {
    const fromPath = this.filePath(folder, from);
    const toPath = this.filePath(folder, to);
    const label = `${folder}/${to}`;
    await inContext(`${this.id}: ${options?.replace ? 'replacing' : 'committing'} ${label}`, async () => {
      const { sftp } = await this.connect();
      if (options?.replace) await replaceRename(sftp, fromPath, toPath);
      else await commitRename(sftp, fromPath, toPath, label);
    });
  }

  async download(folder: string, name: string): Promise<Readable> {
    return inContext(`${this.id}: downloading ${folder}/${name}`, async () => {
      const path = this.filePath(folder, name);
      const { sftp } = await this.connect();
      // stat first: a missing file becomes NotFoundError now, not an error event on a stream later.
      const stats = await statOrUndefined(sftp, path);
      if (!stats || !isRegularFile(stats)) throw new NotFoundError(`${folder}/${name} does not exist`);
      const handle = await sftpCall<Buffer>((cb) => sftp.open(path, 'r', cb));
      return readRemoteFile(sftp, handle, stats.size);
    });
  }

  async readFile(folder: string, name: string): Promise<Buffer> {
    const stream = await this.download(folder, name);
    return inContext(`${this.id}: reading ${folder}/${name}`, async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
  }

  async list(folder: string): Promise<StoredFile[]> {
    return inContext(`${this.id}: listing ${folder}`, async () => {
      const dir = this.folderPath(folder);
      const { sftp } = await this.connect();
      let entries;
      try {
        entries = await sftpCall<FileEntryWithStats[]>((cb) => sftp.readdir(dir, cb));
      } catch (error) {
        if (statusOf(error) === NO_SUCH_FILE) return [];
        throw error;
      }
      return entries
        .filter((entry) => (entry.attrs.mode & S_IFMT) === S_IFREG)
        .map((entry) => ({ name: entry.filename, size: entry.attrs.size, modifiedAt: new Date(entry.attrs.mtime * 1000) }));
    });
  }

  async remove(folder: string, name: string): Promise<void> {
    await inContext(`${this.id}: removing ${folder}/${name}`, async () => {
      const path = this.filePath(folder, name);
      const { sftp } = await this.connect();
      try {
        await sftpCall<void>((cb) => sftp.unlink(path, cb));
      } catch (error) {
        if (statusOf(error) !== NO_SUCH_FILE) throw error;
      }
    });
  }

  /** mkdir -p below the store root, each new level 0700; the root itself must exist (open() checks). */
  private async makeFolder(sftp: SFTPWrapper, folder: string): Promise<void> {
    let path = this.location.path;
    for (const segment of storePathSegments(folder)) {
      path = posix.join(path, segment);
      const stats = await statOrUndefined(sftp, path);
      if (stats) {
        if (!isDirectory(stats)) throw new Error(`${path} exists and is not a directory`);
        continue;
      }
      try {
        await sftpCall<void>((cb) => sftp.mkdir(path, { mode: DIR_MODE }, cb));
      } catch (error) {
        // Another run may have created it meanwhile; only fail if it is still not a directory.
        const again = await statOrUndefined(sftp, path);
        if (!again || !isDirectory(again)) throw new Error(`cannot create directory ${path}: ${messageOf(error)}`);
      }
    }
  }

  private folderPath(folder: string): string {
    return posix.join(this.location.path, ...storePathSegments(folder));
  }

  private filePath(folder: string, name: string): string {
    return posix.join(this.location.path, ...storePathSegments(folder, name));
  }

  /** The one connection of this store, opened on first use and again after it dropped. */
  private connect(): Promise<Connection> {
    if (!this.connection) {
      const attempt = this.openConnection();
      this.connection = attempt;
      attempt.catch(() => {
        if (this.connection === attempt) this.connection = undefined;
      });
    }
    return this.connection;
  }

  private openConnection(): Promise<Connection> {
    const { host, port, user } = this.location;
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    let refusal: HostKeyError | undefined;
    let current: Promise<Connection> | undefined;
    const forget = (): void => {
      // The connection died (server restart, network): the next operation reconnects.
      if (current && this.connection === current) this.connection = undefined;
    };
    const client = new SftpClient(this.id, { error: forget, end: forget, close: forget });
    // Our own socket so TCP_NODELAY is set before the first byte (see the header comment).
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    coalesceWrites(socket);
    socket.setKeepAlive(true, 15_000);
    const pinnedTypes = pinnedKeyTypes(this.options.knownHosts, host, port);
    const algorithms = pinnedTypes.flatMap((type) => HOST_KEY_ALGORITHMS[type] ?? []);

    current = (async () => {
      try {
        const sftp = await client.connect({
          sock: socket,
          host,
          port,
          username: user,
          privateKey: this.options.privateKey,
          passphrase: this.options.passphrase,
          authHandler: ['publickey'],
          hostVerifier: (key: Buffer): boolean => {
            const check = hostKeyMatches(this.options.knownHosts, host, port, key);
            if (!check.ok) refusal = hostKeyRefusal(check, knownHostsName(host, port), key, pinnedTypes);
            return check.ok;
          },
          ...(algorithms.length > 0 ? { algorithms: { serverHostKey: algorithms } } : {}),
          readyTimeout: this.options.readyTimeoutMs ?? 20_000,
          keepaliveInterval: this.options.keepaliveIntervalMs ?? 10_000,
          keepaliveCountMax: 3,
        });
        return { client, sftp };
      } catch (error) {
        socket.destroy();
        await client.end().catch(() => undefined);
        if (refusal) throw refusal;
        throw explainConnectError(error, where, user, pinnedTypes);
      }
    })();
    return current;
  }
}

/**
 * Without ssh2's native addon (never there in the bundle) each SSH packet reaches the socket as three or four
 * writes (length, ciphertext, tag), and with TCP_NODELAY each write is a syscall and a TCP segment of its own:
 * half the upload's CPU went there. Corking until the end of the tick sends everything ssh2 wrote meanwhile
 * as one writev, as Node's own HTTP client does.
 */
function coalesceWrites(socket: net.Socket): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = ((...args: unknown[]): boolean => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write(...args);
  }) as net.Socket['write'];
}

function hostKeyRefusal(
  check: Exclude<HostKeyCheck, { ok: true }>,
  name: string,
  key: Buffer,
  pinnedTypes: string[],
): HostKeyError {
  const presented = `${keyTypeOf(key)} ${fingerprintSha256(key)}`;
  switch (check.reason) {
    case 'unknown-host':
      return new HostKeyError(
        `host key verification failed for ${name}: the host is not in ssh-known-hosts (server presented ${presented}); ` +
          `refusing to connect to an unknown host. Verify the key and add a known_hosts line for ${name}`,
      );
    case 'key-mismatch':
      return new HostKeyError(
        `host key verification failed for ${name}: the server presented ${presented}, which does not match the ` +
          `${pinnedTypes.join(', ')} key pinned in ssh-known-hosts. The server was rebuilt or someone is ` +
          `intercepting the connection; refusing to connect`,
      );
    case 'revoked':
      return new HostKeyError(
        `host key verification failed for ${name}: the server presented ${presented}, which ssh-known-hosts marks @revoked`,
      );
  }
}

/** Turns ssh2's terse connection errors into a sentence; the original stays as `cause` (retry reads its code). */
function explainConnectError(error: unknown, where: string, user: string, pinnedTypes: string[]): Error {
  const message = messageOf(error);
  const code = (error as { code?: unknown }).code;
  let explained: string;
  switch (sshConnectFailure(error)) {
    case 'refused':
      explained = `cannot connect to ${where}: connection refused (is sshd running there?)`;
      break;
    case 'timeout':
      explained = `cannot connect to ${where}: timed out (${message})`;
      break;
    case 'unresolved':
      explained = `cannot resolve host of ${where} (${message})`;
      break;
    case 'authentication':
      explained = `authentication as ${user} on ${where} failed: the server did not accept ssh-private-key`;
      break;
    case 'host-key-type':
      return new HostKeyError(
        `host key verification failed for ${where}: the server offers none of the key types pinned in ssh-known-hosts ` +
          `(${pinnedTypes.join(', ')})`,
        { cause: error },
      );
    case 'other':
      explained = `cannot connect to ${where}: ${message}`;
  }
  const wrapped = new Error(explained, { cause: error });
  if (typeof code === 'string') Object.assign(wrapped, { code });
  return wrapped;
}

/**
 * Writes `source` through `handle` (a new remote file), keeping up to WRITE_WINDOW bytes of write requests in
 * flight. ssh2's WriteStream would wait a full round trip per chunk; this waits only when the window is full,
 * which is also the backpressure on `source`. Resolves after every write was acknowledged and the handle closed.
 */
async function writeRemoteFile(
  sftp: SFTPWrapper,
  handle: Buffer,
  source: AsyncIterable<Buffer | string>,
  onWritten: (bytes: number) => void,
): Promise<void> {
  // Settled writes remove themselves, so neither the promises nor their buffers pile up over a long upload.
  const inFlight = new Set<Promise<void>>();
  let inFlightBytes = 0;
  let failure: unknown;
  let position = 0;
  let windowOpen: (() => void) | undefined;
  try {
    for await (const chunk of source) {
      if (failure !== undefined) throw failure;
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (buffer.length === 0) continue;
      // One request per piece, all in flight at once (see SFTP_PIECE).
      for (let offset = 0; offset < buffer.length; offset += SFTP_PIECE) {
        const piece = buffer.subarray(offset, Math.min(buffer.length, offset + SFTP_PIECE));
        const at = position;
        position += piece.length;
        inFlightBytes += piece.length;
        const write: Promise<void> = sftpCall<void>((cb) => sftp.write(handle, piece, 0, piece.length, at, cb))
          .then(
            () => onWritten(piece.length),
            (error: unknown) => {
              failure ??= error;
            },
          )
          .finally(() => {
            inFlightBytes -= piece.length;
            inFlight.delete(write);
            windowOpen?.();
          });
        inFlight.add(write);
      }
      while (inFlightBytes > WRITE_WINDOW && failure === undefined) {
        await new Promise<void>((resolve) => (windowOpen = resolve));
        windowOpen = undefined;
      }
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
  } finally {
    // Let outstanding writes settle before closing the handle they use (they never reject: see above).
    await Promise.all(inFlight);
    await sftpCall<void>((cb) => sftp.close(handle, cb)).catch((error: unknown) => {
      failure ??= error;
    });
  }
  if (failure !== undefined) throw failure;
}

/** Read requests kept in flight by a download (of SFTP_PIECE bytes each, 4 MiB in all); see readRemoteFile. */
const READ_AHEAD = 16;

/**
 * Reads a remote file of known `size` as a stream, keeping READ_AHEAD requests of SFTP_PIECE bytes in
 * flight (in order). ssh2's ReadStream asks for one chunk per round trip: fine on loopback, but across
 * data centres (20 ms away) that would cap a restore at about 13 MB/s. Reading stops while the consumer
 * is not reading (backpressure); the handle is closed at the end, on error and on destroy.
 */
function readRemoteFile(sftp: SFTPWrapper, handle: Buffer, size: number): Readable {
  let requested = 0;
  const pending: Array<Promise<Buffer>> = [];
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    // Errors closing a handle we only read from lose nothing (e.g. the store was closed meanwhile).
    sftpCall<void>((cb) => sftp.close(handle, cb)).catch(() => undefined);
  };
  const fill = (): void => {
    while (pending.length < READ_AHEAD && requested < size) {
      const at = requested;
      const length = Math.min(SFTP_PIECE, size - at);
      requested += length;
      const request = readFully(sftp, handle, at, length);
      request.catch(() => undefined); // Observed in order by read(); avoid an unhandled rejection meanwhile.
      pending.push(request);
    }
  };
  return new Readable({
    highWaterMark: SFTP_PIECE,
    read() {
      fill();
      const next = pending.shift();
      if (!next) {
        close();
        this.push(null);
        return;
      }
      next.then(
        (chunk) => {
          this.push(chunk);
        },
        (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
      );
    },
    destroy(error, callback) {
      close();
      callback(error);
    },
  });
}

/** One read of `length` bytes at `position`, repeated for the rest when the server returns less. */
async function readFully(sftp: SFTPWrapper, handle: Buffer, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const bytes = await sftpCall<number>((cb) =>
      sftp.read(handle, buffer, done, length - done, position + done, (error, bytesRead) => cb(error, bytesRead)),
    );
    if (!bytes) throw new Error(`the file ended at ${position + done} bytes, before the ${position + length} it had when listed`);
    done += bytes;
  }
  return buffer;
}

/** Publishes without overwriting: SFTP's RENAME fails when the target exists (OpenSSH does link+unlink). */
async function commitRename(sftp: SFTPWrapper, from: string, to: string, label: string): Promise<void> {
  const exists = new Error(`${label} already exists; backups are never overwritten`);
  // Checked first for a clear message; the rename itself is the atomic guard.
  if (await statOrUndefined(sftp, to)) throw exists;
  try {
    await sftpCall<void>((cb) => sftp.rename(from, to, cb));
  } catch (error) {
    if (await statOrUndefined(sftp, to)) throw exists;
    if (statusOf(error) !== OP_UNSUPPORTED) throw error;
    // A server without RENAME (rare): fall back to POSIX rename after the existence check above.
    await sftpCall<void>((cb) => sftp.ext_openssh_rename(from, to, cb));
  }
}

/** Atomic replace via posix-rename@openssh.com; without that extension, remove then rename (a short gap). */
async function replaceRename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  try {
    await sftpCall<void>((cb) => sftp.ext_openssh_rename(from, to, cb));
    return;
  } catch (error) {
    // ssh2 throws synchronously (caught by sftpCall) when the server lacks the extension.
    if (!isUnsupportedSftpExtension(error)) throw error;
  }
  await sftpCall<void>((cb) => sftp.unlink(to, cb)).catch(() => undefined);
  await sftpCall<void>((cb) => sftp.rename(from, to, cb));
}

async function statOrUndefined(sftp: SFTPWrapper, path: string): Promise<Stats | undefined> {
  try {
    return await sftpCall<Stats>((cb) => sftp.stat(path, cb));
  } catch (error) {
    if (statusOf(error) === NO_SUCH_FILE) return undefined;
    throw error;
  }
}

function isDirectory(stats: Stats): boolean {
  return (stats.mode & S_IFMT) === S_IFDIR;
}

function isRegularFile(stats: Stats): boolean {
  return (stats.mode & S_IFMT) === S_IFREG;
}

function statusOf(error: unknown): unknown {
  return (error as { code?: unknown } | undefined)?.code;
}

/** Promisifies an ssh2 SFTP call; synchronous throws (e.g. "not connected") become rejections. */
function sftpCall<T>(start: (callback: (error: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      start((error, value) => (error ? reject(error) : resolve(value as T)));
    } catch (error) {
      reject(error);
    }
  });
}
