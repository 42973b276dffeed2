import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  BACKUP_START_ENV,
  HEAP_FLAGS,
  missingStartFlags,
  RELAUNCHED_ENV,
  startEnvironment,
  STREAMING_HEAP_FLAG,
  tuneHeapFor,
  YOUNG_GENERATION_FLAG,
  JOURNAL_OLD_SPACE_FLAG,
  JOURNAL_START_FLAGS,
} from '../../src/engine/heap.ts';
import type { Command } from '../../src/config/names.ts';

const run = promisify(execFile);
const heapModule = fileURLToPath(new URL('../../src/engine/heap.ts', import.meta.url));

/**
 * A child node that passes 2 GiB through 256 KiB buffers, a few alive at a time (as a stream does), and
 * prints how many full (mark-compact) collections that took.
 */
async function fullCollectionsWhileStreaming(command: Command | undefined): Promise<number> {
  const script = `
    import { PerformanceObserver, constants } from 'node:perf_hooks';
    import { tuneHeapFor } from ${JSON.stringify(heapModule)};
    const command = ${JSON.stringify(command ?? null)};
    if (command) tuneHeapFor(command);
    let full = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++;
    }).observe({ entryTypes: ['gc'] });
    const inFlight = [];
    for (let i = 0; i < 8192; i++) {
      const piece = Buffer.allocUnsafe(256 * 1024);
      piece[0] = i;
      inFlight.push(piece);
      if (inFlight.length > 8) inFlight.shift();
    }
    setTimeout(() => console.log(full), 100);
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  return Number(stdout.trim());
}

describe('heap tuning for streaming', () => {
  it('tunes backups, restores and drills on Node.js 24 only (another V8 would print "unrecognized flag")', () => {
    // A backup keeps V8's own rule for Buffer bytes: the global limit let dead buffers pile up (bench/README.md).
    assert.deepEqual(tuneHeapFor('backup', '24.1.0'), []);
    assert.deepEqual(tuneHeapFor('restore', '24.11.1'), [STREAMING_HEAP_FLAG]);
    assert.deepEqual(tuneHeapFor('verify', '24.11.1'), [STREAMING_HEAP_FLAG]);
    assert.deepEqual(tuneHeapFor('list', '24.11.1'), []);
    assert.deepEqual(tuneHeapFor('restore', '25.0.0'), []);
    assert.deepEqual(tuneHeapFor('backup', '22.12.0'), []);
  });

  it('names only flags the V8 of the Node.js running the action knows', async () => {
    assert.equal(process.versions.node.split('.')[0], '24', 'the tests run on the action runtime, node24');
    const { stdout } = await run(process.execPath, ['--v8-options']);
    for (const flag of new Set(Object.values(HEAP_FLAGS).flat())) {
      const name = flag.replace(/^--/, '').replace(/=.*$/, '');
      assert.ok(stdout.includes(`--${name} `), `${flag} is not in node --v8-options`);
    }
  });

  it('spares a restore most of the full collections V8 otherwise runs while buffers stream through', async () => {
    const untuned = await fullCollectionsWhileStreaming(undefined);
    const restore = await fullCollectionsWhileStreaming('restore');
    assert.ok(untuned >= 10, `V8's defaults: ${untuned} full collections for 2 GiB of buffers (expected a dozen or more)`);
    assert.ok(restore <= untuned / 5, `restore: ${restore} full collections, defaults: ${untuned}`);
  });
});

describe('the node flags a command needs from the start (re-executed when missing)', () => {
  const plain = { execArgv: [], env: {} };

  it('a backup started as the runner starts it lacks the young-generation cap; other commands need nothing', () => {
    assert.deepEqual(missingStartFlags('backup', plain), [YOUNG_GENERATION_FLAG]);
    for (const command of ['restore', 'verify', 'list', 'prune', 'watchdog', 'check-cluster', 'bogus', '__proto__', 'toString']) {
      assert.deepEqual(missingStartFlags(command, plain), [], command);
    }
  });

  it('keeps the caller\'s own young-generation size, from the command line or NODE_OPTIONS, in either spelling', () => {
    assert.deepEqual(missingStartFlags('backup', { execArgv: ['--max-semi-space-size=8'], env: {} }), []);
    assert.deepEqual(missingStartFlags('backup', { execArgv: [], env: { NODE_OPTIONS: '--inspect  --max_semi_space_size=16' } }), []);
    assert.deepEqual(missingStartFlags('backup', { execArgv: ['--max-semi-space-size', '4'], env: {} }), []);
  });

  it('adds the cap when the caller\'s flags are about something else', () => {
    assert.deepEqual(missingStartFlags('backup', { execArgv: ['--import', 'tsx'], env: { NODE_OPTIONS: '--max-old-space-size=512' } }), [
      YOUNG_GENERATION_FLAG,
    ]);
  });

  it('a journal follower lacks the young-generation and old-space caps, --optimize-for-size and no optimizing compilers; a caller\'s own choice of each wins, the others are still added', () => {
    assert.deepEqual(missingStartFlags('journal', plain), JOURNAL_START_FLAGS);
    assert.deepEqual(JOURNAL_START_FLAGS, [YOUNG_GENERATION_FLAG, JOURNAL_OLD_SPACE_FLAG, '--optimize-for-size', '--no-opt', '--no-maglev']);
    assert.deepEqual(missingStartFlags('journal', { execArgv: [], env: { NODE_OPTIONS: '--max-old-space-size=256' } }), [
      YOUNG_GENERATION_FLAG,
      '--optimize-for-size',
      '--no-opt',
      '--no-maglev',
    ]);
    // Turning an optimizing compiler back on is a choice too: it is not overridden.
    assert.deepEqual(missingStartFlags('journal', { execArgv: ['--maglev'], env: {} }), [YOUNG_GENERATION_FLAG, JOURNAL_OLD_SPACE_FLAG, '--optimize-for-size', '--no-opt']);
  });

  it('re-executes a backup with two malloc arenas unless the caller chose a number; other commands get no variable', () => {
    assert.deepEqual(startEnvironment('backup', {}), BACKUP_START_ENV);
    assert.deepEqual(BACKUP_START_ENV, { MALLOC_ARENA_MAX: '2' });
    assert.deepEqual(startEnvironment('backup', { MALLOC_ARENA_MAX: '8' }), {});
    for (const command of ['journal', 'restore', 'list', '__proto__', 'toString']) assert.deepEqual(startEnvironment(command, {}), {}, command);
  });

  it('never asks a re-executed process to re-execute again, whatever its flags', () => {
    assert.deepEqual(missingStartFlags('backup', { execArgv: [], env: { [RELAUNCHED_ENV]: YOUNG_GENERATION_FLAG } }), []);
  });

  it('names only flags node accepts on its command line', async () => {
    const { stdout } = await run(process.execPath, [YOUNG_GENERATION_FLAG, '-p', 'process.execArgv[0]']);
    assert.equal(stdout.trim(), YOUNG_GENERATION_FLAG);
  });
});
