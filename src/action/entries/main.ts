import { relaunchForHeap } from '../../engine/relaunch.ts';

// Before the engine loads: a backup needs node flags that only a fresh node can take (engine/heap.ts).
// The `command` input as @actions/core reads it (INPUT_COMMAND); runAction checks it, backup by default.
await relaunchForHeap(process.env['INPUT_COMMAND']?.trim() || 'backup');
const { runAction } = await import('../run.ts');
await runAction();
process.exit(); // gRPC and SSH keep-alive timers must not hold a finished step open
