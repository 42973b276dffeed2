import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';
import { run, sleep, tail, tcpProbe, terminate, track, waitExit } from './process.ts';

export interface ClientKey {
  privateKey: string;
  publicKey: string;
}

export interface SftpSite {
  readonly name: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** 'root' */
  readonly user: string;
  /** local directory that the store URL path points to (files land here) */
  readonly root: string;
  /** `sftp://root@127.0.0.1:<port><root>` */
  readonly url: string;
  /** OpenSSH ed25519 private key text accepted by this site */
  readonly privateKey: string;
  /** public key line matching privateKey */
  readonly publicKey: string;
  /** known_hosts line for `[127.0.0.1]:<port>` with this site's host key */
  readonly knownHosts: string;
  /** the sshd working dir (config, keys, log, and root below it) */
  readonly dir: string;
  readonly logFile: string;
  readonly running: boolean;
  /** stop sshd keeping keys and files */
  stop(): Promise<void>;
  /** start sshd again on the same port */
  start(): Promise<void>;
  /** stop and rm -rf */
  destroy(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';
const SSH_KEYGEN = 'ssh-keygen';

/** ssh-keygen -t ed25519 -N '' in dir (file id_ed25519). */
export async function makeClientKey(dir: string): Promise<ClientKey> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'id_ed25519');
  await rm(file, { force: true });
  await rm(`${file}.pub`, { force: true });
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'etcd-dr-test-client', '-f', file]);
  return { privateKey: await readFile(file, 'utf8'), publicKey: (await readFile(`${file}.pub`, 'utf8')).trim() };
}

/** The raw host key blob from a known_hosts line, to compare with what ssh2's hostVerifier receives. */
export function knownHostKey(knownHosts: string): Buffer {
  const line = knownHosts.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
  const b64 = line?.trim().split(/\s+/)[2];
  if (!b64) throw new Error(`bad known_hosts line: ${knownHosts}`);
  return Buffer.from(b64, 'base64');
}

class Site implements SftpSite {
  readonly host = '127.0.0.1' as const;
  readonly user = 'root';
  private child: ChildProcess | undefined;
  private lastExit: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly port: number,
    readonly dir: string,
    readonly root: string,
    readonly privateKey: string,
    readonly publicKey: string,
    readonly knownHosts: string,
    private readonly configFile: string,
    readonly logFile: string,
  ) {}

  get url(): string {
    return `sftp://${this.user}@${this.host}:${this.port}${this.root}`;
  }

  get running(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    await this.lastExit;
    // sshd refuses to start without its privilege separation directory.
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    const fd = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      // -D: stay in the foreground so we own the process; -e: log to stderr.
      child = spawn(SSHD, ['-D', '-e', '-f', this.configFile], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    track(child);
    this.child = child;
    this.lastExit = waitExit(child);
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      spawnError = e;
    });

    const deadline = Date.now() + 10_000;
    for (;;) {
      if (spawnError) throw new Error(`sshd failed to spawn: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`sshd for site ${this.name} exited (code ${child.exitCode})\n${await tail(this.logFile, 30)}`);
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`sshd for site ${this.name} not ready on port ${this.port} within 10 s\n${await tail(this.logFile, 30)}`);
      }
      try {
        const banner = await tcpProbe(this.port, true, 1000);
        if (banner.startsWith('SSH-')) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    // sshd -D forwards nothing to per-connection children on SIGTERM, but
    // those die with their client connections; the listener is what matters.
    if (c) await terminate(c, 5000);
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * The authorized_keys options of the three site accounts that docs/ documents for a security split (one Unix
 * account, one key per role; the restriction travels with the key, so every key reads the same 0600 files):
 *  - appendOnly: the nodes' key (backups and healing) may write and rename but not delete
 *    (sftp-server's REMOVE and RMDIR requests are denied; see `sftp-server -Q requests` for the names);
 *  - full: the retention key (prune), which may delete;
 *  - readOnly: the watchdog's key, which may only read (`sftp-server -R`).
 * `restrict` turns off forwarding, PTYs and the user's rc; the forced internal-sftp ignores what the client asks to run.
 */
export const SITE_KEY_OPTIONS = {
  appendOnly: 'restrict,command="internal-sftp -P remove,rmdir"',
  full: 'restrict,command="internal-sftp"',
  readOnly: 'restrict,command="internal-sftp -R"',
} as const;

/** A further key a site accepts, with its authorized_keys options (e.g. one of SITE_KEY_OPTIONS). */
export interface AuthorizedKey {
  readonly key: ClientKey;
  readonly options?: string;
}

/** The authorized_keys line of `key`: options first (when any), then the public key. */
export function authorizedKeyLine({ key, options }: AuthorizedKey): string {
  return options ? `${options} ${key.publicKey.trim()}` : key.publicKey.trim();
}

/**
 * Start a real OpenSSH sshd (as the current user, root) on a free 127.0.0.1
 * port, with its own host key, accepting only the given client key (a new
 * one is generated if none is given). Files written over SFTP land in `root`.
 * `clientKeyOptions` restricts that key in authorized_keys; `extraKeys` are accepted too (e.g. the
 * retention and watchdog keys of a split site, see SITE_KEY_OPTIONS).
 */
export async function startSftpSite(
  name: string,
  opts?: { clientKey?: ClientKey; clientKeyOptions?: string; extraKeys?: readonly AuthorizedKey[] },
): Promise<SftpSite> {
  const safe = name.replace(/[^A-Za-z0-9-]/g, '-');
  const dir = await mkdtemp(path.join(os.tmpdir(), `etcd-dr-sftp-${safe}-`));
  try {
    const root = path.join(dir, 'root');
    await mkdir(root, { recursive: true });
    const clientKey = opts?.clientKey ?? (await makeClientKey(path.join(dir, 'client')));

    const hostKey = path.join(dir, 'ssh_host_ed25519_key');
    await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', `etcd-dr-test-${safe}`, '-f', hostKey]);
    const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/);
    const port = await freePort();
    const knownHosts = `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}`;

    const authorizedKeys = path.join(dir, 'authorized_keys');
    const keyLines = [
      authorizedKeyLine({ key: clientKey, ...(opts?.clientKeyOptions ? { options: opts.clientKeyOptions } : {}) }),
      ...(opts?.extraKeys ?? []).map(authorizedKeyLine),
    ];
    await writeFile(authorizedKeys, `${keyLines.join('\n')}\n`, { mode: 0o600 });

    const configFile = path.join(dir, 'sshd_config');
    await writeFile(
      configFile,
      [
        `ListenAddress 127.0.0.1`,
        `Port ${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // The temp dirs are not laid out the way StrictModes expects.
        'StrictModes no',
        'PermitRootLogin prohibit-password',
        'Subsystem sftp internal-sftp',
        'UseDNS no',
        'PrintMotd no',
        // Tests may open several connections at once; the default (10:30:100)
        // starts refusing unauthenticated connections at random.
        'MaxStartups 100',
        'MaxSessions 100',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    const site = new Site(
      name,
      port,
      dir,
      root,
      clientKey.privateKey,
      clientKey.publicKey.trim(),
      knownHosts,
      configFile,
      path.join(dir, 'sshd.log'),
    );
    await site.start();
    return site;
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}


/** The keys of a site split into the three accounts of SITE_KEY_OPTIONS; `site.privateKey` is the nodes' key. */
export interface SplitSite {
  readonly site: SftpSite;
  /** Append-only (the nodes' key, also `site.privateKey`). */
  readonly nodeKey: ClientKey;
  /** May delete: for retention only. */
  readonly pruneKey: ClientKey;
  /** Read-only: for the watchdog, list and status. */
  readonly watchdogKey: ClientKey;
}

/**
 * A site whose authorized_keys gives each role its own key and rights (SITE_KEY_OPTIONS). Pass the same
 * keys to several sites to have them all accept one set of keys, as a real deployment would.
 */
export async function startSplitSftpSite(
  name: string,
  keys: { nodeKey: ClientKey; pruneKey: ClientKey; watchdogKey: ClientKey },
): Promise<SplitSite> {
  const site = await startSftpSite(name, {
    clientKey: keys.nodeKey,
    clientKeyOptions: SITE_KEY_OPTIONS.appendOnly,
    extraKeys: [
      { key: keys.pruneKey, options: SITE_KEY_OPTIONS.full },
      { key: keys.watchdogKey, options: SITE_KEY_OPTIONS.readOnly },
    ],
  });
  return { site, ...keys };
}
