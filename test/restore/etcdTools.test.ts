import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InputError, IntegrityError } from '../../src/errors.ts';
import { silentLog } from '../../src/base/log.ts';
import { expectedSha256, resolveEtcdTools, type EtcdToolsRequest, type ToolCache } from '../../src/restore/etcdTools.ts';
import { etcdBinaries } from '../harness/etcd.ts';
import { run } from '../harness/process.ts';
import { tempDir } from '../harness/tmp.ts';

const V35 = etcdBinaries('3.5');
const V34 = etcdBinaries('3.4');
const RELEASE = 'etcd-v3.5.30-linux-amd64';
const ARCHIVE = `${RELEASE}.tar.gz`;

/** A local release server: path -> body; everything else is a 404. Counts requests. */
class ReleaseServer {
  readonly files = new Map<string, Buffer>();
  readonly requests: string[] = [];
  private readonly server = http.createServer((req, res) => {
    this.requests.push(req.url ?? '');
    const body = this.files.get(req.url ?? '');
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  base = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/releases/download`;
  }
  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function recordingCache(restoreFrom?: string): ToolCache & { saved: { paths: string[]; key: string }[]; restored: string[] } {
  const saved: { paths: string[]; key: string }[] = [];
  const restored: string[] = [];
  return {
    saved,
    restored,
    async restore(paths, key) {
      restored.push(key);
      if (restoreFrom === undefined) return undefined;
      await cp(restoreFrom, paths[0]!, { recursive: true });
      return key;
    },
    async save(paths, key) {
      saved.push({ paths, key });
    },
  };
}

describe('resolveEtcdTools', () => {
  let work: string;
  let good: Buffer;
  let goodSum: string;
  let unpackedRelease: string;
  const server = new ReleaseServer();

  before(async () => {
    work = await tempDir('etcd-dr-tools-');
    // An archive laid out like etcd's releases, built from the real 3.5 binaries.
    unpackedRelease = path.join(work, 'src', RELEASE);
    await mkdir(unpackedRelease, { recursive: true });
    for (const name of ['etcd', 'etcdctl', 'etcdutl']) await copyFile(path.join(V35.binDir, name), path.join(unpackedRelease, name));
    const archive = path.join(work, ARCHIVE);
    await run('tar', ['-czf', archive, '-C', path.join(work, 'src'), RELEASE], { timeoutMs: 120_000 });
    good = await readFile(archive);
    goodSum = createHash('sha256').update(good).digest('hex');
    await server.start();
  });

  after(async () => {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  });

  function serve(version: string, archive: Buffer, sums: string): void {
    server.files.clear();
    server.files.set(`/releases/download/v${version}/etcd-v${version}-linux-amd64.tar.gz`, archive);
    server.files.set(`/releases/download/v${version}/SHA256SUMS`, Buffer.from(sums));
  }

  function request(toolsDir: string, overrides: Partial<EtcdToolsRequest> = {}): EtcdToolsRequest {
    return {
      version: '3.5.30',
      searchPath: '/nonexistent-bin',
      downloadBaseUrl: server.base,
      toolsDir,
      arch: 'x64',
      cache: recordingCache(),
      log: silentLog,
      ...overrides,
    };
  }

  it('downloads, verifies and unpacks a release, saves it to the cache, and reuses it without HTTP', async () => {
    serve('3.5.30', good, `${'0'.repeat(64)}  etcd-v3.5.30-darwin-amd64.zip\n${goodSum}  ${ARCHIVE}\n`);
    server.requests.length = 0;
    const toolsDir = path.join(work, 'tools-ok');
    const cache = recordingCache();
    const tools = await resolveEtcdTools(request(toolsDir, { cache }));
    const releaseDir = path.join(toolsDir, RELEASE);
    assert.deepEqual(tools, {
      version: '3.5.30',
      etcd: path.join(releaseDir, 'etcd'),
      etcdctl: path.join(releaseDir, 'etcdctl'),
      etcdutl: path.join(releaseDir, 'etcdutl'),
      binDir: releaseDir,
      source: 'download',
    });
    assert.deepEqual(server.requests, [`/releases/download/v3.5.30/SHA256SUMS`, `/releases/download/v3.5.30/${ARCHIVE}`]);
    assert.match((await run(tools.etcdutl!, ['version'])).stdout, /etcdutl version: 3\.5\.30/);
    assert.deepEqual(cache.saved, [{ paths: [releaseDir], key: RELEASE }]);
    // Only the release is left: no archive, no staging dir.
    assert.deepEqual(await readdir(toolsDir), [RELEASE]);

    server.requests.length = 0;
    const again = await resolveEtcdTools(request(toolsDir, { cache }));
    assert.equal(again.source, 'cache');
    assert.equal(again.binDir, releaseDir);
    assert.deepEqual(server.requests, []);
    assert.equal(cache.saved.length, 1);
  });

  it('refuses an archive whose sha256 does not match and leaves nothing behind', async () => {
    const wrong = 'f'.repeat(64);
    serve('3.5.30', good, `${wrong}  ${ARCHIVE}\n`);
    const toolsDir = path.join(work, 'tools-bad-sum');
    const cache = recordingCache();
    await assert.rejects(
      resolveEtcdTools(request(toolsDir, { cache })),
      (e: unknown) =>
        e instanceof IntegrityError &&
        e.message.startsWith('downloading etcd 3.5.30: sha256 of ') &&
        e.message.includes(`is ${goodSum}, but`) &&
        e.message.includes(`says ${wrong}`),
    );
    assert.deepEqual(await readdir(toolsDir), []);
    assert.deepEqual(cache.saved, []);
  });

  it('refuses an archive with no line in SHA256SUMS without downloading it', async () => {
    serve('3.5.30', good, `${goodSum}  etcd-v3.5.30-linux-arm64.tar.gz\n`);
    server.requests.length = 0;
    const toolsDir = path.join(work, 'tools-no-line');
    await assert.rejects(resolveEtcdTools(request(toolsDir)), (e: unknown) => e instanceof IntegrityError && /has no line for etcd-v3\.5\.30-linux-amd64\.tar\.gz/.test(e.message));
    assert.deepEqual(server.requests, ['/releases/download/v3.5.30/SHA256SUMS']);
    await assert.rejects(readdir(toolsDir), { code: 'ENOENT' });
  });

  it('reports a missing release clearly', async () => {
    server.files.clear();
    await assert.rejects(
      resolveEtcdTools(request(path.join(work, 'tools-404'), { version: '3.5.99' })),
      /^Error: downloading etcd 3\.5\.99: GET http:\/\/127\.0\.0\.1:\d+\/releases\/download\/v3\.5\.99\/SHA256SUMS: HTTP 404 Not Found \(is 3\.5\.99 an etcd release\?/,
    );
  });

  it('uses a release the cache restores, without HTTP', async () => {
    server.requests.length = 0;
    const cache = recordingCache(unpackedRelease);
    const tools = await resolveEtcdTools(request(path.join(work, 'tools-cache'), { cache }));
    assert.equal(tools.source, 'cache');
    assert.equal(tools.version, '3.5.30');
    assert.deepEqual(cache.restored, [RELEASE]);
    assert.deepEqual(server.requests, []);
  });

  it('validates version, arch and URL before any I/O', async () => {
    let fetched = 0;
    const fetchSpy: typeof fetch = async () => {
      fetched++;
      throw new Error('no I/O expected');
    };
    const toolsDir = path.join(work, 'tools-never');
    for (const version of ['v3.5.30', '3.5', '3.5.30-rc.0', '3.5.30\n', '../3.5.30']) {
      await assert.rejects(resolveEtcdTools(request(toolsDir, { version, fetch: fetchSpy })), (e: unknown) => e instanceof InputError && /etcd-version .* is not valid/.test(e.message));
    }
    await assert.rejects(resolveEtcdTools(request(toolsDir, { arch: 'mips', fetch: fetchSpy })), InputError);
    await assert.rejects(resolveEtcdTools(request(toolsDir, { downloadBaseUrl: 'file:///tmp', fetch: fetchSpy })), /etcd-download-url must be http\(s\)/);
    assert.equal(fetched, 0);
    await assert.rejects(readdir(toolsDir), { code: 'ENOENT' });
  });

  it('uses an explicit bin dir of the right version', async () => {
    const tools = await resolveEtcdTools(request(path.join(work, 'unused'), { binDir: V35.binDir, version: '3.5.1' }));
    assert.deepEqual(tools, { ...V35, version: '3.5.30', source: 'bin-dir' });
  });

  it('refuses an explicit bin dir of another version', async () => {
    await assert.rejects(
      resolveEtcdTools(request(path.join(work, 'unused'), { binDir: V35.binDir, version: '3.4.23' })),
      (e: unknown) => e instanceof InputError && e.message.includes(`${V35.binDir} has etcd 3.5.30, but etcd-version is 3.4.23`),
    );
    // 3.5 needs etcdutl, which the 3.4 dir lacks.
    await assert.rejects(
      resolveEtcdTools(request(path.join(work, 'unused'), { binDir: V34.binDir, version: '3.5.30' })),
      (e: unknown) => e instanceof InputError && e.message.includes('lacks executable etcdutl'),
    );
  });

  it('finds a matching version on PATH and skips others', async () => {
    const empty = path.join(work, 'empty-bin');
    await mkdir(empty, { recursive: true });
    const tools = await resolveEtcdTools(request(path.join(work, 'unused'), { searchPath: `relative:${empty}:${V35.binDir}:${V34.binDir}`, version: '3.4.23' }));
    assert.deepEqual(tools, { version: '3.4.23', etcd: '/usr/bin/etcd', etcdctl: '/usr/bin/etcdctl', binDir: '/usr/bin', source: 'path' });
  });

  it('falls through a PATH of the wrong version to the tools dir', async () => {
    serve('3.5.30', good, `${goodSum}  ${ARCHIVE}\n`);
    server.requests.length = 0;
    const tools = await resolveEtcdTools(request(path.join(work, 'tools-path-miss'), { searchPath: V34.binDir }));
    assert.equal(tools.source, 'download');
    assert.equal(server.requests.length, 2);
  });
});

describe('expectedSha256', () => {
  it('reads sha256sum output, binary-mode markers and paths', () => {
    const a = 'A'.repeat(64);
    assert.equal(expectedSha256(`${a}  x.tar.gz\n`, 'x.tar.gz'), 'a'.repeat(64));
    assert.equal(expectedSha256(`${a} *x.tar.gz\r\n`, 'x.tar.gz'), 'a'.repeat(64));
    assert.equal(expectedSha256(`${a}  ./release/x.tar.gz`, 'x.tar.gz'), 'a'.repeat(64));
    assert.equal(expectedSha256(`${a}  x.tar.gz.asc\nnot a line x.tar.gz`, 'x.tar.gz'), undefined);
  });
});
