import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  actionSettings
} from "./chunk-Y55PNGKC.js";
import {
  KUBEADM_DATA_DIR,
  assertDataDir,
  etcdAccess,
  etcdAnswers,
  execRunner,
  parseEtcdService,
  progressFile,
  putBack,
  readProgress,
  serviceControl,
  text
} from "./chunk-HHGAR6KB.js";
import {
  messageOf
} from "./chunk-42CUHY4V.js";
import {
  error,
  info,
  setFailed,
  warning
} from "./chunk-E3PZOCOU.js";
import "./chunk-XUNV6VRI.js";
import "./chunk-TWSOFDXT.js";

// src/restore/post.ts
async function restorePostImpl(input, deps) {
  if (input.command !== void 0 && input.command !== "restore") return void 0;
  const { dataDir: dataDir2 } = input;
  if (dataDir2 === void 0) {
    deps.log.info("restore post step: data-dir is not valid, so the restore never began: nothing to do");
    return void 0;
  }
  const progress = await readProgress(dataDir2);
  if (!progress) {
    deps.log.info(`restore post step: no interrupted restore of ${dataDir2} (no ${progressFile(dataDir2)}): nothing to do`);
    return void 0;
  }
  const processRuns = deps.processRuns ?? pidRuns;
  if (progress.pid !== process.pid && processRuns(progress.pid)) {
    throw new Error(
      `${progressFile(dataDir2)} belongs to process ${progress.pid}, which still runs: not touching ${dataDir2} under a running restore`
    );
  }
  deps.log.warning(
    `restore post step: the restore of ${dataDir2} from ${progress.backup} (process ${progress.pid}, started ${progress.startedAt}) was interrupted at the step "${progress.step}"; putting the node in a safe state`
  );
  const done = await putBack(progress, {
    log: deps.log,
    start: async () => {
      const control = input.service();
      return control.resume?.() ?? `did not start etcd (${control.describe()}): start it yourself`;
    }
  });
  return `the interrupted restore was ended ${done}`;
}
function pidRuns(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error2) {
    return error2.code === "EPERM";
  }
}

// src/action/entries/restore-post.ts
var source = actionSettings();
var log = { info: (m) => info(m), warning: (m) => warning(m), error: (m) => error(m) };
var dataDir;
try {
  dataDir = assertDataDir(text(source, "data-dir" /* DataDir */, KUBEADM_DATA_DIR));
} catch {
  dataDir = void 0;
}
var service = () => {
  const [stop, start, named] = [text(source, "stop-command" /* StopCommand */), text(source, "start-command" /* StartCommand */), text(source, "etcd-service" /* EtcdService */)];
  const parsed = parseEtcdService({ ...named ? { service: named } : {}, ...stop ? { stopCommand: stop } : {}, ...start ? { startCommand: start } : {} });
  const access = etcdAccess(source);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  return serviceControl(parsed, { run: execRunner(), log, sleep, isServing: () => etcdAnswers(access, access.endpoints[0]) });
};
await restorePostImpl({ dataDir, command: text(source, "command" /* Command */), service }, { log }).catch((e) => setFailed(messageOf(e)));
process.exit();
