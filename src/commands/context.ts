/** What every command gets from its front end, and the run's identity for status records and alarms. */
import type { Log } from '../base/log.ts';
import type { ToolCache } from '../restore/etcdTools.ts';

export interface CommandDeps {
  readonly log: Log;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  /** Keeps downloaded etcd releases between runs (@actions/cache in the action; none in the CLI). */
  readonly toolCache?: ToolCache;
}

export const NO_TOOL_CACHE: ToolCache = { restore: async () => undefined, save: async () => undefined };

/** Link to the current workflow run, when running in Actions. */
export function runUrl(env: NodeJS.ProcessEnv): string | undefined {
  const server = env['GITHUB_SERVER_URL'];
  const repository = env['GITHUB_REPOSITORY'];
  const runId = env['GITHUB_RUN_ID'];
  return server && repository && runId ? `${server}/${repository}/actions/runs/${runId}` : undefined;
}
