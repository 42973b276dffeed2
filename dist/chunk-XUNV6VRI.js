import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);

// src/engine/heap.ts
import { setFlagsFromString } from "node:v8";
var STREAMING_HEAP_FLAG = "--external-memory-accounted-in-global-limit";
var YOUNG_GENERATION_FLAG = "--max-semi-space-size=2";
var JOURNAL_OLD_SPACE_FLAG = "--max-old-space-size=64";
var OPTIMIZE_FOR_SIZE_FLAG = "--optimize-for-size";
var NO_OPTIMIZING_COMPILERS = ["--no-opt", "--no-maglev"];
var JOURNAL_START_FLAGS = [YOUNG_GENERATION_FLAG, JOURNAL_OLD_SPACE_FLAG, OPTIMIZE_FOR_SIZE_FLAG, ...NO_OPTIMIZING_COMPILERS];
var BACKUP_START_ENV = { MALLOC_ARENA_MAX: "2" };
var RELAUNCHED_ENV = "ETCD_DR_HEAP_RELAUNCHED";
var START_FLAGS = {
  backup: [YOUNG_GENERATION_FLAG],
  journal: JOURNAL_START_FLAGS
};
var START_ENV = {
  backup: BACKUP_START_ENV
};
var HEAP_FLAGS = {
  restore: [STREAMING_HEAP_FLAG],
  verify: [STREAMING_HEAP_FLAG]
};
function tuneHeapFor(command, nodeVersion = process.versions.node) {
  const flags = HEAP_FLAGS[command] ?? [];
  if (nodeVersion.split(".")[0] !== "24") return [];
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
function flagName(arg) {
  return arg.replace(/^--?/, "").replace(/=.*$/, "").replace(/_/g, "-").replace(/^no-/, "");
}
function missingStartFlags(command, start) {
  if (start.env[RELAUNCHED_ENV] !== void 0) return [];
  const wanted = Object.hasOwn(START_FLAGS, command) ? START_FLAGS[command] ?? [] : [];
  const given = new Set([...start.execArgv, ...(start.env["NODE_OPTIONS"] ?? "").split(/\s+/)].filter((a) => a.startsWith("-")).map(flagName));
  return wanted.filter((flag) => !given.has(flagName(flag)));
}
function startEnvironment(command, env) {
  const wanted = Object.hasOwn(START_ENV, command) ? START_ENV[command] ?? {} : {};
  return Object.fromEntries(Object.entries(wanted).filter(([name]) => env[name] === void 0));
}

export {
  RELAUNCHED_ENV,
  tuneHeapFor,
  missingStartFlags,
  startEnvironment
};
