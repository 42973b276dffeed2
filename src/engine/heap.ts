/**
 * How V8 should collect garbage in a backup, a restore or a drill, which stream gigabytes through short-lived
 * Buffers.
 *
 * A Buffer's bytes live outside V8's heap. By default V8 adds the Buffer bytes that outlived its last full
 * collection to its heap's size when it checks its old-generation limit, which for our ~12 MB heap is a few
 * MB away, so short-lived buffers that aged into the old generation start a full collection (a walk of the
 * whole heap) every few tens of MB. A 1 GiB backup or restore passes several GB of them (ssh2 makes three or
 * four per 32 KiB SSH packet; socket reads, zstd's output, the SFTP read pieces): about 50 full collections
 * per GiB restored, ~240 per GiB backed up to two sites. With --external-memory-accounted-in-global-limit V8
 * counts those bytes against a separate global limit that grows with them instead (newer V8 releases do this
 * by default and dropped the flag). Measured on a 1 GiB database (bench lab, 2 cores, dry-run restores): 6
 * full collections instead of 50, wall 5.6-5.8 s -> 5.1-5.3 s, CPU 5.6 s -> 4.9 s; our own peak memory rose
 * from ~165 MB to ~230 MB (more garbage waits between collections), below etcd's restore tool's (~1.1 GB).
 *
 * Backups take it with a fixed growth factor. Their peak memory is ours and has a target (200 MB). With the
 * flag alone V8 let its global limit grow by its own dynamic factor (up to 4x what was live), and in about one
 * run in four buffers piled up to 190-300 MB (node 24's V8 lacks the cap on that growth which later releases
 * added). A fixed factor (--heap-growing-percent, which V8 also reads at every limit computation) bounds the
 * limit to that multiple of the live heap and live buffers. 1 GiB backups in the bench lab, young generation
 * capped as etcd-backup.yml does: V8's defaults (6 runs) ~240 full collections, CPU ~12 s, wall 10.7-11.0 s,
 * peak 161-172 MB; factor 1.5 (10 runs) 132-139 collections, CPU ~10 s, peak 161-171 MB; factor 1.75 (16 runs)
 * ~115, CPU ~9.5 s, peak 164-193 MB; factor 2 (10 runs) 3-38, CPU ~7.2 s, but 208 MB once. In `npm run bench`
 * 1.75 made backups 0.78-0.84x the baseline at up to 197 MB (one run), 1.5 0.90-0.96x at 158-184 MB (three
 * runs; up to 187 with age). We keep 1.5: both targets hold with a margin, on a node that runs etcd and the
 * control plane. Without the young-generation cap these flags let a backup reach 250-266 MB.
 * A restore's peak is etcd's restore tool (~1.1 GB for a 1 GiB database, ~310 MB for 256 MiB), above ours
 * either way, so restores take the flag with V8's own growth factor.
 *
 * NODE_OPTIONS refuses these flags (they are not on node's list) and the runner starts `node dist/<entry>.js`
 * with no arguments of ours, so they are set here, before the first stream. Unlike the young generation's
 * size, which V8 fixes when it creates the heap, V8 reads these at every limit check, so setting them at
 * start-up takes effect (checked by counting collections). They change when V8 collects, never what.
 */
import { setFlagsFromString } from 'node:v8';
import type { Command } from '../config/names.ts';

export const STREAMING_HEAP_FLAG = '--external-memory-accounted-in-global-limit';
/** The growth factor for backups (1.5): see the header. */
export const BACKUP_GROWTH_FLAG = '--heap-growing-percent=50';

/** The V8 flags each command sets at start-up; the others keep V8's defaults. */
export const HEAP_FLAGS: Readonly<Partial<Record<Command, readonly string[]>>> = {
  backup: [STREAMING_HEAP_FLAG, BACKUP_GROWTH_FLAG],
  restore: [STREAMING_HEAP_FLAG],
  verify: [STREAMING_HEAP_FLAG],
};

/**
 * Sets the command's HEAP_FLAGS, on the Node.js line where they were measured (the action's node24): V8
 * prints "unrecognized flag" for a flag it lacks, so another major version runs with V8's defaults
 * (slower, still correct). Returns the flags it set.
 */
export function tuneHeapFor(command: Command, nodeVersion: string = process.versions.node): readonly string[] {
  const flags = HEAP_FLAGS[command] ?? [];
  if (nodeVersion.split('.')[0] !== '24') return [];
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
