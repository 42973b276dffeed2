import { relaunchForHeap } from '../../engine/relaunch.ts';

// Before the engine loads: a backup needs node flags that only a fresh node can take (engine/heap.ts).
await relaunchForHeap('backup');
const { runAction } = await import('../run.ts');
await runAction('backup');
process.exit(); // gRPC and SSH keep-alive timers must not hold a finished step open
