/**
 * What a command hands back to its front end (the action or the CLI): outputs by name, a markdown
 * summary, and whether the step failed. Front ends only print; they decide nothing.
 */
import { markdownCell } from '../base/markdown.ts';
import type { Outputs } from '../config/names.ts';
import type { Outcome } from '../base/outcome.ts';

export interface CommandReport {
  readonly outcome: Outcome;
  readonly outputs: Partial<Record<Outputs, string>>;
  /** Markdown for the job summary (and the CLI's stdout). */
  readonly summary: string;
  /** Set when the step must fail: one sentence saying what and why. */
  readonly failure?: string;
}

/** A markdown table from a header row and data rows; cells are escaped so names cannot break it. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  return [
    `| ${header.map(markdownCell).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(markdownCell).join(' | ')} |`),
  ].join('\n');
}

/** Adds after-run notes (status record, GitHub issue) to a report's summary. */
export function withNotes(report: CommandReport, notes: readonly string[]): CommandReport {
  if (notes.length === 0) return report;
  return { ...report, summary: `${report.summary}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n` };
}
