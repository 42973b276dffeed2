/**
 * The etcd binaries (etcd, etcdctl, and etcdutl from 3.5) a restore or drill needs, matching the cluster's
 * version. On kubeadm nodes etcd runs in a container and the host has none, so after an explicit dir and
 * PATH we fall back to our tools dir, the Actions cache, and finally the upstream release archive, which is
 * only used after its sha256 matches the release's SHA256SUMS.
 *
 * The tools dir holds only verified, fully extracted releases: archives are fetched and unpacked in a
 * staging dir and renamed into place at the end, so a crash or a bad checksum leaves nothing behind that a
 * later run could mistake for a good release.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { InputError, IntegrityError, inContext, messageOf } from '../errors.ts';
import { openFileSink } from '../base/fileSink.ts';
import { owningStream } from '../base/ownStream.ts';
import { Inputs } from '../config/names.ts';
import type { Log } from '../base/log.ts';

export const DEFAULT_ETCD_DOWNLOAD_URL = 'https://github.com/etcd-io/etcd/releases/download';

export interface EtcdTools {
  /** As reported by `etcd --version`, e.g. 3.5.30. */
  version: string;
  etcd: string;
  etcdctl: string;
  /** 3.5+ only (3.4 does offline work with etcdctl). */
  etcdutl?: string;
  binDir: string;
  source: 'path' | 'bin-dir' | 'cache' | 'download';
}

/** @actions/cache-shaped; the action passes an adapter over restoreCache/saveCache, the CLI a no-op. */
export interface ToolCache {
  restore(paths: string[], key: string): Promise<string | undefined>;
  save(paths: string[], key: string): Promise<void>;
}

export interface EtcdToolsRequest {
  version: string;
  binDir?: string;
  /** PATH-style list; default process.env.PATH. */
  searchPath?: string;
  downloadBaseUrl: string;
  /** Where releases are unpacked, e.g. RUNNER_TOOL_CACHE/etcd-dr or ~/.cache/etcd-dr. */
  toolsDir: string;
  /** process.arch (x64, arm64, ...) or an etcd release arch (amd64, ...); default process.arch. */
  arch?: string;
  cache: ToolCache;
  fetch?: typeof fetch;
  log: Log;
}

const VERSION = /^\d+\.\d+\.\d+$/;
// process.arch -> the arch in etcd's release names; release names map to themselves.
const ARCHES: Record<string, string> = {
  x64: 'amd64',
  amd64: 'amd64',
  arm64: 'arm64',
  ppc64: 'ppc64le',
  ppc64le: 'ppc64le',
  s390x: 's390x',
};
const SUMS_TIMEOUT_MS = 60_000;
const ARCHIVE_TIMEOUT_MS = 10 * 60_000;

interface Wanted {
  version: string;
  major: number;
  minor: number;
  needsEtcdutl: boolean;
}

function parseWanted(version: string): Wanted {
  if (!VERSION.test(version)) {
    throw new InputError(`${Inputs.EtcdVersion} ${JSON.stringify(version)} is not valid: use MAJOR.MINOR.PATCH, e.g. 3.5.17 (no leading v)`);
  }
  const [major, minor] = version.split('.').map(Number) as [number, number];
  return { version, major, minor, needsEtcdutl: major > 3 || (major === 3 && minor >= 5) };
}

function releaseArch(arch: string): string {
  const mapped = ARCHES[arch];
  if (mapped === undefined) {
    throw new InputError(`no etcd release for CPU architecture ${JSON.stringify(arch)} (known: ${Object.keys(ARCHES).join(', ')})`);
  }
  return mapped;
}

function checkBaseUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new InputError(`${Inputs.EtcdDownloadUrl} ${JSON.stringify(base)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InputError(`${Inputs.EtcdDownloadUrl} must be http(s), got ${JSON.stringify(base)}`);
  }
  return url;
}

export async function resolveEtcdTools(request: EtcdToolsRequest): Promise<EtcdTools> {
  // Everything user-given is checked before the first file is touched.
  const wanted = parseWanted(request.version);
  const arch = releaseArch(request.arch ?? process.arch);
  const base = checkBaseUrl(request.downloadBaseUrl);
  const { log } = request;

  if (request.binDir !== undefined && request.binDir !== '') {
    return fromBinDir(path.resolve(request.binDir), wanted);
  }

  const onPath = await fromSearchPath(request.searchPath ?? process.env.PATH ?? '', wanted, log);
  if (onPath) return onPath;

  const release = `etcd-v${wanted.version}-linux-${arch}`;
  const releaseDir = path.join(path.resolve(request.toolsDir), release);
  const cached = await fromReleaseDir(releaseDir, wanted, log, request.cache, release);
  if (cached) return cached;

  return inContext(`downloading etcd ${wanted.version}`, () => download(request, wanted, base, release, releaseDir));
}

/** The binary names a release needs in one dir. */
function names(wanted: Wanted): string[] {
  return wanted.needsEtcdutl ? ['etcd', 'etcdctl', 'etcdutl'] : ['etcd', 'etcdctl'];
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function missingIn(dir: string, wanted: Wanted): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names(wanted)) if (!(await isExecutable(path.join(dir, name)))) missing.push(name);
  return missing;
}

function tools(dir: string, version: string, wanted: Wanted, source: EtcdTools['source']): EtcdTools {
  return {
    version,
    etcd: path.join(dir, 'etcd'),
    etcdctl: path.join(dir, 'etcdctl'),
    ...(wanted.needsEtcdutl ? { etcdutl: path.join(dir, 'etcdutl') } : {}),
    binDir: dir,
    source,
  };
}

/** `etcd --version` -> "3.5.30". */
async function etcdVersion(etcd: string): Promise<string> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(etcd, ['--version'], { timeout: 30_000, encoding: 'utf8' }, (error, out, err) => {
      if (error) reject(new Error(`${etcd} --version failed: ${error.message.split('\n')[0]} ${err.trim()}`.trim(), { cause: error }));
      else resolve(out);
    });
  });
  const m = /etcd Version:\s*(\d+\.\d+\.\d+)/.exec(stdout);
  if (!m?.[1]) throw new Error(`${etcd} --version printed no version: ${JSON.stringify(stdout.slice(0, 200))}`);
  return m[1];
}

function sameMinor(actual: string, wanted: Wanted): boolean {
  const [major, minor] = actual.split('.').map(Number);
  return major === wanted.major && minor === wanted.minor;
}

async function fromBinDir(dir: string, wanted: Wanted): Promise<EtcdTools> {
  const missing = await missingIn(dir, wanted);
  if (missing.length > 0) {
    throw new InputError(`${Inputs.EtcdBinDir} ${dir} lacks executable ${missing.join(', ')} (etcd ${wanted.version} needs ${names(wanted).join(', ')})`);
  }
  const actual = await inContext(`checking the etcd version in ${Inputs.EtcdBinDir} ${dir}`, () => etcdVersion(path.join(dir, 'etcd')));
  if (!sameMinor(actual, wanted)) {
    throw new InputError(
      `${Inputs.EtcdBinDir} ${dir} has etcd ${actual}, but ${Inputs.EtcdVersion} is ${wanted.version}: ` +
        'restore with the cluster\'s own major.minor version',
    );
  }
  return tools(dir, actual, wanted, 'bin-dir');
}

async function fromSearchPath(searchPath: string, wanted: Wanted, log: Log): Promise<EtcdTools | undefined> {
  const seen = new Set<string>();
  for (const entry of searchPath.split(path.delimiter)) {
    // Relative entries ('.', '') would make the result depend on the working directory.
    if (!path.isAbsolute(entry)) continue;
    const dir = path.normalize(entry);
    if (seen.has(dir)) continue;
    seen.add(dir);
    if (!(await isExecutable(path.join(dir, 'etcd')))) continue;
    const missing = await missingIn(dir, wanted);
    if (missing.length > 0) {
      log.info(`Not using etcd in ${dir}: no ${missing.join(', ')} next to it`);
      continue;
    }
    let actual: string;
    try {
      actual = await etcdVersion(path.join(dir, 'etcd'));
    } catch (error) {
      log.info(`Not using etcd in ${dir}: ${messageOf(error)}`);
      continue;
    }
    if (!sameMinor(actual, wanted)) {
      log.info(`Not using etcd ${actual} in ${dir}: ${wanted.version} wanted`);
      continue;
    }
    log.info(`Using etcd ${actual} from PATH (${dir})`);
    return tools(dir, actual, wanted, 'path');
  }
  return undefined;
}

/** A release already unpacked in the tools dir, else one the cache restores there. */
async function fromReleaseDir(dir: string, wanted: Wanted, log: Log, cache: ToolCache, key: string): Promise<EtcdTools | undefined> {
  const local = await usableRelease(dir, wanted, log);
  if (local) {
    log.info(`Using etcd ${wanted.version} from ${dir}`);
    return local;
  }
  let hit: string | undefined;
  try {
    hit = await cache.restore([dir], key);
  } catch (error) {
    // The cache is an optimisation: a broken one must not stop a restore.
    log.warning(`Restoring ${key} from the cache failed, downloading instead: ${messageOf(error)}`);
    return undefined;
  }
  if (hit === undefined) return undefined;
  const restored = await usableRelease(dir, wanted, log);
  if (restored) log.info(`Using etcd ${wanted.version} restored from the cache (${key})`);
  return restored;
}

/** The release in `dir` if complete and exactly the wanted version; a broken one is removed for a re-download. */
async function usableRelease(dir: string, wanted: Wanted, log: Log): Promise<EtcdTools | undefined> {
  const missing = await missingIn(dir, wanted);
  if (missing.length === names(wanted).length) return undefined;
  let problem: string;
  if (missing.length > 0) {
    problem = `lacks ${missing.join(', ')}`;
  } else {
    try {
      const actual = await etcdVersion(path.join(dir, 'etcd'));
      if (actual === wanted.version) return tools(dir, actual, wanted, 'cache');
      problem = `holds etcd ${actual}`;
    } catch (error) {
      problem = messageOf(error);
    }
  }
  log.warning(`Ignoring ${dir} (${problem}); downloading etcd ${wanted.version} again`);
  await rm(dir, { recursive: true, force: true });
  return undefined;
}

function fetchOf(request: EtcdToolsRequest): typeof fetch {
  return request.fetch ?? globalThis.fetch;
}

async function get(request: EtcdToolsRequest, url: string, timeoutMs: number): Promise<Response> {
  let response: Response;
  try {
    response = await fetchOf(request)(url, { redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new Error(`GET ${url}: ${messageOf(error)}${error instanceof Error && error.cause ? ` (${messageOf(error.cause)})` : ''}`, { cause: error });
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    const hint = response.status === 404 ? ` (is ${request.version} an etcd release? set ${Inputs.EtcdDownloadUrl} for a mirror)` : '';
    throw new Error(`GET ${url}: HTTP ${response.status} ${response.statusText}${hint}`);
  }
  return response;
}

/** The expected sha256 of `file` from a SHA256SUMS text (`<hex>  <name>` or `<hex> *<name>` per line). */
export function expectedSha256(sums: string, file: string): string | undefined {
  for (const line of sums.split('\n')) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(\S+)\s*$/.exec(line.trim());
    if (m?.[1] && m[2] && path.basename(m[2]) === file) return m[1].toLowerCase();
  }
  return undefined;
}

async function download(request: EtcdToolsRequest, wanted: Wanted, base: URL, release: string, releaseDir: string): Promise<EtcdTools> {
  const { log } = request;
  const prefix = `${base.href.replace(/\/+$/, '')}/v${wanted.version}`;
  const archiveName = `${release}.tar.gz`;
  const archiveUrl = `${prefix}/${archiveName}`;
  const sumsUrl = `${prefix}/SHA256SUMS`;

  // The checksum comes first: an archive without a matching line is never even written to disk.
  const sums = await (await get(request, sumsUrl, SUMS_TIMEOUT_MS)).text();
  const expected = expectedSha256(sums, archiveName);
  if (expected === undefined) {
    throw new IntegrityError(`${sumsUrl} has no line for ${archiveName}; refusing an archive that cannot be verified`);
  }

  const toolsDir = path.dirname(releaseDir);
  await mkdir(toolsDir, { recursive: true });
  const staging = path.join(toolsDir, `.${release}.${randomBytes(6).toString('hex')}.partial`);
  await mkdir(staging, { mode: 0o700 });
  try {
    const archive = path.join(staging, archiveName);
    log.info(`Downloading ${archiveUrl}`);
    const actual = await saveHashed(await get(request, archiveUrl, ARCHIVE_TIMEOUT_MS), archive);
    if (actual !== expected) {
      throw new IntegrityError(`sha256 of ${archiveUrl} is ${actual}, but ${sumsUrl} says ${expected}; refusing it`);
    }
    await untar(archive, staging);
    const unpacked = path.join(staging, release);
    const missing = await missingIn(unpacked, wanted);
    if (missing.length > 0) throw new Error(`${archiveName} has no ${release}/${missing.join(`, ${release}/`)}`);
    const actualVersion = await etcdVersion(path.join(unpacked, 'etcd'));
    if (actualVersion !== wanted.version) throw new Error(`${archiveName} contains etcd ${actualVersion}, not ${wanted.version}`);
    await moveIntoPlace(unpacked, releaseDir, wanted, log);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }

  try {
    await request.cache.save([releaseDir], release);
  } catch (error) {
    log.warning(`Saving ${release} to the cache failed (the next run downloads it again): ${messageOf(error)}`);
  }
  log.info(`Using etcd ${wanted.version} downloaded to ${releaseDir}`);
  return tools(releaseDir, wanted.version, wanted, 'download');
}

/** Streams the body to `file`, hashing on the way; returns the hex sha256. */
async function saveHashed(response: Response, file: string): Promise<string> {
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const body = Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
  return owningStream(body, async () => {
    await pipeline(body, tap, await openFileSink(file, { flags: 'wx', mode: 0o600 }));
    return hash.digest('hex');
  });
}

function untar(archive: string, into: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // --no-same-owner: as root, tar would otherwise chown files to the uid/gid recorded in the archive.
    execFile('tar', ['-xzf', archive, '-C', into, '--no-same-owner'], { timeout: 5 * 60_000, encoding: 'utf8' }, (error, _out, stderr) => {
      if (error) reject(new Error(`tar -xzf ${archive} failed: ${error.message.split('\n')[0]} ${stderr.trim()}`.trim(), { cause: error }));
      else resolve();
    });
  });
}

/** Renames the verified release into the tools dir; a concurrent run that got there first wins. */
async function moveIntoPlace(unpacked: string, releaseDir: string, wanted: Wanted, log: Log): Promise<void> {
  try {
    await rename(unpacked, releaseDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await missingIn(releaseDir, wanted)).length === 0) {
      log.info(`${releaseDir} appeared while downloading (another run?); using it`);
      return;
    }
    throw error;
  }
}
