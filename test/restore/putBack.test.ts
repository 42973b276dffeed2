/**
 * The safe-state rule on its own, on real directories: the rows of SAFE_STATE that the signal tests of
 * cancel.test.ts cannot reach with one etcd member (no old data dir; a disk that matches no row), the progress
 * file's format, and how each kind of etcd-service starts etcd again when it is not known whether it runs.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { progressFile, readProgress, writeProgress, type RestoreProgress } from '../../src/restore/progress.ts';
import { putBack } from '../../src/restore/safeState.ts';
import { serviceControl, type ServiceDeps } from '../../src/restore/service.ts';
import { recordingLog } from '../harness/engine.ts';
import { tempDir } from '../harness/tmp.ts';

async function node(): Promise<{ dir: string; progress: RestoreProgress }> {
  const dir = await tempDir('etcd-dr-putback-');
  const dataDir = path.join(dir, 'etcd');
  return {
    dir,
    progress: {
      format: 1,
      dataDir,
      staging: `${dataDir}.restoring-20261201T000000Z`,
      aside: `${dataDir}.before-restore-20261201T000000Z`,
      scratch: path.join(dir, '.etcd-dr-etcd-abc'),
      owner: null,
      dryRun: false,
      backup: 'prod-20261130T000000Z-m1-r10',
      step: 'stop',
      pid: 1,
      startedAt: '2026-12-01T00:00:00.000Z',
    },
  };
}

async function dataDirWith(dir: string, marker: string): Promise<void> {
  await mkdir(path.join(dir, 'member', 'snap'), { recursive: true });
  await writeFile(path.join(dir, 'member', 'snap', 'db'), marker);
}

describe('putBack', () => {
  it('with no old data dir to go back to, finishes the restore instead of starting etcd on nothing', async () => {
    const { progress } = await node();
    const p = { ...progress, aside: null, step: 'move-in' as const };
    await dataDirWith(p.staging, 'restored');
    await writeProgress(p);
    let starts = 0;
    const done = await putBack(p, { log: recordingLog(), start: async () => (starts++, 'started etcd (test)') });
    assert.match(done, /with no old data directory to go back to: finished the restore \(moved the restored data into \S+\) and started etcd \(test\)/);
    assert.equal(starts, 1);
    assert.equal(await readFile(path.join(p.dataDir, 'member', 'snap', 'db'), 'utf8'), 'restored');
    assert.equal(existsSync(p.staging), false);
    assert.equal(existsSync(progressFile(p.dataDir)), false, 'the progress file is removed once the node is safe');
  });

  it('a putting back cut short after the old data was back and the restored copy removed only starts etcd', async () => {
    const { progress } = await node();
    const p = { ...progress, step: 'move-aside' as const };
    await dataDirWith(p.dataDir, 'old');
    await writeProgress(p);
    let starts = 0;
    const done = await putBack(p, { log: recordingLog(), start: async () => (starts++, 'started etcd (test)') });
    assert.match(done, /after the old data was put back in \S+ \(the restored copy was already removed\): started etcd \(test\)/);
    assert.equal(starts, 1);
    assert.equal(await readFile(path.join(p.dataDir, 'member', 'snap', 'db'), 'utf8'), 'old');
    assert.equal(existsSync(progressFile(p.dataDir)), false);
  });

  it('changes nothing, starts nothing and keeps the progress file when the disk matches no row', async () => {
    const { progress } = await node();
    const p = { ...progress, step: 'move-in' as const };
    await dataDirWith(p.aside!, 'old'); // the old data aside, and neither the data dir nor the staged copy
    await writeProgress(p);
    let starts = 0;
    await assert.rejects(
      putBack(p, { log: recordingLog(), start: async () => (starts++, 'started') }),
      /cannot tell how to put the node back \(last step begun: move-in; \S+ missing, \S+ missing, \S+ exists\); nothing was changed/,
    );
    assert.equal(starts, 0);
    assert.equal(await readFile(path.join(p.aside!, 'member', 'snap', 'db'), 'utf8'), 'old');
    assert.ok(existsSync(progressFile(p.dataDir)));
  });
});

describe('the progress file', () => {
  it('is written 0600 with no temporary file left, and read back as written', async () => {
    const { dir, progress } = await node();
    await writeProgress(progress);
    await writeProgress({ ...progress, step: 'move-aside' });
    assert.equal((await stat(progressFile(progress.dataDir))).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), [path.basename(progressFile(progress.dataDir))]);
    assert.deepEqual(await readProgress(progress.dataDir), { ...progress, step: 'move-aside' });
  });

  it('refuses a file that is not a progress record of this data dir, asking for a look by hand', async () => {
    const { progress } = await node();
    await writeFile(progressFile(progress.dataDir), '{"format":1');
    await assert.rejects(readProgress(progress.dataDir), /is not JSON .*put etcd's data back by hand/);
    await writeFile(progressFile(progress.dataDir), JSON.stringify({ ...progress, dataDir: '/var/lib/other' }));
    await assert.rejects(readProgress(progress.dataDir), /is not a restore progress record for \S+\/etcd/);
  });
});

describe('resume: starting etcd when it is not known whether it runs', () => {
  const deps = (serving: boolean, calls: string[][]): ServiceDeps => ({
    run: async (cmd, args) => {
      calls.push([cmd, ...args]);
      return { stdout: '', stderr: '' };
    },
    log: recordingLog(),
    isServing: async () => serving,
    sleep: async () => undefined,
  });

  it('static pod: moves a held manifest back, leaves one in place alone, and refuses when both exist', async () => {
    const dir = await tempDir('etcd-dr-resume-');
    const manifest = path.join(dir, 'manifests', 'etcd.yaml');
    const held = path.join(dir, 'etcd-dr-held', 'etcd.yaml');
    await mkdir(path.dirname(manifest), { recursive: true });
    await mkdir(path.dirname(held), { recursive: true });
    const control = serviceControl({ kind: 'static-pod', manifest }, deps(false, []));
    await writeFile(held, 'pod');
    assert.match(await control.resume!(), /started etcd \(moved \S+etcd-dr-held\/etcd\.yaml back to \S+manifests\/etcd\.yaml\)/);
    assert.equal(await readFile(manifest, 'utf8'), 'pod');
    assert.match(await control.resume!(), /left etcd's manifest in place/);
    await writeFile(held, 'stale');
    await assert.rejects(control.resume!(), /both \S+ and a held copy \S+ exist/);
  });

  it('systemd starts the unit (a no-op when it runs); commands run start-command only when etcd does not answer', async () => {
    const calls: string[][] = [];
    assert.match(await serviceControl({ kind: 'systemd', unit: 'etcd' }, deps(true, calls)).resume!(), /started etcd \(systemd unit etcd\)/);
    const commands = { kind: 'commands' as const, stop: ['stop-etcd'], start: ['start-etcd', '--now'] };
    assert.match(await serviceControl(commands, deps(true, calls)).resume!(), /left etcd running \(it already answers/);
    assert.match(await serviceControl(commands, deps(false, calls)).resume!(), /started etcd \(start-command start-etcd --now\)/);
    assert.deepEqual(calls, [['systemctl', 'start', 'etcd'], ['start-etcd', '--now']]);
  });
});
