/**
 * Writes the Prometheus text for node-exporter's textfile collector. The collector may read at any
 * moment, so the file is written under a temporary name and renamed into place (as its docs require).
 */
import { rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { withContext } from '../errors.ts';
import { toPrometheus } from './prometheus.ts';
import type { StatusRecord } from './status.ts';

export async function writeTextfile(path: string, record: StatusRecord, now: Date): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(temporary, toPrometheus(record, now), { mode: 0o644 });
    await rename(temporary, path);
  } catch (error) {
    throw withContext(`writing the Prometheus textfile ${path}`, error);
  }
}
