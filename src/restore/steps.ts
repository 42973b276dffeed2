/**
 * A restore is a list of named steps (as etcdutl's restore is), run in order and logged one by one, so
 * a failure says exactly where it stopped, and what state the node is in. A cancel (cancellation.ts) is
 * taken between steps; a step that may run for minutes and changes nothing on the node while it runs
 * (a download, a health wait) can instead be abandoned mid-way.
 */
import type { Log } from '../base/log.ts';
import { messageOf } from '../errors.ts';
import { whenAborted, type Cancellation } from './cancellation.ts';

export interface Step<K extends string = string> {
  readonly key: K;
  readonly name: string;
  /**
   * What a cancel does while this step runs. `finish` (default): the step runs to its end first (a rename, a
   * chown, starting etcd: stopping half-way would leave something no one can describe). `abandon`: stop
   * waiting for it at once; only for steps that change nothing the caller cannot clean up.
   */
  readonly onCancel?: 'finish' | 'abandon';
  /** `signal` aborts on a cancel: a `finish` step may use it to cut a wait short (not a change). */
  run(signal: AbortSignal): Promise<void>;
}

export class StepFailed extends Error {
  override readonly name = 'StepFailed';
  constructor(
    readonly step: string,
    readonly completed: readonly string[],
    cause: unknown,
  ) {
    super(`step "${step}" failed: ${messageOf(cause)}`, { cause });
  }
}

/** The run was cancelled: `at` is the step not run (or abandoned); every step before it completed. */
export class StepsCancelled<K extends string = string> extends Error {
  override readonly name = 'StepsCancelled';
  constructor(
    readonly by: string,
    readonly at: K,
    readonly abandoned: boolean,
    readonly completed: readonly string[],
  ) {
    super(`cancelled by ${by} ${abandoned ? 'during' : 'before'} the step "${at}"`);
  }
}

export interface RunStepsOptions<K extends string> {
  readonly cancel?: Cancellation;
  /** Test seam: called before each step (before the cancel check), so a test can signal at an exact step. */
  readonly beforeStep?: (key: K) => Promise<void>;
  /**
   * Called after the cancel check, right before a step runs, and always awaited to its end (never raced with a
   * cancel): a record of the step written after the caller had cleaned up would outlive the run.
   */
  readonly starting?: (key: K) => Promise<void>;
}

/** Runs steps in order; returns the names of those completed, or throws StepFailed / StepsCancelled. */
export async function runSteps<K extends string>(steps: readonly Step<K>[], log: Log, options: RunStepsOptions<K> = {}): Promise<string[]> {
  const completed: string[] = [];
  const signal = options.cancel?.signal ?? new AbortController().signal;
  const cancelledBy = (): string | undefined => options.cancel?.by ?? (signal.aborted ? String(signal.reason) : undefined);
  for (const [index, step] of steps.entries()) {
    await options.beforeStep?.(step.key);
    const before = cancelledBy();
    if (before !== undefined) throw new StepsCancelled(before, step.key, false, completed);
    log.info(`step ${index + 1}/${steps.length}: ${step.name}`);
    try {
      await options.starting?.(step.key);
    } catch (error) {
      throw new StepFailed(step.name, completed, error);
    }
    const running = step.run(signal);
    try {
      if (step.onCancel === 'abandon') {
        // The abandoned promise may still settle later; nobody waits for it, so it must not be unhandled.
        running.catch(() => undefined);
        await Promise.race([running, whenAborted(signal)]);
        const during = cancelledBy();
        if (during !== undefined) throw new StepsCancelled(during, step.key, true, completed);
      } else {
        await running;
      }
    } catch (error) {
      if (error instanceof StepsCancelled) throw error;
      // A `finish` step that failed because its wait was cut short by the cancel was cancelled, not broken.
      const by = cancelledBy();
      if (by !== undefined) throw new StepsCancelled(by, step.key, true, completed);
      throw new StepFailed(step.name, completed, error);
    }
    completed.push(step.name);
  }
  return completed;
}
