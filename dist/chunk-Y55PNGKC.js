import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  COMMANDS,
  oneOf,
  runCommand
} from "./chunk-HHGAR6KB.js";
import {
  messageOf
} from "./chunk-42CUHY4V.js";
import {
  error,
  getInput,
  info,
  setFailed,
  setOutput,
  setSecret,
  summary,
  warning
} from "./chunk-E3PZOCOU.js";
import {
  tuneHeapFor
} from "./chunk-XUNV6VRI.js";

// src/action/run.ts
function actionSettings() {
  return {
    get: (name) => {
      const value = getInput(name);
      return value === "" ? void 0 : value;
    },
    secret: (value) => setSecret(value),
    env: process.env
  };
}
var actionLog = {
  info: (message) => info(message),
  warning: (message) => warning(message),
  error: (message) => error(message)
};
var actionsToolCache = {
  restore: async (paths, key) => {
    const cache = await import("./chunk-3GYZ33A3.js");
    return cache.isFeatureAvailable() ? cache.restoreCache(paths, key) : void 0;
  },
  save: async (paths, key) => {
    const cache = await import("./chunk-3GYZ33A3.js");
    if (cache.isFeatureAvailable()) await cache.saveCache(paths, key);
  }
};
async function runAction(command) {
  try {
    const source = actionSettings();
    const chosen = command ?? oneOf(source, "command" /* Command */, COMMANDS, "backup");
    tuneHeapFor(chosen);
    const report = await runCommand(chosen, source, {
      log: actionLog,
      now: () => /* @__PURE__ */ new Date(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      toolCache: actionsToolCache
    });
    for (const [name, value] of Object.entries(report.outputs)) setOutput(name, value);
    await summary.addRaw(report.summary, true).write().catch((error2) => warning(`job summary not written: ${messageOf(error2)}`));
    if (report.failure) setFailed(report.failure);
  } catch (error2) {
    setFailed(messageOf(error2));
  }
}

export {
  actionSettings,
  runAction
};
