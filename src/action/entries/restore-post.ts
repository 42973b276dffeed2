/**
 * The restore action's post step (post-if: cancelled()): puts etcd back after a restore killed mid-way
 * (src/restore/post.ts). The inputs are read here, in the entry layer: the restore layer sits below config.
 */
import * as core from '@actions/core';
import { etcdAccess } from '../../config/etcd.ts';
import { Inputs } from '../../config/names.ts';
import { KUBEADM_DATA_DIR } from '../../config/restore.ts';
import { text } from '../../config/source.ts';
import { etcdAnswers } from '../../etcd/serving.ts';
import { messageOf } from '../../errors.ts';
import { assertDataDir } from '../../restore/member.ts';
import { restorePostImpl } from '../../restore/post.ts';
import { execRunner, parseEtcdService, serviceControl } from '../../restore/service.ts';
import { actionSettings } from '../run.ts';

const source = actionSettings();
const log = { info: (m: string) => core.info(m), warning: (m: string) => core.warning(m), error: (m: string) => core.error(m) };
let dataDir: string | undefined;
try {
  dataDir = assertDataDir(text(source, Inputs.DataDir, KUBEADM_DATA_DIR)!);
} catch {
  dataDir = undefined;
}
const service = (): ReturnType<typeof serviceControl> => {
  const [stop, start, named] = [text(source, Inputs.StopCommand), text(source, Inputs.StartCommand), text(source, Inputs.EtcdService)];
  const parsed = parseEtcdService({ ...(named ? { service: named } : {}), ...(stop ? { stopCommand: stop } : {}), ...(start ? { startCommand: start } : {}) });
  const access = etcdAccess(source);
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  return serviceControl(parsed, { run: execRunner(), log, sleep, isServing: () => etcdAnswers(access, access.endpoints[0]!) });
};
await restorePostImpl({ dataDir, command: text(source, Inputs.Command), service }, { log }).catch((e: unknown) => core.setFailed(messageOf(e)));
process.exit(); // gRPC keep-alive timers must not hold a finished step open
