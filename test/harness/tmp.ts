/**
 * Temporary directories for tests, removed when the test process exits (node --test runs each file in a
 * process of its own). Without this, every run of the suite left gigabytes of stores and spools in /tmp.
 */
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];

process.on('exit', () => {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // One that cannot go (a child still writing) must not keep the others, or fail the test file.
    }
  }
});

/** mkdtemp under the system temp dir, removed at exit. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
