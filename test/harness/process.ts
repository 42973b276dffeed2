import { execFile, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';

// Children started by the harness. If the test process exits (normally, by
// an uncaught error, or a test timeout), leftover etcd/sshd processes would
// keep ports and temp dirs busy and confuse later runs, so they are SIGKILLed.
const children = new Set<ChildProcess>();
let exitHookInstalled = false;

export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', killAll);
    // 'exit' does not fire when the process dies from a signal (the test
    // runner sends SIGTERM to a file's process on timeout/cancel), so kill
    // the children and then re-raise the signal with its default action.
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const onSignal = (): void => {
        killAll();
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      };
      process.on(sig, onSignal);
    }
  }
}

function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/** execFile (no shell) that rejects with an error containing stderr. */
export function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 64 * 1024 * 1024,
        cwd: opts.cwd,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err) {
          const e = new Error(
            `${file} ${args.join(' ')} failed: ${err.message}\n${stderr.trim()}`,
          ) as Error & { stdout: string; stderr: string };
          e.stdout = stdout;
          e.stderr = stderr;
          reject(e);
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves once the child has exited (immediately if it already has). */
export function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** SIGTERM, then SIGKILL if the child has not exited after graceMs. */
export async function terminate(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = waitExit(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Connect to host:port; resolves with the first data chunk (or '' if data not wanted). */
export function tcpProbe(port: number, wantData: boolean, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('probe timeout'));
    }, timeoutMs);
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.once('connect', () => {
      if (!wantData) {
        clearTimeout(timer);
        sock.destroy();
        resolve('');
      }
    });
    sock.once('data', (d: Buffer) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(d.toString('utf8'));
    });
  });
}

/** Last n lines of a log file, for error messages. */
export async function tail(file: string, n = 30): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}
