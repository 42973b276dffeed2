/**
 * How V8 should manage memory in a backup, a restore or a drill, which stream gigabytes through short-lived
 * Buffers. Why each setting, with the measurements: bench/README.md, "Heap settings".
 *
 * - Young generation: a backup's peak memory has a target (200 MB on a node that runs etcd and the control
 *   plane). With V8's 16 MiB semi-spaces a 1 GiB backup peaks at 250-266 MB; capped at 2 MiB, 158-187 MB. V8
 *   fixes that size when it creates the heap, so it has to be on node's command line: a backup re-executes
 *   node with YOUNG_GENERATION_FLAG (relaunch.ts) unless the process already has a --max-semi-space-size (a
 *   caller's NODE_OPTIONS or command line: theirs is kept).
 * - Buffer bytes: by default V8 counts Buffer bytes that outlived a full collection against its small heap's
 *   limit, so a stream of short-lived buffers starts a full collection every few tens of MB.
 *   --external-memory-accounted-in-global-limit counts them against a separate global limit (a 1 GiB restore:
 *   ~50 full collections -> 6). Backups add a fixed growth factor of 1.5 (--heap-growing-percent=50): with V8's
 *   dynamic factor, buffers piled up to 190-300 MB in one backup in four. V8 reads both at every limit check, so
 *   setting them at start-up (tuneHeapFor) takes effect; NODE_OPTIONS refuses them. They change when V8
 *   collects, never what.
 */
import { setFlagsFromString } from 'node:v8';
import type { Command } from '../config/names.ts';

export const STREAMING_HEAP_FLAG = '--external-memory-accounted-in-global-limit';
/** The growth factor for backups (1.5): see the header. */
export const BACKUP_GROWTH_FLAG = '--heap-growing-percent=50';
/** Two 2 MiB semi-spaces instead of V8's 16 MiB ones: what keeps a backup under its memory target. */
export const YOUNG_GENERATION_FLAG = '--max-semi-space-size=2';
/**
 * The journal follower runs for hours beside etcd on every node: small semi-spaces (its garbage is short-lived
 * watch events and records) and an old-space cap, so V8 collects before its heap grows far past what the
 * follower holds (one open segment of at most journal-segment-bytes as records; encoded segments waiting for
 * the sites are Buffers, outside this cap). Peak RSS, `npm run bench:journal` at 200 writes/s for 20 s on 2
 * cores: V8's defaults 191 MB; --max-semi-space-size=2 154 MB; plus --max-old-space-size=64 135 MB (134 MB
 * through this re-execution); plus --optimize-for-size 115 MB. Semi-space 1 + old space 48: 129 MB, too little
 * headroom for a gain of 5 MB; MALLOC_ARENA_MAX=2: 5 MB. Most of what remains is node, gRPC and ssh2
 * themselves, not the heap: flags alone do not reach the 100 MB goal.
 */
export const JOURNAL_OLD_SPACE_FLAG = '--max-old-space-size=64';
/** V8 trades some speed for a smaller heap and code: another 20 MB off the follower's peak. */
export const OPTIMIZE_FOR_SIZE_FLAG = '--optimize-for-size';
export const JOURNAL_START_FLAGS: readonly string[] = [YOUNG_GENERATION_FLAG, JOURNAL_OLD_SPACE_FLAG, OPTIMIZE_FOR_SIZE_FLAG];
/** Set in the environment of a re-executed process: it never re-executes again, whatever its flags. */
export const RELAUNCHED_ENV = 'ETCD_DR_HEAP_RELAUNCHED';

/** The node flags each command needs from the start (V8 reads them once, when it creates the heap). */
export const START_FLAGS: Readonly<Partial<Record<Command, readonly string[]>>> = {
  backup: [YOUNG_GENERATION_FLAG],
  journal: JOURNAL_START_FLAGS,
};

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

/** How this node process was started: its own command-line flags and its environment. */
export interface NodeStart {
  readonly execArgv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/** `--max_semi_space_size=4` -> `max-semi-space-size` (node and V8 accept both spellings). */
function flagName(arg: string): string {
  return arg.replace(/^--?/, '').replace(/=.*$/, '').replace(/_/g, '-');
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
