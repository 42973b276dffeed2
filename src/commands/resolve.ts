/** Finding the backup a restore or drill asked for, in the catalog across the stores. */
import { findBackup, type BackupChoice, type CatalogEntry } from '../repository/listing.ts';
import { InputError } from '../errors.ts';
import type { Store } from '../stores/store.ts';

export async function resolveBackup(stores: readonly Store[], cluster: string, choice: BackupChoice): Promise<CatalogEntry> {
  // Reads only the manifests of the backup asked for, not the whole catalog (see findBackup).
  const { entry, catalog } = await findBackup(stores, cluster, choice);
  const down = catalog.failedStores.map((f) => `${f.storeId} (${f.error})`).join('; ');
  if (catalog.stores.length === 0) throw new Error(`no store could be listed: ${down}`);
  if (!entry) {
    const what = choice.kind === 'latest' ? `cluster ${cluster} has no usable backup` : `backup ${choice.name} is not in the catalog of cluster ${cluster}`;
    throw new InputError(`${what} (listed ${catalog.stores.map((s) => s.storeId).join(', ')}${down ? `; could not list ${down}` : ''}); run the list command to see what there is`);
  }
  if (entry.copies.length === 0) {
    throw new Error(`backup ${entry.name} has no usable copy: ${entry.damaged.map((d) => `${d.storeId}: ${d.problem}`).join('; ')}`);
  }
  return entry;
}
