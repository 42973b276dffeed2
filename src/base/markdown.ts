/** Markdown for job summaries, issues and the CLI. */

/**
 * One table cell: a `|` would end the cell and a line break the row, so names and error texts that contain
 * them cannot break a table; a backslash is escaped first, or `a\|b` would turn into an escaped backslash
 * followed by a cell border.
 */
export function markdownCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
