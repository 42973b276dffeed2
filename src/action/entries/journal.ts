import { relaunchForHeap } from '../../engine/relaunch.ts';

// Before the engine loads: the follower's memory flags can only be given to a fresh node (engine/heap.ts).
await relaunchForHeap('journal');
const { runAction } = await import('../run.ts');
// The journal follower runs for journal-max-runtime (a long step); it hands over cleanly on SIGTERM too.
await runAction('journal');
process.exit(); // gRPC and SSH keep-alive timers must not hold a finished step open
