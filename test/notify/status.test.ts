import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { NotFoundError } from '../../src/errors.ts';
import type { Store, StoredFile } from '../../src/stores/store.ts';
import { toPrometheus, escapeLabelValue } from '../../src/notify/prometheus.ts';
import {
  nextStatus,
  readNewestStatus,
  readStatus,
  writeStatus,
  type RunReport,
  type StatusRecord,
} from '../../src/notify/status.ts';

/** Just enough of a Store for status.json: files in memory, optionally failing every call. */
class MemoryStore implements Store {
  readonly files = new Map<string, Buffer>();
  writes: Array<{ folder: string; name: string; replace: boolean | undefined }> = [];
  failWith: Error | undefined;
  constructor(readonly id: string) {}
  private check(): void {
    if (this.failWith) throw this.failWith;
  }
  async write(folder: string, name: string, content: Readable): Promise<number> {
    this.check();
    if (this.files.has(`${folder}/${name}`)) throw new Error(`${folder}/${name} exists`);
    const chunks: Buffer[] = [];
    for await (const chunk of content) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    this.files.set(`${folder}/${name}`, data);
    return data.length;
  }
  /** Records the files published (the rename that makes a written file visible under its name). */
  async rename(folder: string, from: string, to: string, options?: { replace?: boolean }): Promise<void> {
    this.check();
    this.writes.push({ folder, name: to, replace: options?.replace });
    if (this.files.has(`${folder}/${to}`) && !options?.replace) throw new Error(`${folder}/${to} exists`);
    const data = this.files.get(`${folder}/${from}`);
    if (!data) throw new NotFoundError(`${folder}/${from} not found on ${this.id}`);
    this.files.delete(`${folder}/${from}`);
    this.files.set(`${folder}/${to}`, data);
  }
  async readFile(folder: string, name: string): Promise<Buffer> {
    this.check();
    const data = this.files.get(`${folder}/${name}`);
    if (!data) throw new NotFoundError(`${folder}/${name} not found on ${this.id}`);
    return data;
  }
  async download(folder: string, name: string): Promise<Readable> {
    return Readable.from([await this.readFile(folder, name)]);
  }
  async list(): Promise<StoredFile[]> {
    return [];
  }
  async remove(folder: string, name: string): Promise<void> {
    this.files.delete(`${folder}/${name}`);
  }
  async open(): Promise<void> {}
  async close(): Promise<void> {}
}

const T1 = new Date('2026-03-01T10:00:00.000Z');
const T2 = new Date('2026-03-01T10:15:00.000Z');
const T3 = new Date('2026-03-01T10:30:00.000Z');
const DC1 = 'sftp://backup@dc1:22/srv/etcd';
const DC2 = 'sftp://backup@dc2:22/srv/etcd';

const successRun: RunReport = {
  cluster: 'prod',
  operation: 'backup',
  outcome: 'success',
  backup: { name: 'prod-20260301T100000Z-etcd-0-r100', revision: 100 },
  runner: 'runner-1',
  runUrl: 'https://github.com/acme/infra/actions/runs/1',
  sites: [
    { store: DC1, ok: true, newestBackup: 'prod-20260301T100000Z-etcd-0-r100' },
    { store: DC2, ok: true, newestBackup: 'prod-20260301T100000Z-etcd-0-r100' },
  ],
};
const degradedRun: RunReport = {
  cluster: 'prod',
  operation: 'backup',
  outcome: 'degraded',
  backup: { name: 'prod-20260301T101500Z-etcd-1-r150', revision: 150 },
  error: 'upload to dc2: connection refused',
  sites: [
    { store: DC1, ok: true, newestBackup: 'prod-20260301T101500Z-etcd-1-r150' },
    { store: DC2, ok: false, error: 'connection refused', newestBackup: 'prod-20260301T100000Z-etcd-0-r100' },
  ],
};
const failedRun: RunReport = {
  cluster: 'prod',
  operation: 'backup',
  outcome: 'failed',
  error: 'etcd: no member reachable',
  runner: 'runner-2',
  sites: [
    { store: DC1, ok: true, newestBackup: 'prod-20260301T101500Z-etcd-1-r150' },
    { store: DC2, ok: true, newestBackup: 'prod-20260301T100000Z-etcd-0-r100' },
  ],
};

test('status after a success records the attempt, the backup as lastSuccess and both sites', () => {
  const record = nextStatus(undefined, successRun, T1);
  assert.deepEqual(record, {
    cluster: 'prod',
    lastAttempt: {
      at: '2026-03-01T10:00:00.000Z',
      operation: 'backup',
      outcome: 'success',
      backup: 'prod-20260301T100000Z-etcd-0-r100',
      runner: 'runner-1',
      runUrl: 'https://github.com/acme/infra/actions/runs/1',
    },
    lastSuccess: { at: '2026-03-01T10:00:00.000Z', backup: 'prod-20260301T100000Z-etcd-0-r100', revision: 100 },
    sites: successRun.sites,
  });
});

test('status after a degraded backup run moves lastSuccess to the new backup and marks the down site', () => {
  const record = nextStatus(nextStatus(undefined, successRun, T1), degradedRun, T2);
  assert.equal(record.lastAttempt.outcome, 'degraded');
  assert.equal(record.lastAttempt.error, 'upload to dc2: connection refused');
  assert.equal(record.lastAttempt.runner, undefined);
  assert.deepEqual(record.lastSuccess, {
    at: '2026-03-01T10:15:00.000Z',
    backup: 'prod-20260301T101500Z-etcd-1-r150',
    revision: 150,
  });
  assert.deepEqual(
    record.sites.map((s) => [s.store, s.ok, s.error]),
    [
      [DC1, true, undefined],
      [DC2, false, 'connection refused'],
    ],
  );
});

test('status after a failure keeps the previous lastSuccess and records the error', () => {
  const afterDegraded = nextStatus(nextStatus(undefined, successRun, T1), degradedRun, T2);
  const record = nextStatus(afterDegraded, failedRun, T3);
  assert.deepEqual(record.lastAttempt, {
    at: '2026-03-01T10:30:00.000Z',
    operation: 'backup',
    outcome: 'failed',
    error: 'etcd: no member reachable',
    runner: 'runner-2',
  });
  assert.deepEqual(record.lastSuccess, afterDegraded.lastSuccess);
  // A first-ever failure has no lastSuccess at all.
  assert.equal(nextStatus(undefined, failedRun, T3).lastSuccess, undefined);
  // A successful verify is an attempt, not a new backup.
  const verified = nextStatus(afterDegraded, { ...successRun, operation: 'verify' }, T3);
  assert.deepEqual(verified.lastSuccess, afterDegraded.lastSuccess);
  assert.equal(verified.lastAttempt.operation, 'verify');
});

test('writeStatus replaces <cluster>/status.json on every store; a failing store is reported, not thrown', async () => {
  const dc1 = new MemoryStore(DC1);
  const dc2 = new MemoryStore(DC2);
  const first = nextStatus(undefined, successRun, T1);
  assert.deepEqual(await writeStatus([dc1, dc2], 'prod', first), { written: [DC1, DC2], errors: [] });
  const second = nextStatus(first, failedRun, T3);
  dc2.failWith = new Error('connection refused');
  const result = await writeStatus([dc1, dc2], 'prod', second);
  assert.deepEqual(result.written, [DC1]);
  assert.equal(result.errors.length, 1);
  assert.equal(result.errors[0]!.store, DC2);
  assert.match(result.errors[0]!.error, /writing prod\/status\.json to sftp:\/\/backup@dc2:22\/srv\/etcd: connection refused/);
  assert.deepEqual(dc1.writes.map((w) => [w.folder, w.name, w.replace]), [
    ['prod', 'status.json', true],
    ['prod', 'status.json', true],
  ]);
  assert.deepEqual(await readStatus(dc1, 'prod'), second);
  dc2.failWith = undefined;
  assert.deepEqual(await readStatus(dc2, 'prod'), first);
  // The newest record wins when reading from several sites.
  assert.deepEqual(await readNewestStatus([dc2, dc1], 'prod'), { record: second, errors: [] });
});

test('readNewestStatus takes the newest attempt and the newest lastSuccess any site knows', async () => {
  const dc1 = new MemoryStore(DC1);
  const dc2 = new MemoryStore(DC2);
  const first = nextStatus(undefined, successRun, T1);
  await writeStatus([dc1, dc2], 'prod', first);
  // dc2 misses the degraded run (it was down) ...
  const degraded = nextStatus(first, degradedRun, T2);
  await writeStatus([dc1], 'prod', degraded);
  // ... and dc1 misses the failure, which only knew dc2's older record.
  const failed = nextStatus(first, failedRun, T3);
  await writeStatus([dc2], 'prod', failed);
  const { record, errors } = await readNewestStatus([dc1, dc2], 'prod');
  assert.deepEqual(errors, []);
  assert.deepEqual(record?.lastAttempt, failed.lastAttempt);
  assert.deepEqual(record?.lastSuccess, degraded.lastSuccess);
});

test('readStatus: a missing file is undefined; a corrupt one is an error naming the store', async () => {
  const dc1 = new MemoryStore(DC1);
  assert.equal(await readStatus(dc1, 'prod'), undefined);
  dc1.files.set('prod/status.json', Buffer.from('{"cluster":"prod"}'));
  await assert.rejects(readStatus(dc1, 'prod'), /reading prod\/status\.json from sftp:\/\/backup@dc1:22\/srv\/etcd: status\.lastAttempt is missing/);
  const both = await readNewestStatus([dc1, new MemoryStore(DC2)], 'prod');
  assert.equal(both.record, undefined);
  assert.equal(both.errors.length, 1);
});

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*)\} (-?[0-9.e+]+)$/;

function parseExposition(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  assert.ok(text.endsWith('\n'));
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) gauge$/.exec(line);
    if (type) {
      typed.add(type[1]!);
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `line does not parse as name{labels} value: ${JSON.stringify(line)}`);
    assert.ok(typed.has(m[1]!), `sample before its TYPE line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const value = Number(m[3]);
    assert.ok(Number.isFinite(value), line);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

test('prometheus output parses line by line as name{labels} value, with HELP/TYPE and every metric', () => {
  const record = nextStatus(nextStatus(undefined, successRun, T1), failedRun, T3);
  const samples = parseExposition(toPrometheus(record, T3));
  const get = (name: string, labels: Record<string, string>) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  assert.equal(get('etcd_dr_last_attempt_timestamp_seconds', { cluster: 'prod', operation: 'backup' }), T3.getTime() / 1000);
  assert.equal(get('etcd_dr_last_success_timestamp_seconds', { cluster: 'prod' }), T1.getTime() / 1000);
  assert.equal(get('etcd_dr_last_outcome', { cluster: 'prod', outcome: 'failed' }), 1);
  assert.equal(get('etcd_dr_last_outcome', { cluster: 'prod', outcome: 'success' }), 0);
  assert.equal(get('etcd_dr_last_outcome', { cluster: 'prod', outcome: 'degraded' }), 0);
  assert.equal(get('etcd_dr_site_up', { cluster: 'prod', store: DC1 }), 1);
  assert.equal(get('etcd_dr_last_backup_revision', { cluster: 'prod' }), 100);
  assert.equal(get('etcd_dr_status_generated_timestamp_seconds', { cluster: 'prod' }), T3.getTime() / 1000);

  const degraded = parseExposition(toPrometheus(nextStatus(undefined, degradedRun, T2)));
  assert.equal(degraded.find((s) => s.name === 'etcd_dr_site_up' && s.labels['store'] === DC2)?.value, 0);
  assert.equal(degraded.some((s) => s.name === 'etcd_dr_status_generated_timestamp_seconds'), false);
  // No success yet: no success/revision samples rather than a misleading 0.
  const none = parseExposition(toPrometheus(nextStatus(undefined, failedRun, T3)));
  assert.equal(none.some((s) => s.name === 'etcd_dr_last_success_timestamp_seconds'), false);
});

test('prometheus label values are escaped (backslash, quote, newline) and round-trip', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const odd: StatusRecord = {
    ...nextStatus(undefined, successRun, T1),
    sites: [{ store: 'C:\\backups "main"\nsite', ok: true }],
  };
  const samples = parseExposition(toPrometheus(odd));
  assert.equal(samples.find((s) => s.name === 'etcd_dr_site_up')?.labels['store'], 'C:\\backups "main"\nsite');
});
