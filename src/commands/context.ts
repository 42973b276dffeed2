/** What every command gets from its front end, and the run's identity for status records and alarms. */
import type { Log } from '../engine/log.ts';

export interface CommandDeps {
  readonly log: Log;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
}

/** Link to the current workflow run, when running in Actions. */
export function runUrl(env: NodeJS.ProcessEnv): string | undefined {
  const server = env['GITHUB_SERVER_URL'];
  const repository = env['GITHUB_REPOSITORY'];
  const runId = env['GITHUB_RUN_ID'];
  return server && repository && runId ? `${server}/${repository}/actions/runs/${runId}` : undefined;
}
