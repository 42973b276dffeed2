/** Whole-directory fingerprints, for tests that prove a refused operation changed nothing on disk. */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/** sha256 of every file under `dir` (paths, modes and contents), to prove a refused restore changed nothing. */
export async function treeDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = path.join(d, name);
      const s = await stat(p);
      hash.update(`${p}:${s.mode}\n`);
      if (s.isDirectory()) await walk(p);
      else hash.update(await readFile(p));
    }
  };
  await walk(dir);
  return hash.digest('hex');
}
