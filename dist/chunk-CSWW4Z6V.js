import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  RELAUNCHED_ENV,
  missingStartFlags,
  startEnvironment
} from "./chunk-XUNV6VRI.js";

// src/engine/relaunch.ts
import { spawn } from "node:child_process";
var FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"];
async function relaunchForHeap(command) {
  const flags = missingStartFlags(command, { execArgv: process.execArgv, env: process.env });
  const script = process.argv[1];
  if (flags.length === 0 || script === void 0) return;
  const args = [...process.execArgv, ...flags, script, ...process.argv.slice(2)];
  const env = { ...startEnvironment(command, process.env), ...process.env, [RELAUNCHED_ENV]: flags.join(" ") };
  if (process.execve) {
    try {
      process.execve(process.execPath, [process.execPath, ...args], env);
    } catch {
    }
  }
  await runAsChild(args, env);
}
function runAsChild(args, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: "inherit", env });
    const forward = (signal) => {
      child.kill(signal);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    child.once("error", () => {
      for (const signal of FORWARDED_SIGNALS) process.removeListener(signal, forward);
      resolve();
    });
    child.once("exit", (code, signal) => {
      for (const s of FORWARDED_SIGNALS) process.removeListener(s, forward);
      if (signal) process.kill(process.pid, signal);
      else process.exit(code ?? 1);
    });
  });
}

export {
  relaunchForHeap
};
