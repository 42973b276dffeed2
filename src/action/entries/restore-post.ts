import * as core from '@actions/core';
import { messageOf } from '../../errors.ts';
import { restorePostImpl } from '../../restore/post.ts';
import { actionSettings } from '../run.ts';

// The restore action's post step (post-if: cancelled()): puts etcd back after a restore killed mid-way.
const log = { info: (m: string) => core.info(m), warning: (m: string) => core.warning(m), error: (m: string) => core.error(m) };
await restorePostImpl(actionSettings(), { log, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) }).catch((e: unknown) => core.setFailed(messageOf(e)));
process.exit(); // gRPC keep-alive timers must not hold a finished step open
