/**
 * The status record in Prometheus' text exposition format, for node-exporter's textfile collector
 * (write it to `<dir>/etcd_dr_<cluster>.prom` atomically). Pure. Alert on e.g.
 * `time() - etcd_dr_last_success_timestamp_seconds > 3600` or `etcd_dr_last_outcome{outcome="failed"} == 1`.
 */
import type { Outcome } from '../base/outcome.ts';
import type { StatusRecord } from './status.ts';

const OUTCOMES: readonly Outcome[] = ['success', 'degraded', 'failed'];

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  const body = Object.entries(pairs)
    .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
    .join(',');
  return `{${body}}`;
}

function seconds(iso: string): string {
  return String(Date.parse(iso) / 1000);
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly samples: ReadonlyArray<{ readonly labels: Record<string, string>; readonly value: string }>;
}

/** Renders the record; with `now`, also the time the file was generated. Pure. */
export function toPrometheus(record: StatusRecord, now?: Date): string {
  const cluster = record.cluster;
  const families: Family[] = [
    {
      name: 'etcd_dr_last_attempt_timestamp_seconds',
      help: 'Unix time of the last etcd-dr run for the cluster, by operation.',
      samples: [{ labels: { cluster, operation: record.lastAttempt.operation }, value: seconds(record.lastAttempt.at) }],
    },
    {
      name: 'etcd_dr_last_outcome',
      help: 'Outcome of the last etcd-dr run: 1 for the outcome it had, 0 for the others.',
      samples: OUTCOMES.map((outcome) => ({
        labels: { cluster, outcome },
        value: outcome === record.lastAttempt.outcome ? '1' : '0',
      })),
    },
    {
      name: 'etcd_dr_site_up',
      help: 'Whether the backup site was reachable during the last run (1) or not (0).',
      samples: record.sites.map((site) => ({ labels: { cluster, store: site.store }, value: site.ok ? '1' : '0' })),
    },
  ];
  if (record.lastSuccess !== undefined) {
    families.push(
      {
        name: 'etcd_dr_last_success_timestamp_seconds',
        help: 'Unix time of the last backup run that produced a backup.',
        samples: [{ labels: { cluster }, value: seconds(record.lastSuccess.at) }],
      },
      {
        name: 'etcd_dr_last_backup_revision',
        help: 'etcd revision contained in the last backup.',
        samples: [{ labels: { cluster }, value: String(record.lastSuccess.revision) }],
      },
    );
  }
  if (now !== undefined) {
    families.push({
      name: 'etcd_dr_status_generated_timestamp_seconds',
      help: 'Unix time this file was generated.',
      samples: [{ labels: { cluster }, value: String(now.getTime() / 1000) }],
    });
  }
  const lines: string[] = [];
  for (const family of families) {
    if (family.samples.length === 0) continue;
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} gauge`);
    for (const sample of family.samples) lines.push(`${family.name}${labels(sample.labels)} ${sample.value}`);
  }
  return `${lines.join('\n')}\n`;
}
