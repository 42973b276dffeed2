import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { LocalStore } from '../../src/stores/local.ts';
import { runStoreConformance } from './conformance.ts';

runStoreConformance('LocalStore', async () => {
  const rootDir = await fs.mkdtemp(join(tmpdir(), 'etcd-dr-local-'));
  return {
    store: new LocalStore(rootDir),
    rootDir,
    cleanup: () => fs.rm(rootDir, { recursive: true, force: true }),
  };
});

describe('LocalStore specifics', () => {
  it('open() fails clearly when the directory does not exist', async () => {
    const store = new LocalStore('/nonexistent/etcd-dr-test');
    await assert.rejects(store.open(), /file:\/\/\/nonexistent\/etcd-dr-test: opening: directory .* does not exist/);
  });

  it('errors carry the store id and what was being done', async () => {
    const rootDir = await fs.mkdtemp(join(tmpdir(), 'etcd-dr-local-'));
    try {
      const store = new LocalStore(rootDir);
      await fs.writeFile(join(rootDir, 'afile'), 'x');
      // 'afile' is a file, so it cannot be a folder.
      await assert.rejects(
        store.write('afile', 'x.db', Readable.from([Buffer.from('x')])),
        (error: Error) => error.message.startsWith(`file://${rootDir}: uploading afile/x.db: `),
      );
    } finally {
      await fs.rm(rootDir, { recursive: true, force: true });
    }
  });
});
