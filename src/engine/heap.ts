/**
 * How V8 should collect garbage in a restore or a drill, which stream gigabytes through short-lived Buffers.
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
 * Backups do not take it: their peak memory is ours and has a target (200 MB). With the flag, a backup ran
 * with one full collection instead of ~100 in most runs (CPU 10.5 s -> 6.8 s), but in about one run in four
 * V8 set its limit low during the stream and then let buffers pile up between collections: 190-300 MB
 * (node 24's V8 lacks the cap on that growth which later releases added). A restore's peak is etcd's restore
 * tool (~1.1 GB for a 1 GiB database, ~310 MB for 256 MiB), above ours either way.
 *
 * NODE_OPTIONS refuses this flag (it is not on node's list) and the runner starts `node dist/<entry>.js`
 * with no arguments of ours, so it is set here, before the first stream. Unlike the young generation's size,
 * which V8 fixes when it creates the heap, V8 reads this flag at every limit check, so setting it at
 * start-up takes effect (checked by counting collections). It changes when V8 collects, never what.
 */
import { setFlagsFromString } from 'node:v8';
import type { Command } from '../config/names.ts';

export const STREAMING_HEAP_FLAG = '--external-memory-accounted-in-global-limit';

/** The commands that take the flag: see the header for why backups do not. */
const TUNED_COMMANDS: ReadonlySet<Command> = new Set<Command>(['restore', 'verify']);

/**
 * Sets STREAMING_HEAP_FLAG for a restore or a drill, on the Node.js line where it was measured (the
 * action's node24): V8 prints "unrecognized flag" for a flag it lacks, so another major version runs with
 * V8's defaults (slower, still correct). Returns whether the flag was set.
 */
export function tuneHeapFor(command: Command, nodeVersion: string = process.versions.node): boolean {
  if (!TUNED_COMMANDS.has(command) || nodeVersion.split('.')[0] !== '24') return false;
  setFlagsFromString(STREAMING_HEAP_FLAG);
  return true;
}
