/**
 * The catalog as a human reads it: a markdown table of every backup across the stores, for job summaries.
 * The catalog itself (listing, merging, finding a backup) is the repository's (src/repository/listing.ts).
 */
import { markdownCell } from '../base/markdown.ts';
import type { Catalog } from '../repository/listing.ts';

export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * A markdown table of the catalog for job summaries (name, time, revision, size, member, sites,
 * consistent), followed by notes on stores that were down, unreadable manifests and damaged copies.
 */
export function formatCatalogTable(catalog: Catalog): string {
  const reachable = catalog.stores.length;
  const lines = [
    '| Backup | Time (UTC) | Revision | Size | Member | Sites | Consistent |',
    '| --- | --- | ---: | ---: | --- | --- | --- |',
  ];
  for (const e of catalog.entries) {
    const missing = catalog.stores.map((s) => s.storeId).filter((id) => !e.copies.some((c) => c.storeId === id));
    const sites = `${e.copies.length}/${reachable}${missing.length > 0 ? ` (missing on ${missing.join(', ')})` : ''}`;
    const consistent = e.manifest === undefined ? 'unreadable' : e.consistent ? 'yes' : '**no**';
    lines.push(
      `| ${[
        `\`${e.name}\``,
        e.time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        String(e.revision),
        e.size === undefined ? '?' : formatSize(e.size),
        e.sourceMember,
        sites,
        consistent,
      ]
        .map(markdownCell)
        .join(' | ')} |`,
    );
  }
  if (catalog.entries.length === 0) lines.push('| _no backups_ | | | | | | |');
  const notes: string[] = [];
  for (const f of catalog.failedStores) notes.push(`- store down, skipped: ${f.error}`);
  for (const u of catalog.unreadable) notes.push(`- unreadable manifest \`${u.file}\` on ${u.storeId} (kept): ${u.error}`);
  for (const e of catalog.entries) {
    for (const d of e.damaged) {
      if (e.manifest !== undefined && !d.problem.startsWith('manifest unreadable')) {
        notes.push(`- \`${e.name}\` on ${d.storeId}: ${d.problem}`);
      }
    }
    if (e.manifest !== undefined && !e.consistent) notes.push(`- \`${e.name}\`: copies disagree on the object's sha256 or size`);
  }
  return notes.length > 0 ? `${lines.join('\n')}\n\n${notes.join('\n')}\n` : `${lines.join('\n')}\n`;
}
