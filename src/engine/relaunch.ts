/**
 * Re-executes node with the flags a command needs from the start (heap.ts, START_FLAGS), on the same
 * script and arguments: the runner starts `node dist/backup.js` with no flags of ours, and a workflow's
 * `env:` is the caller's to write, not ours to require. Runs before the entries load the engine, so the
 * first process costs only node's start-up.
 *
 * process.execve replaces this process (same pid, stdio, environment plus RELAUNCHED_ENV and the command's START_ENV): exit code and
 * signals reach the new program with nothing to forward, and no parent stays behind holding memory (a
 * worker thread with resourceLimits would have: an idle one costs ~20 MB of RSS). Where execve is missing
 * (Windows) a child process runs instead, with stdio inherited and SIGINT/SIGTERM/SIGHUP passed on.
 */
import { spawn } from 'node:child_process';
import { missingStartFlags, RELAUNCHED_ENV, startEnvironment } from './heap.ts';

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Returns when this process already runs `command` as it should (or cannot be re-executed: no script
 * path, as under `node -e`); otherwise never returns: the re-executed program takes over, and with the
 * child-process fallback this process exits as the child did.
 */
export async function relaunchForHeap(command: string): Promise<void> {
  const flags = missingStartFlags(command, { execArgv: process.execArgv, env: process.env });
  const script = process.argv[1];
  if (flags.length === 0 || script === undefined) return;
  // The caller's own node flags (--import, --enable-source-maps...) first; their NODE_OPTIONS stays as it is.
  const args = [...process.execArgv, ...flags, script, ...process.argv.slice(2)];
  // The command's own environment (heap.ts, START_ENV: read by the C library at start-up) where the caller set none.
  const env = { ...startEnvironment(command, process.env), ...process.env, [RELAUNCHED_ENV]: flags.join(' ') };
  if (process.execve) {
    try {
      process.execve(process.execPath, [process.execPath, ...args], env);
    } catch {
      // execve refused (a sandbox, an odd file system): the child process below does the same job.
    }
  }
  await runAsChild(args, env);
}

function runAsChild(args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    child.once('error', () => {
      // Could not start node again: run here, with V8's default young generation, rather than not at all.
      for (const signal of FORWARDED_SIGNALS) process.removeListener(signal, forward);
      resolve();
    });
    child.once('exit', (code, signal) => {
      for (const s of FORWARDED_SIGNALS) process.removeListener(s, forward);
      // Die of the same signal, so whoever started us sees what happened to the work.
      if (signal) process.kill(process.pid, signal);
      else process.exit(code ?? 1);
    });
  });
}
