/**
 * `etcd-dr status`: the newest status record across the stores, as Prometheus text on stdout or, with
 * --status-file, into node-exporter's textfile directory. CLI only: it is for cron or a systemd timer.
 */
import { clusterName } from '../config/backup.ts';
import { Inputs } from '../config/names.ts';
import { text, type SettingSource } from '../config/source.ts';
import { closeAll, storesFromSettings } from '../config/stores.ts';
import { toPrometheus } from '../notify/prometheus.ts';
import { readNewestStatus } from '../notify/status.ts';
import { writeTextfile } from '../notify/textfile.ts';

export async function statusCommand(source: SettingSource, now: Date): Promise<{ output: string; failure?: string }> {
  const cluster = clusterName(source);
  const file = text(source, Inputs.StatusFile);
  const stores = storesFromSettings(source);
  try {
    const { record, errors } = await readNewestStatus(stores, cluster);
    if (!record) return { output: '', failure: `no status record of ${cluster} on any store${errors.length ? `: ${errors.join('; ')}` : ''}` };
    if (file) {
      await writeTextfile(file, record, now);
      return { output: `wrote ${file}\n` };
    }
    return { output: toPrometheus(record, now) };
  } finally {
    await closeAll(stores);
  }
}
