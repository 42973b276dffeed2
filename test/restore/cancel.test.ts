/**
 * A cancelled or killed restore never leaves etcd stopped, and never loses the old data. A real etcd (3.4, 3.5) member
 * is restored by a real restore process (the CLI's code path, test/restore/fixtures/pausingRestore.ts) that is
 * sent SIGINT or SIGTERM just before each of its steps, as the Actions runner does on a cancel or a timeout;
 * etcd is stopped and started by the test's own stop-command and start-command scripts (a pid file), as an
 * operator's scripts would. Then: a SIGKILL'd restore is put back by the action's post step.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { runCommand } from '../../src/commands/index.ts';
import { progressFile, RESTORE_STEPS, type RestoreStep } from '../../src/restore/progress.ts';
import { SAFE_STATE } from '../../src/restore/safeState.ts';
import { REPO_ROOT } from '../harness/actionRunner.ts';
import { ETCD_VERSIONS, etcdBinaries, memberFlags } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { run, sleep, tcpProbe } from '../harness/process.ts';
import { commandDeps, settingsFrom } from '../harness/settings.ts';
import { tempDir } from '../harness/tmp.ts';

const PAUSING_RESTORE = path.join(REPO_ROOT, 'test', 'restore', 'fixtures', 'pausingRestore.ts');
const BUMP = 1_000_000_000;

/** One etcd member managed through a pid file by shell scripts, the way an operator's start/stop scripts would. */
interface Node {
  readonly dir: string;
  readonly dataDir: string;
  readonly startScript: string;
  readonly stopScript: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const pidFiles: string[] = [];
// etcd outlives the scripts that start it: if this test process dies, do not leave members running.
process.on('exit', () => {
  for (const file of pidFiles) {
    try {
      process.kill(Number(readFileSync(file, 'utf8').trim()), 'SIGKILL');
    } catch {
      // not running
    }
  }
});

for (const version of ETCD_VERSIONS) {
  describe(`a cancelled restore never leaves etcd stopped (etcd ${version})`, () => {
    const binaries = etcdBinaries(version);
    let root: string;
    let clientUrl: string;
    let peerUrl: string;
    let template: string;
    let backupName: string;
    let restoredKeys: number;
    const nodes: Node[] = [];

    /** Runs `body` on a fresh copy of the old data, with etcd started; stops etcd afterwards whatever happened. */
    async function withNode(name: string, body: (node: Node) => Promise<void>): Promise<void> {
      const node = await makeNode(name, true);
      await node.start();
      try {
        await body(node);
      } finally {
        await node.stop();
      }
    }

    async function makeNode(name: string, fromTemplate: boolean): Promise<Node> {
      const dir = path.join(root, name);
      const dataDir = path.join(dir, 'etcd');
      await mkdir(dir, { recursive: true });
      if (fromTemplate) await cp(template, dataDir, { recursive: true });
      const pidFile = path.join(dir, 'etcd.pid');
      pidFiles.push(pidFile);
      const flags = memberFlags({
        name: 'm1',
        dataDir,
        clientUrl,
        peerUrl,
        initialCluster: `m1=${peerUrl}`,
        token: 'cancel-test',
        state: 'new',
      });
      const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
      const startScript = path.join(dir, 'start-etcd.sh');
      const stopScript = path.join(dir, 'stop-etcd.sh');
      await writeFile(
        startScript,
        [
          '#!/bin/sh',
          // Detached from the caller's pipes, so the script ends while etcd runs on.
          `${q(binaries.etcd)} ${flags.map(q).join(' ')} </dev/null >>${q(path.join(dir, 'etcd.log'))} 2>&1 &`,
          `echo $! > ${q(pidFile)}`,
          '',
        ].join('\n'),
        { mode: 0o755 },
      );
      await writeFile(
        stopScript,
        [
          '#!/bin/sh',
          `pid=$(cat ${q(pidFile)} 2>/dev/null) || exit 0`,
          'kill "$pid" 2>/dev/null || exit 0',
          // Gone, or a zombie nobody reaped (etcd's parent, the start script, has exited).
          `while [ -d /proc/$pid ] && ! grep -q '^State:[[:space:]]*Z' /proc/$pid/status 2>/dev/null; do sleep 0.1; done`,
          '',
        ].join('\n'),
        { mode: 0o755 },
      );
      const node: Node = {
        dir,
        dataDir,
        startScript,
        stopScript,
        start: async () => {
          await run('/bin/sh', [startScript]);
          await waitServing();
        },
        stop: async () => {
          await run('/bin/sh', [stopScript], { timeoutMs: 60_000 });
        },
      };
      nodes.push(node);
      return node;
    }

    async function etcdctl(args: string[]): Promise<string> {
      return (await run(binaries.etcdctl, [`--endpoints=${clientUrl}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' } })).stdout;
    }

    /** Polls until the member answers a linearizable read (a wait, not a timed assertion: 60 s is far beyond need). */
    async function waitServing(): Promise<void> {
      for (let i = 0; ; i++) {
        try {
          await tcpProbe(Number(new URL(clientUrl).port), false, 500);
          await etcdctl(['get', '/probe']);
          return;
        } catch (error) {
          if (i >= 600) throw new Error(`etcd at ${clientUrl} does not answer: ${String(error)}`);
          await sleep(100);
        }
      }
    }

    /** What the running member holds: the old data (written after the backup) or the restored data (bumped). */
    async function serving(): Promise<'old' | 'restored'> {
      await waitServing();
      const afterBackup = (await etcdctl(['get', '/after-backup', '--print-value-only'])).trim();
      const status = JSON.parse(await etcdctl(['endpoint', 'status', '-w', 'json'])) as Array<{ Status: { header: { revision: number } } }>;
      const revision = status[0]!.Status.header.revision;
      const keys = (await etcdctl(['get', '/registry/', '--prefix', '--keys-only'])).split('\n').filter(Boolean).length;
      // etcd 3.4 has no etcdutl: its restores are not bumped.
      const bumped = version === '3.4' || revision > BUMP;
      if (afterBackup === 'old data only' && revision < BUMP) return 'old';
      if (afterBackup === '' && bumped && keys === restoredKeys) return 'restored';
      throw new Error(`etcd serves neither the old nor the restored data: /after-backup=${JSON.stringify(afterBackup)}, revision ${revision}, ${keys} keys`);
    }

    function restoreFlags(node: Node, overrides: Record<string, string> = {}): string[] {
      const inputs: Record<string, string> = {
        'cluster-name': 'prod',
        stores: `file://${path.join(root, 'store')}`,
        backup: backupName,
        confirm: 'prod',
        'data-dir': node.dataDir,
        'member-name': 'm1',
        'initial-cluster': `m1=${peerUrl}`,
        'initial-advertise-peer-urls': peerUrl,
        'stop-command': `/bin/sh ${node.stopScript}`,
        'start-command': `/bin/sh ${node.startScript}`,
        endpoints: clientUrl,
        'etcd-bin-dir': binaries.binDir,
        'open-issue-on-failure': 'false',
        ...overrides,
      };
      return Object.entries(inputs).flatMap(([name, value]) => [`--${name}`, value]);
    }

    function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(ETCD|GITHUB_|INPUT_|RUNNER_)/.test(k)));
      return { ...env, ...extra };
    }

    interface Restore {
      readonly child: ChildProcess;
      /** Resolves with the line "paused before <step>" once the restore waits there. */
      paused(step: RestoreStep): Promise<void>;
      /** Resolves once the restore has logged `text` (on stderr, where the CLI logs). */
      logged(text: string): Promise<void>;
      readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
    }

    function startRestore(args: string[], env: NodeJS.ProcessEnv, script = PAUSING_RESTORE): Restore {
      // The pausing restore is always a restore; the CLI is told the command.
      const argv = script === PAUSING_RESTORE ? args : ['restore', ...args];
      const child = spawn(process.execPath, ['--import', 'tsx', script, ...argv], {
        cwd: REPO_ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      const waiters: Array<() => void> = [];
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        for (const w of waiters) w();
      });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        for (const w of waiters) w();
      });
      const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
      );
      return {
        child,
        done,
        paused: (step) =>
          new Promise((resolve, reject) => {
            const check = (): void => {
              if (stdout.includes(`paused before ${step}\n`)) resolve();
            };
            waiters.push(check);
            check();
            void done.then((r) => reject(new Error(`the restore ended (code ${r.code}) before step ${step}:\n${r.stdout}\n${r.stderr}`)));
          }),
        logged: (text) =>
          new Promise((resolve, reject) => {
            const check = (): void => {
              if (stderr.includes(text)) resolve();
            };
            waiters.push(check);
            check();
            void done.then((r) => reject(new Error(`the restore ended (code ${r.code}) before logging ${text}:\n${r.stderr}`)));
          }),
      };
    }

    /** Files the restore may leave beside the data dir: none but the old data moved aside (when it went forward). */
    async function leftovers(node: Node): Promise<{ aside: string[]; other: string[] }> {
      const names = (await readdir(node.dir)).filter((n) => n !== 'etcd' && !/\.sh$|^etcd\.(pid|log)$/.test(n));
      return { aside: names.filter((n) => /^etcd\.before-restore-\d{8}T\d{6}Z$/.test(n)), other: names.filter((n) => !/^etcd\.before-restore-/.test(n)) };
    }

    async function assertOldDataKept(node: Node, outcome: 'old' | 'restored'): Promise<void> {
      const { aside, other } = await leftovers(node);
      assert.deepEqual(other, [], 'no staging directory, scratch directory or progress file is left');
      if (outcome === 'old') {
        assert.deepEqual(aside, [], 'the old data is back in the data dir, not aside');
      } else {
        assert.equal(aside.length, 1, 'the old data was moved aside once');
        assert.ok((await stat(path.join(node.dir, aside[0]!, 'member', 'snap', 'db'))).isFile(), 'the old data dir moved aside is whole');
      }
    }

    before(async () => {
      root = await tempDir('etcd-dr-cancel-');
      clientUrl = `http://127.0.0.1:${await freePort()}`;
      peerUrl = `http://127.0.0.1:${await freePort()}`;
      const origin = await makeNode('origin', false);
      await origin.start();
      for (let i = 0; i < 12; i++) await etcdctl(['put', `/registry/pods/default/app-${i}`, JSON.stringify({ i })]);
      const backup = await runCommand(
        'backup',
        settingsFrom({ 'cluster-name': 'prod', stores: `file://${path.join(root, 'store')}`, endpoints: clientUrl, 'open-issue-on-failure': 'false' }),
        commandDeps(),
      );
      assert.equal(backup.outcome, 'success', backup.summary);
      backupName = backup.outputs['backup-name']!;
      restoredKeys = 12;
      // Only in the old data: tells which data a member serves after a cancel.
      await etcdctl(['put', '/after-backup', 'old data only']);
      await etcdctl(['put', '/registry/pods/default/app-late', 'late']);
      await origin.stop();
      template = origin.dataDir;
    });

    after(async () => {
      for (const node of nodes) await node.stop().catch(() => undefined);
    });

    it('writes down, for every step of a restore, what a cancel there does', () => {
      assert.deepEqual(Object.keys(SAFE_STATE), [...RESTORE_STEPS]);
    });

    const cases: Array<{ step: RestoreStep; signal: 'SIGINT' | 'SIGTERM'; outcome: 'old' | 'restored'; says: RegExp }> = [
      { step: 'stage', signal: 'SIGINT', outcome: 'old', says: /restore cancelled \(SIGINT\) before etcd was stopped: nothing on this node was changed \(removed the staging directory/ },
      { step: 'stop', signal: 'SIGTERM', outcome: 'old', says: /restore cancelled \(SIGTERM\) before etcd was stopped: nothing on this node was changed/ },
      {
        step: 'move-aside',
        signal: 'SIGINT',
        outcome: 'old',
        says: /restore cancelled \(SIGINT\) after etcd was stopped, before its data was swapped: started etcd \(commands .*\) again on the old data in \S+\/etcd/,
      },
      {
        step: 'move-in',
        signal: 'SIGTERM',
        outcome: 'old',
        says: /restore cancelled \(SIGTERM\) after the old data was moved aside: moved it back to \S+\/etcd and started etcd \(commands .*\) \(removed the restored copy\)/,
      },
      {
        step: 'chown',
        signal: 'SIGINT',
        outcome: 'restored',
        says: /restore cancelled \(SIGINT\) after the restored data was moved in: finished the swap \(gave it to \d+:\d+\) and started etcd \(commands .*\); the old data is at \S+\/etcd\.before-restore-/,
      },
      { step: 'start', signal: 'SIGTERM', outcome: 'restored', says: /restore cancelled \(SIGTERM\) after the restored data was moved in: finished the swap \(gave it to \d+:\d+\) and started etcd/ },
      {
        step: 'check',
        signal: 'SIGINT',
        outcome: 'restored',
        says: /restore cancelled \(SIGINT\) after etcd was started with the restored data: the restore is complete \(the old data is at \S+\), but its revision and key check did not run/,
      },
    ];

    for (const { step, signal, outcome, says } of cases) {
      it(`${signal} just before the step "${step}": etcd serves the ${outcome} data, the old data is kept, and the log says what was done`, async () => {
        await withNode(`before-${step}`, async (node) => {
          const restore = startRestore(restoreFlags(node), cleanEnv({ PAUSE_BEFORE_STEP: step }));
          await restore.paused(step);
          restore.child.kill(signal);
          const result = await restore.done;
          assert.equal(result.code, 1, `the restore fails\n${result.stderr}`);
          assert.match(result.stderr, says);
          assert.match(result.stdout, /## etcd restore: FAILED/);
          assert.equal(await serving(), outcome);
          await assertOldDataKept(node, outcome);
        });
      });
    }

    it('SIGINT while the backup is downloaded and restored into staging: etcd was never stopped, the staging copy is removed', async () => {
      await withNode('during-stage', async (node) => {
        const restore = startRestore(restoreFlags(node), cleanEnv());
        // Not paused: the signal lands in the download or etcd's restore into staging (or, on a fast machine,
        // just after it); a cancel anywhere before "stop" must end the same way.
        await restore.logged('step 1/7: download and verify the backup');
        restore.child.kill('SIGINT');
        const result = await restore.done;
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /restore cancelled \(SIGINT\) before etcd was stopped: nothing on this node was changed/);
        assert.doesNotMatch(result.stderr, /step 2\/7/);
        assert.equal(await serving(), 'old');
        await assertOldDataKept(node, 'old');
      });
    });

    it('a dry run, finished or cancelled, leaves nothing beside the data dir and never stops etcd', async () => {
      await withNode('dry-run', async (node) => {
        const etcdPid = async (): Promise<string> => readFile(path.join(node.dir, 'etcd.pid'), 'utf8');
        const pidBefore = await etcdPid();
        const dryRun = restoreFlags(node, { 'dry-run': 'true', confirm: '' });
        const finished = await startRestore(dryRun, cleanEnv()).done;
        assert.equal(finished.code, 0, finished.stderr);
        await assertOldDataKept(node, 'old');
        const cancelled = startRestore(dryRun, cleanEnv({ PAUSE_BEFORE_STEP: 'stage' }));
        await cancelled.paused('stage');
        cancelled.child.kill('SIGTERM');
        const result = await cancelled.done;
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /restore cancelled \(SIGTERM\) before etcd was stopped: nothing on this node was changed/);
        assert.equal(await serving(), 'old');
        assert.equal(await etcdPid(), pidBefore, 'the same etcd process ran throughout');
        await assertOldDataKept(node, 'old');
      });
    });

    it('without a signal the same restore completes: etcd serves the restored data and no progress file is left', async () => {
      await withNode('no-signal', async (node) => {
        const result = await startRestore(restoreFlags(node), cleanEnv()).done;
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /## etcd restore: done/);
        assert.equal(await serving(), 'restored');
        await assertOldDataKept(node, 'restored');
      });
    });

    it('the CLI: SIGINT while etcd is being stopped starts it again on the old data, and a SIGTERM during that does not interrupt it', async () => {
      await withNode('cli-during-stop', async (node) => {
        // The operator's scripts, as the CLI runs them: the stop script cancels the restore once etcd is down,
        // the start script sends the runner's second signal while the restore is putting etcd back.
        const stopAndCancel = path.join(node.dir, 'stop-and-cancel.sh');
        const startAndSignal = path.join(node.dir, 'start-and-signal.sh');
        await writeFile(stopAndCancel, `#!/bin/sh\n/bin/sh ${node.stopScript}\nkill -INT $PPID\n`, { mode: 0o755 });
        await writeFile(startAndSignal, `#!/bin/sh\nkill -TERM $PPID\nexec /bin/sh ${node.startScript}\n`, { mode: 0o755 });
        const restore = startRestore(
          [...restoreFlags(node, { 'stop-command': `/bin/sh ${stopAndCancel}`, 'start-command': `/bin/sh ${startAndSignal}` })],
          cleanEnv(),
          path.join(REPO_ROOT, 'src', 'cli', 'main.ts'),
        );
        const result = await restore.done;
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /received SIGINT: cancelling the restore/);
        assert.match(result.stderr, /received SIGTERM again: ignored until the restore has put etcd back/);
        assert.match(result.stderr, /restore cancelled \(SIGINT\) after etcd was stopped, before its data was swapped: started etcd .* again on the old data/);
        assert.equal(await serving(), 'old');
        await assertOldDataKept(node, 'old');
      });
    });

    describe("the action's post step, after a restore killed with SIGKILL", () => {
      async function killAt(node: Node, step: RestoreStep): Promise<void> {
        const restore = startRestore(restoreFlags(node), cleanEnv({ PAUSE_BEFORE_STEP: step }));
        await restore.paused(step);
        restore.child.kill('SIGKILL');
        const result = await restore.done;
        assert.equal(result.signal, 'SIGKILL');
      }

      async function runPost(node: Node, extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string }> {
        const inputs: Record<string, string> = {
          'data-dir': node.dataDir,
          'stop-command': `/bin/sh ${node.stopScript}`,
          'start-command': `/bin/sh ${node.startScript}`,
          endpoints: clientUrl,
          ...extra,
        };
        const env = cleanEnv(Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])));
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'action', 'entries', 'restore-post.ts')], {
          cwd: REPO_ROOT,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
        return { code, stdout };
      }

      it('killed after the old data was moved aside: the post moves it back and starts etcd; a new restore refuses until then', async () => {
        await withNode('killed-before-move-in', async (node) => {
          await killAt(node, 'move-in');
          const progress = JSON.parse(await readFile(progressFile(node.dataDir), 'utf8')) as { step: string };
          assert.equal(progress.step, 'move-aside');
          assert.equal((await stat(progressFile(node.dataDir))).mode & 0o777, 0o600);

          const again = startRestore(restoreFlags(node), cleanEnv());
          const refused = await again.done;
          assert.equal(refused.code, 1);
          assert.match(refused.stderr, /an earlier restore of \S+ did not end \(\S+\.etcd-dr-restore\.json: last step begun "move-aside"/);

          const post = await runPost(node);
          assert.equal(post.code, 0, post.stdout);
          assert.match(post.stdout, /was interrupted at the step "move-aside"/);
          assert.match(post.stdout, /after the old data was moved aside: moved it back to \S+\/etcd and started etcd \(start-command/);
          assert.equal(await serving(), 'old');
          await assertOldDataKept(node, 'old');
        });
      });

      it('killed after the restored data was moved in: the post finishes the restore and starts etcd on it', async () => {
        await withNode('killed-before-start', async (node) => {
          await killAt(node, 'start');
          const post = await runPost(node);
          assert.equal(post.code, 0, post.stdout);
          assert.match(post.stdout, /after the restored data was moved in: finished the swap \(gave it to \d+:\d+\) and started etcd/);
          assert.equal(await serving(), 'restored');
          await assertOldDataKept(node, 'restored');
        });
      });

      it('does nothing without a progress file, or after a command other than restore', async () => {
        const node = await makeNode('post-no-restore', true);
        const post = await runPost(node);
        assert.equal(post.code, 0, post.stdout);
        assert.match(post.stdout, /no interrupted restore of \S+\/etcd \(no \S+\.etcd-dr-restore\.json\): nothing to do/);
        await writeFile(progressFile(node.dataDir), 'not even JSON');
        const backupPost = await runPost(node, { command: 'backup' });
        assert.equal(backupPost.code, 0, backupPost.stdout);
        assert.equal(backupPost.stdout, '', 'after a backup the post step says and does nothing');
      });
    });
  });
}

describe('the restore action declares its post step', () => {
  it('runs dist/restore-post.js when the restore was cancelled, from the restore action and the root action, and bundles it', async () => {
    const restoreAction = parse(await readFile(path.join(REPO_ROOT, 'actions', 'restore', 'action.yml'), 'utf8')) as { runs: Record<string, string> };
    assert.equal(restoreAction.runs['post'], '../../dist/restore-post.js');
    assert.equal(restoreAction.runs['post-if'], 'cancelled()');
    const rootAction = parse(await readFile(path.join(REPO_ROOT, 'action.yml'), 'utf8')) as { runs: Record<string, string> };
    assert.equal(rootAction.runs['post'], 'dist/restore-post.js');
    assert.equal(rootAction.runs['post-if'], 'cancelled()');
    assert.match(await readFile(path.join(REPO_ROOT, 'scripts', 'bundle.mjs'), 'utf8'), /const entries = \[[^\]]*'restore-post'/);
  });
});
