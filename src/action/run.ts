/**
 * The GitHub Action front end: inputs from `INPUT_*` (via @actions/core), outputs to GITHUB_OUTPUT,
 * the report to the job summary, failures as annotations. It decides nothing; the command does.
 */
import * as core from '@actions/core';
import { runCommand } from '../commands/index.ts';
import { COMMANDS, Inputs, type Command } from '../config/names.ts';
import { oneOf, type SettingSource } from '../config/source.ts';
import { tuneHeapFor } from '../engine/heap.ts';
import type { Log } from '../base/log.ts';
import { messageOf } from '../errors.ts';
import type { ToolCache } from '../restore/etcdTools.ts';

export function actionSettings(): SettingSource {
  return {
    get: (name) => {
      const value = core.getInput(name);
      return value === '' ? undefined : value;
    },
    secret: (value) => core.setSecret(value),
    env: process.env,
  };
}

const actionLog: Log = {
  info: (message) => core.info(message),
  warning: (message) => core.warning(message),
  error: (message) => core.error(message),
};

/** Downloaded etcd releases survive between runs in the Actions cache (where the runner has one). */
// Loaded on first use: @actions/cache brings a storage SDK that backups never need.
const actionsToolCache: ToolCache = {
  restore: async (paths, key) => {
    const cache = await import('@actions/cache');
    return cache.isFeatureAvailable() ? cache.restoreCache(paths, key) : undefined;
  },
  save: async (paths, key) => {
    const cache = await import('@actions/cache');
    if (cache.isFeatureAvailable()) await cache.saveCache(paths, key);
  },
};

/** Runs `command` (or the `command` input of the root action). Sets the step's result; never throws. */
export async function runAction(command?: Command): Promise<void> {
  try {
    const source = actionSettings();
    const chosen = command ?? oneOf(source, Inputs.Command, COMMANDS, 'backup');
    tuneHeapFor(chosen);
    const report = await runCommand(chosen, source, {
      log: actionLog,
      now: () => new Date(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      toolCache: actionsToolCache,
    });
    for (const [name, value] of Object.entries(report.outputs)) core.setOutput(name, value);
    // The summary is for people; failing to write it must not turn a good backup into a failed step.
    await core.summary
      .addRaw(report.summary, true)
      .write()
      .catch((error: unknown) => core.warning(`job summary not written: ${messageOf(error)}`));
    if (report.failure) core.setFailed(report.failure);
  } catch (error) {
    core.setFailed(messageOf(error));
  }
}
