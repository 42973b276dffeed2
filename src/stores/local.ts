/**
 * A store over a local directory (`file:///path`): for tests, demos, and a mounted NFS/backup disk.
 * Same contracts as SFTP: write a new file, fsync, check the size; rename with a hard link, which fails
 * with EEXIST instead of overwriting, so a backup can never be replaced by accident.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFoundError, inContext, withContext } from '../errors.ts';
import type { Store, StoredFile } from './store.ts';
import { owningStream } from '../base/ownStream.ts';
import { storePathSegments } from './url.ts';
import { fillNewFile } from './newFile.ts';
import { openFileSink } from '../base/fileSink.ts';

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export class LocalStore implements Store {
  readonly id: string;

  /** `root` is an absolute directory; `id` defaults to its file:// URL. */
  constructor(
    private readonly root: string,
    id?: string,
  ) {
    this.id = id ?? `file://${root}`;
  }

  async open(): Promise<void> {
    await inContext(`${this.id}: opening`, async () => {
      const stat = await fs.stat(this.root).catch((error: unknown) => {
        if (isErrno(error, 'ENOENT')) throw new Error(`directory ${this.root} does not exist`);
        throw error;
      });
      if (!stat.isDirectory()) throw new Error(`${this.root} is not a directory`);
      await fs.access(this.root, fs.constants.W_OK);
    });
  }

  async close(): Promise<void> {}

  write(folder: string, name: string, content: Readable): Promise<number> {
    return owningStream(content, () =>
      inContext(`${this.id}: uploading ${folder}/${name}`, async () => {
        await fs.mkdir(this.folderPath(folder), { recursive: true, mode: DIR_MODE });
        const path = this.filePath(folder, name);
        // 'wx': the name must be new. flush: fsync before close, so "written" means on disk.
        const sink = await openFileSink(path, { flags: 'wx', mode: FILE_MODE, flush: true });
        return fillNewFile({
          copy: (counted) =>
            pipeline(
              content,
              async function* count(source: AsyncIterable<Buffer | string>) {
                for await (const chunk of source) {
                  const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
                  counted(buffer.length);
                  yield buffer;
                }
              },
              sink,
            ),
          storedSize: async () => (await fs.stat(path)).size,
          holder: 'the file',
          remove: () => fs.rm(path, { force: true }),
        });
      }),
    );
  }

  async rename(folder: string, from: string, to: string, options?: { replace?: boolean }): Promise<void> {
    const fromPath = this.filePath(folder, from);
    const toPath = this.filePath(folder, to);
    const label = `${folder}/${to}`;
    if (options?.replace) {
      // rename(2) replaces atomically: readers see the old or the new file, never a partial one.
      await inContext(`${this.id}: replacing ${label}`, async () => {
        await fs.rename(fromPath, toPath);
        await syncDirectory(this.folderPath(folder));
      });
      return;
    }
    await inContext(`${this.id}: committing ${label}`, async () => {
      try {
        // link(2) fails with EEXIST instead of overwriting, so a backup can never be replaced by accident.
        await fs.link(fromPath, toPath);
      } catch (error) {
        if (isErrno(error, 'EEXIST')) throw new Error(`${label} already exists; backups are never overwritten`);
        // Filesystems without hard links (some FUSE/SMB mounts): check, then rename. Not atomic against a
        // concurrent writer of the same name, but names carry a timestamp and member, so none exists.
        if (!isErrno(error, 'EPERM') && !isErrno(error, 'ENOTSUP') && !isErrno(error, 'EOPNOTSUPP')) throw error;
        if (await exists(toPath)) throw new Error(`${label} already exists; backups are never overwritten`);
        await fs.rename(fromPath, toPath);
      }
      await fs.rm(fromPath, { force: true });
      await syncDirectory(this.folderPath(folder));
    });
  }

  async download(folder: string, name: string): Promise<Readable> {
    const path = this.filePath(folder, name);
    return inContext(`${this.id}: downloading ${folder}/${name}`, async () => {
      // Opening first turns a missing file into NotFoundError here rather than a stream error later.
      const handle = await fs.open(path, 'r').catch((error: unknown) => {
        throw isErrno(error, 'ENOENT') ? new NotFoundError(`${folder}/${name} does not exist`) : error;
      });
      return handle.createReadStream();
    });
  }

  async readFile(folder: string, name: string): Promise<Buffer> {
    const path = this.filePath(folder, name);
    return inContext(`${this.id}: reading ${folder}/${name}`, () =>
      fs.readFile(path).catch((error: unknown) => {
        throw isErrno(error, 'ENOENT') ? new NotFoundError(`${folder}/${name} does not exist`) : error;
      }),
    );
  }

  async list(folder: string): Promise<StoredFile[]> {
    const dir = this.folderPath(folder);
    return inContext(`${this.id}: listing ${folder}`, async () => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isErrno(error, 'ENOENT')) return [];
        throw error;
      }
      const files: StoredFile[] = [];
      for (const entry of entries) {
        if (!entry.isFile()) continue;
        // A file may vanish between readdir and stat (retention in another run): skip it.
        const stat = await fs.stat(join(dir, entry.name)).catch(() => undefined);
        if (stat?.isFile()) files.push({ name: entry.name, size: stat.size, modifiedAt: stat.mtime });
      }
      return files;
    });
  }

  async remove(folder: string, name: string): Promise<void> {
    const path = this.filePath(folder, name);
    await inContext(`${this.id}: removing ${folder}/${name}`, () => fs.rm(path, { force: true }));
  }

  private folderPath(folder: string): string {
    return join(this.root, ...storePathSegments(folder));
  }

  private filePath(folder: string, name: string): string {
    return join(this.root, ...storePathSegments(folder, name));
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

async function exists(path: string): Promise<boolean> {
  return fs.lstat(path).then(
    () => true,
    (error: unknown) => {
      if (isErrno(error, 'ENOENT')) return false;
      throw error;
    },
  );
}

// fsync the directory so the new name itself survives a power cut, not only the file's data.
async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    throw withContext(`syncing directory ${dir}`, error);
  } finally {
    await handle.close();
  }
}
