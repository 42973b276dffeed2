/**
 * The one test suite every Store backend must pass: each contract written in src/stores/store.ts, checked
 * against a real backend. Both backends write to this machine, so `rootDir` lets the suite look at the
 * files directly (modes, leftovers) instead of trusting the store's own view.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { NotFoundError } from '../../src/errors.ts';
import { TEMP_PREFIX } from '../../src/repository/layout.ts';
import { abortStaged, publishObject, stageObject, writeSmallFile } from '../../src/repository/publish.ts';
import type { Store } from '../../src/stores/store.ts';

export interface StoreUnderTest {
  readonly store: Store;
  /** The local directory the store's root maps to. */
  readonly rootDir: string;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Deterministic pseudo-random bytes (an AES-CTR keystream) made on the fly, so a big upload never sits in memory. */
function generated(totalBytes: number, seed: number): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  const key = createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(256 * 1024);
  let produced = 0;
  const stream = new Readable({
    read() {
      if (produced >= totalBytes) {
        this.push(null);
        return;
      }
      const size = Math.min(zeros.length, totalBytes - produced);
      const out = cipher.update(zeros.subarray(0, size));
      hash.update(out);
      produced += size;
      this.push(out);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

/** A stream that yields some bytes and then fails, like a snapshot source dying mid-transfer. */
function failingStream(): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent < 3) {
        sent++;
        this.push(randomBytes(64 * 1024));
      } else {
        this.destroy(new Error('source broke'));
      }
    },
  });
}

async function localNames(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).sort();
}

/**
 * The repository's upload protocol over a backend, as the tests below drive it: write under a temporary
 * name the repository chose, then rename to the final name (commit) or remove (abort).
 */
async function upload(store: Store, folder: string, name: string, content: Readable) {
  const staged = await stageObject(store, folder, name, content);
  return {
    size: staged.size,
    commit: () => store.rename(folder, staged.tempName, name),
    abort: () => abortStaged(staged),
  };
}

const writeFile = (store: Store, folder: string, name: string, data: Buffer, options?: { replace?: boolean }) =>
  writeSmallFile(store, folder, name, data, options);

export function runStoreConformance(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`Store conformance: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: Store;
    let folderCounter = 0;
    // Each test gets its own folder so they cannot see each other's files.
    const freshFolder = (): string => `cluster-${++folderCounter}`;

    before(async () => {
      sut = await makeStore();
      store = sut.store;
      await store.open();
    });
    after(async () => {
      await store?.close();
      await sut?.cleanup();
    });

    it('has an id without credentials', () => {
      assert.match(store.id, /^(sftp|file):\/\//);
      assert.doesNotMatch(store.id, /:[^/@]*@/, 'no password in the id');
    });

    it('upload then commit makes the file visible with the same bytes', async () => {
      const folder = freshFolder();
      const data = randomBytes(300_000);
      const pending = await upload(store, folder, 'a.db', Readable.from([data]));
      assert.equal(pending.size, data.length);
      await pending.commit();
      assert.deepEqual(await store.readFile(folder, 'a.db'), data);
      assert.deepEqual(await readAll(await store.download(folder, 'a.db')), data);
      const listed = await store.list(folder);
      assert.deepEqual(
        listed.map((f) => [f.name, f.size]),
        [['a.db', data.length]],
        'only the final file remains after commit',
      );
      assert.ok(listed[0]!.modifiedAt instanceof Date && Math.abs(listed[0]!.modifiedAt.getTime() - Date.now()) < 60_000);
    });

    it('shows nothing under the final name before commit, only a temporary file', async () => {
      const folder = freshFolder();
      const pending = await upload(store, folder, 'b.db', Readable.from([Buffer.from('hello')]));
      const listed = await store.list(folder);
      assert.equal(listed.length, 1);
      assert.ok(listed[0]!.name.startsWith(`${TEMP_PREFIX}b.db`), `temporary name, got ${listed[0]!.name}`);
      await assert.rejects(store.readFile(folder, 'b.db'), NotFoundError);
      await pending.commit();
      assert.deepEqual(
        (await store.list(folder)).map((f) => f.name),
        ['b.db'],
      );
    });

    it('abort removes the temporary file and never throws', async () => {
      const folder = freshFolder();
      const pending = await upload(store, folder, 'c.db', Readable.from([Buffer.from('data')]));
      await pending.abort();
      assert.deepEqual(await store.list(folder), []);
      await pending.abort(); // twice: still fine
    });

    it('commit refuses to overwrite an existing file and keeps both intact', async () => {
      const folder = freshFolder();
      await writeFile(store, folder, 'd.db', Buffer.from('first'));
      const pending = await upload(store, folder, 'd.db', Readable.from([Buffer.from('second')]));
      await assert.rejects(pending.commit(), /exists/);
      assert.equal((await store.readFile(folder, 'd.db')).toString(), 'first');
      await pending.abort();
      assert.deepEqual(
        (await store.list(folder)).map((f) => f.name),
        ['d.db'],
      );
      await assert.rejects(writeFile(store, folder, 'd.db', Buffer.from('third')), /exists/);
      assert.equal((await store.readFile(folder, 'd.db')).toString(), 'first');
      assert.deepEqual((await store.list(folder)).map((f) => f.name), ['d.db'], 'failed writeFile leaves no temp');
    });

    it('a failing content stream rejects the upload and leaves no file', async () => {
      const folder = freshFolder();
      await assert.rejects(upload(store, folder, 'e.db', failingStream()), /source broke/);
      assert.deepEqual(await store.list(folder), []);
      assert.deepEqual(await localNames(join(sut.rootDir, folder)), []);
    });

    it('a content stream that failed before the upload started rejects it and leaves no file', async () => {
      // Several rounds: a clean-up racing the temporary file's creation left it behind only now and then.
      for (let round = 0; round < 20; round += 1) {
        const folder = freshFolder();
        const broken = new Readable({ read() {} });
        broken.destroy(new Error('failed early'));
        await assert.rejects(upload(store, folder, 'e2.db', broken), /failed early/);
        assert.deepEqual(await store.list(folder), [], `round ${round}`);
      }
    });

    it('an upload that fails before reading its content destroys the content stream', async () => {
      const content = new Readable({ read() {} });
      await assert.rejects(upload(store, '../escape', 'x.db', content));
      assert.equal(content.destroyed, true);
    });

    it('writes exactly the name it is given, also while the write is in flight, and never overwrites', async () => {
      const folder = freshFolder();
      // A content stream that stops half way until the test has looked at the folder.
      let resume: () => void = () => {};
      let written: Promise<number> = Promise.resolve(0);
      const halfWay = new Promise<void>((resolve) => {
        let sent = 0;
        const content = new Readable({
          read() {
            if (sent === 2) {
              resolve();
              resume = () => this.push(null);
              return;
            }
            sent++;
            this.push(randomBytes(64 * 1024));
          },
        });
        written = store.write(folder, 'given.name', content);
      });
      await halfWay;
      const during = await localNames(join(sut.rootDir, folder));
      assert.ok(during.every((n) => n === 'given.name'), `only the given name while writing, got ${during.join(', ')}`);
      resume();
      assert.equal(await written, 128 * 1024);
      assert.deepEqual(await localNames(join(sut.rootDir, folder)), ['given.name']);
      await assert.rejects(store.write(folder, 'given.name', Readable.from([Buffer.from('again')])));
      assert.equal((await store.readFile(folder, 'given.name')).length, 128 * 1024, 'the existing file is untouched');
    });

    it('renames exactly from and to the names it is given, and refuses to overwrite unless replacing', async () => {
      const folder = freshFolder();
      await store.write(folder, 'from.name', Readable.from([Buffer.from('one')]));
      await store.rename(folder, 'from.name', 'to.name');
      assert.deepEqual(await localNames(join(sut.rootDir, folder)), ['to.name']);
      await store.write(folder, 'other.name', Readable.from([Buffer.from('two')]));
      await assert.rejects(store.rename(folder, 'other.name', 'to.name'), /already exists/);
      assert.deepEqual(await localNames(join(sut.rootDir, folder)), ['other.name', 'to.name']);
      assert.equal((await store.readFile(folder, 'to.name')).toString(), 'one');
      await store.rename(folder, 'other.name', 'to.name', { replace: true });
      assert.deepEqual(await localNames(join(sut.rootDir, folder)), ['to.name']);
      assert.equal((await store.readFile(folder, 'to.name')).toString(), 'two');
    });

    it('is never asked for a name-layout decision: every name it touches in a publish comes from the repository', async () => {
      const folder = freshFolder();
      const calls: string[] = [];
      const recording: Store = {
        id: store.id,
        write: (f, name, content) => (calls.push(`write ${name}`), store.write(f, name, content)),
        rename: (f, from, to, options) => (calls.push(`rename ${from} -> ${to}`), store.rename(f, from, to, options)),
        download: (f, name) => store.download(f, name),
        readFile: (f, name) => store.readFile(f, name),
        list: (f) => store.list(f),
        remove: (f, name) => (calls.push(`remove ${name}`), store.remove(f, name)),
        open: () => store.open(),
        close: () => store.close(),
      };
      const data = randomBytes(1000);
      await publishObject(recording, folder, {
        objectName: 'obj.db',
        content: Readable.from([data]),
        expectedSize: data.length,
        manifest: { name: 'obj.json', bytes: Buffer.from('{}') },
      });
      // The repository chose the temporary names; the backend wrote and renamed exactly those.
      const temporary = calls.filter((c) => c.startsWith('write ')).map((c) => c.slice('write '.length));
      assert.equal(temporary.length, 2);
      assert.ok(temporary[0]!.startsWith(`${TEMP_PREFIX}obj.db-`) && temporary[1]!.startsWith(`${TEMP_PREFIX}obj.json-`), temporary.join(', '));
      assert.deepEqual(calls, [`write ${temporary[0]}`, `rename ${temporary[0]} -> obj.db`, `write ${temporary[1]}`, `rename ${temporary[1]} -> obj.json`]);
      assert.deepEqual(await localNames(join(sut.rootDir, folder)), ['obj.db', 'obj.json'], 'no name the repository did not give');
    });

    it('writes files with mode 0600 and folders with 0700', async () => {
      const folder = freshFolder();
      await writeFile(store, folder, 'f.json', Buffer.from('{}'));
      const file = await fs.stat(join(sut.rootDir, folder, 'f.json'));
      assert.equal(file.mode & 0o777, 0o600);
      const dir = await fs.stat(join(sut.rootDir, folder));
      assert.equal(dir.mode & 0o777, 0o700);
    });

    it('download and readFile of a missing file reject with NotFoundError', async () => {
      const folder = freshFolder();
      await assert.rejects(store.download(folder, 'missing.db'), NotFoundError);
      await assert.rejects(store.readFile(folder, 'missing.db'), NotFoundError);
      await writeFile(store, folder, 'present', Buffer.from('x'));
      await assert.rejects(store.download(folder, 'missing.db'), NotFoundError);
    });

    it('lists a missing folder as empty, and regular files only', async () => {
      assert.deepEqual(await store.list('no-such-folder'), []);
      const folder = freshFolder();
      await writeFile(store, folder, 'g', Buffer.from('x'));
      await fs.mkdir(join(sut.rootDir, folder, 'subdir'));
      assert.deepEqual(
        (await store.list(folder)).map((f) => f.name),
        ['g'],
      );
    });

    it('removes files, and removing a missing file succeeds', async () => {
      const folder = freshFolder();
      await writeFile(store, folder, 'h', Buffer.from('x'));
      await store.remove(folder, 'h');
      assert.deepEqual(await store.list(folder), []);
      await store.remove(folder, 'h');
      await store.remove('no-such-folder', 'h');
    });

    it('writeFile with replace swaps the content atomically', async () => {
      const folder = freshFolder();
      await writeFile(store, folder, 'status.json', Buffer.from('{"v":1}'), { replace: true });
      await writeFile(store, folder, 'status.json', Buffer.from('{"v":2}'), { replace: true });
      assert.equal((await store.readFile(folder, 'status.json')).toString(), '{"v":2}');
      assert.deepEqual((await store.list(folder)).map((f) => f.name), ['status.json']);
      assert.equal((await fs.stat(join(sut.rootDir, folder, 'status.json'))).mode & 0o777, 0o600);
    });

    it('rejects names that would leave the folder', async () => {
      await assert.rejects(writeFile(store, 'x', '../escape', Buffer.from('x')));
      await assert.rejects(store.list('../x'));
      await assert.rejects(store.readFile('x', '..'));
    });

    it('a download read to the end survives the store being closed right after', async () => {
      const folder = freshFolder();
      await writeFile(store, folder, 'i', randomBytes(1024 * 1024));
      let bytes = 0;
      for await (const chunk of await store.download(folder, 'i')) bytes += (chunk as Buffer).length;
      // Closing while the backend may still be releasing the file must not surface as an unhandled error.
      await store.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(bytes, 1024 * 1024);
      await store.open(); // and the store is usable again
      assert.equal((await store.list(folder)).length, 1);
    });

    it('streams a 128 MiB upload and download without buffering it', async () => {
      const folder = freshFolder();
      // Big enough to tell buffering (memory grows by the file's size) from V8 collecting dead buffers only
      // every 64 MB of them (a 64 MiB file once showed 70 MiB of growth from that alone).
      const size = 128 * MiB;
      // Warm up first, so the heap and allocator growing to their working size on a backend's first
      // transfer is not mistaken for buffering (buffering would grow with the file, this does not).
      const warmUp = await upload(store, folder, 'warm-up', generated(8 * MiB, 1).stream);
      await warmUp.commit();
      for await (const chunk of await store.download(folder, 'warm-up')) void chunk;
      await store.remove(folder, 'warm-up');
      const source = generated(size, 42);
      let peakRss = 0;
      const baseline = process.memoryUsage().rss;
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }, 20);
      try {
        const started = performance.now();
        const pending = await upload(store, folder, 'big.db', source.stream);
        const seconds = (performance.now() - started) / 1000;
        await pending.commit();
        assert.equal(pending.size, size);
        console.log(`# ${name}: uploaded 128 MiB in ${seconds.toFixed(2)} s = ${(128 / seconds).toFixed(1)} MiB/s`);

        const downloadStarted = performance.now();
        const hash = createHash('sha256');
        let downloaded = 0;
        for await (const chunk of await store.download(folder, 'big.db')) {
          hash.update(chunk as Buffer);
          downloaded += (chunk as Buffer).length;
        }
        const downloadSeconds = (performance.now() - downloadStarted) / 1000;
        console.log(
          `# ${name}: downloaded 128 MiB in ${downloadSeconds.toFixed(2)} s = ${(128 / downloadSeconds).toFixed(1)} MiB/s`,
        );
        assert.equal(downloaded, size);
        assert.equal(hash.digest('hex'), source.sha256());
      } finally {
        clearInterval(sampler);
      }
      const grewBy = Math.max(0, peakRss - baseline);
      assert.ok(grewBy < size, `RSS grew by ${(grewBy / MiB).toFixed(1)} MiB during a ${size / MiB} MiB transfer`);
    });
  });
}
