/**
 * A restore is a list of named steps (as etcdutl's restore is), run in order and logged one by one, so
 * a failure says exactly where it stopped, and what state the node is in.
 */
import type { Log } from '../engine/log.ts';
import { messageOf } from '../errors.ts';

export interface Step {
  readonly name: string;
  run(): Promise<void>;
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

/** Runs steps in order; returns the names of those completed, or throws StepFailed naming the failed one. */
export async function runSteps(steps: readonly Step[], log: Log): Promise<string[]> {
  const completed: string[] = [];
  for (const [index, step] of steps.entries()) {
    log.info(`step ${index + 1}/${steps.length}: ${step.name}`);
    try {
      await step.run();
    } catch (error) {
      throw new StepFailed(step.name, completed, error);
    }
    completed.push(step.name);
  }
  return completed;
}
