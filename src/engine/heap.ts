/**
 * How V8 should manage memory in a backup, a restore or a drill, which stream gigabytes through short-lived
 * Buffers. Why each setting, with the measurements: bench/README.md, "Heap settings".
 *
 * - Young generation: a backup's peak memory has a target (200 MB on a node that runs etcd and the control
 *   plane). With V8's 16 MiB semi-spaces a 1 GiB backup peaks at 250-266 MB; capped at 2 MiB, 158-187 MB. V8
 *   fixes that size when it creates the heap, so it has to be on node's command line: a backup re-executes
 *   node with YOUNG_GENERATION_FLAG (relaunch.ts) unless the process already has a --max-semi-space-size (a
 *   caller's NODE_OPTIONS or command line: theirs is kept).
 * - Buffer bytes, restores and drills: by default V8 counts Buffer bytes that outlived a full collection
 *   against its small heap's limit, so a stream of short-lived buffers starts a full collection every few tens
 *   of MB. --external-memory-accounted-in-global-limit counts them against a separate global limit (a 1 GiB
 *   restore: ~50 full collections -> 6). A restore's peak is etcd's restore tool's (~1.1 GB), not ours.
 * - Buffer bytes, backups: V8's defaults. Under that global limit (with a fixed growth factor of 1.5, or
 *   1.25) dead buffers now and then piled up to 100-140 MB before a collection, and a 1 GiB backup peaked at
 *   180-218 MB (9 runs; zstd + age 188-229 MB, 6 runs). The limit is recomputed right after a full collection,
 *   apparently from a total that still counts the buffers V8 frees in the background, so now and then it is
 *   far too high. V8's own rule (a collection once Buffer bytes grew 64 MB past what the last one left) bounds
 *   the pile: zstd 169-184 MB, zstd + age 175-189 MB (8 runs each), at ~220 full collections instead of
 *   ~100-150 (about +1 s CPU per GiB, +3-8% wall time).
 * - Memory arenas, backups: glibc gives each thread that allocates (zstd and the file system run on libuv's
 *   pool) its own malloc arena, and each arena keeps freed memory for reuse. MALLOC_ARENA_MAX=2 in the
 *   re-executed backup's environment (BACKUP_START_ENV): zstd 162-169 MB, zstd + age 168-181 MB (3 runs each).
 */
import { setFlagsFromString } from 'node:v8';
import type { Command } from '../config/names.ts';

export const STREAMING_HEAP_FLAG = '--external-memory-accounted-in-global-limit';
/** Two 2 MiB semi-spaces instead of V8's 16 MiB ones: what keeps a backup under its memory target. */
export const YOUNG_GENERATION_FLAG = '--max-semi-space-size=2';
/**
 * The journal follower runs for hours beside etcd on every node: small semi-spaces (its garbage is short-lived
 * watch events and records) and an old-space cap, so V8 collects before its heap grows far past what the
 * follower holds (one open segment of at most journal-segment-bytes as records; encoded segments waiting for
 * the sites are Buffers, outside this cap). Peak RSS, `npm run bench:journal` at 200 writes/s for 20 s on 2
 * cores: V8's defaults 191 MB; --max-semi-space-size=2 154 MB; plus --max-old-space-size=64 135 MB (134 MB
 * through this re-execution); plus --optimize-for-size 115 MB. Semi-space 1 + old space 48: 129 MB, too little
 * headroom for a gain of 5 MB; MALLOC_ARENA_MAX=2: 5 MB. What remained was mostly node, gRPC and ssh2
 * themselves; since the follower no longer loads etcd3/grpc-js (etcd/http2Client.ts), and without the
 * optimizing compilers (NO_OPTIMIZING_COMPILERS), it peaks at 92-93 MB.
 */
export const JOURNAL_OLD_SPACE_FLAG = '--max-old-space-size=64';
/** V8 trades some speed for a smaller heap and code: another 20 MB off the follower's peak. */
export const OPTIMIZE_FOR_SIZE_FLAG = '--optimize-for-size';
/**
 * No optimizing compilers (TurboFan, Maglev): the follower's code runs in V8's interpreter and baseline
 * compiler, and neither the optimized code nor the compilers' working memory is ever allocated. Measured once
 * the follower spoke to etcd over its own HTTP/2 client, `npm run bench:journal` at 200 writes/s for 30 s on 2
 * cores, 2 runs each: peak RSS 108-111 MB without, 92-93 MB with (83-84 MB at the steady load); CPU 7.9-9.1%
 * without, 9.1-10.4% with. Its work is I/O, not computation: a point of CPU for the memory goal (< 100 MB).
 * Since the watch is read in batches (etcd/batchedSocket.ts) the follower takes 2.4-2.8% of a core at that
 * load with these flags (93 MB peak); Maglev back on (`--maglev`) cost ~10-30 MB more for ~2.5 points less
 * before batching.
 */
export const NO_OPTIMIZING_COMPILERS: readonly string[] = ['--no-opt', '--no-maglev'];
export const JOURNAL_START_FLAGS: readonly string[] = [YOUNG_GENERATION_FLAG, JOURNAL_OLD_SPACE_FLAG, OPTIMIZE_FOR_SIZE_FLAG, ...NO_OPTIMIZING_COMPILERS];
/**
 * Environment a backup is re-executed with (see the header), unless the caller set the variable: glibc reads
 * MALLOC_ARENA_MAX once, when the process starts. Other C libraries ignore it.
 */
export const BACKUP_START_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
/** Set in the environment of a re-executed process: it never re-executes again, whatever its flags. */
export const RELAUNCHED_ENV = 'ETCD_DR_HEAP_RELAUNCHED';

/** The node flags each command needs from the start (V8 reads them once, when it creates the heap). */
export const START_FLAGS: Readonly<Partial<Record<Command, readonly string[]>>> = {
  backup: [YOUNG_GENERATION_FLAG],
  journal: JOURNAL_START_FLAGS,
};

/** The environment each command is re-executed with, beside its START_FLAGS (the caller's values win). */
export const START_ENV: Readonly<Partial<Record<Command, Readonly<Record<string, string>>>>> = {
  backup: BACKUP_START_ENV,
};

/** The V8 flags each command sets at start-up; the others (backups among them) keep V8's defaults. */
export const HEAP_FLAGS: Readonly<Partial<Record<Command, readonly string[]>>> = {
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

/** How this node process was started: its own command-line flags and its environment. */
export interface NodeStart {
  readonly execArgv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/**
 * `--max_semi_space_size=4` -> `max-semi-space-size` (node and V8 accept both spellings); `--no-opt` and
 * `--opt` -> `opt`: a caller who turns a flag on or off has chosen, either way.
 */
function flagName(arg: string): string {
  return arg.replace(/^--?/, '').replace(/=.*$/, '').replace(/_/g, '-').replace(/^no-/, '');
}

/**
 * The START_FLAGS that `command` lacks in this process: empty when it has them all, when the caller
 * chose its own value of one (on the command line or in NODE_OPTIONS), or when it is already a
 * re-executed process (RELAUNCHED_ENV: never a loop). A string, not a Command: the entries pass what
 * they were asked for, before checking it.
 */
export function missingStartFlags(command: string, start: NodeStart): readonly string[] {
  if (start.env[RELAUNCHED_ENV] !== undefined) return [];
  const wanted = Object.hasOwn(START_FLAGS, command) ? (START_FLAGS[command as Command] ?? []) : [];
  const given = new Set([...start.execArgv, ...(start.env['NODE_OPTIONS'] ?? '').split(/\s+/)].filter((a) => a.startsWith('-')).map(flagName));
  return wanted.filter((flag) => !given.has(flagName(flag)));
}

/** The START_ENV variables `command` is re-executed with: those the caller's environment does not set. */
export function startEnvironment(command: string, env: NodeJS.ProcessEnv): Readonly<Record<string, string>> {
  const wanted = Object.hasOwn(START_ENV, command) ? (START_ENV[command as Command] ?? {}) : {};
  return Object.fromEntries(Object.entries(wanted).filter(([name]) => env[name] === undefined));
}
