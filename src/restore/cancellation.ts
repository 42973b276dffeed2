/**
 * A restore's answer to SIGINT and SIGTERM. The Actions runner cancels a step (a cancelled run or a
 * `timeout-minutes`) by sending SIGINT, then SIGTERM about 7.5 s later, then SIGKILL about 2.5 s after that; a
 * person at a terminal presses Ctrl-C. Node's default for both signals is to die on the spot, which between
 * "stop etcd" and "start etcd" leaves the member down. While a restore runs, the signals only ask it to stop
 * at a safe point (see SAFE_STATE in restoreMember.ts); later signals are logged and otherwise ignored, so a
 * second one cannot interrupt the putting back. SIGKILL cannot be caught: the state file (progress.ts) and
 * the action's post step cover that.
 */
import type { Log } from '../base/log.ts';

export interface Cancellation {
  /** Aborted on the first signal; its reason is the signal's name. */
  readonly signal: AbortSignal;
  /** The signal that cancelled the restore, or undefined while it has not been cancelled. */
  readonly by: string | undefined;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** Listens for SIGINT and SIGTERM on `proc` until dispose(); the first one cancels. */
export function listenForCancel(log: Log, proc: Pick<NodeJS.Process, 'on' | 'removeListener'> = process): Cancellation & { dispose(): void } {
  const controller = new AbortController();
  let by: string | undefined;
  const onSignal = (name: NodeJS.Signals): void => {
    if (by === undefined) {
      by = name;
      log.warning(`received ${name}: cancelling the restore at the next safe point (the next lines say what was done)`);
      controller.abort(name);
      return;
    }
    log.warning(`received ${name} again: ignored until the restore has put etcd back in a safe state`);
  };
  for (const name of SIGNALS) proc.on(name, onSignal);
  return {
    signal: controller.signal,
    get by() {
      return by;
    },
    dispose: () => {
      for (const name of SIGNALS) proc.removeListener(name, onSignal);
    },
  };
}

/** A Cancellation that never fires (dry runs in-process, callers that handle signals themselves). */
export function neverCancelled(): Cancellation {
  return { signal: new AbortController().signal, by: undefined };
}

/** Resolves (never rejects) when `signal` aborts; for racing a step that cannot itself be interrupted. */
export function whenAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
