#!/usr/bin/env node
import { relaunchForHeap } from '../engine/relaunch.ts';

const argv = process.argv.slice(2);
// Before the engine loads: a backup needs node flags that only a fresh node can take (engine/heap.ts).
if (argv[0] !== undefined) await relaunchForHeap(argv[0]);
const { runCli } = await import('./run.ts');
process.exitCode = await runCli(argv);
process.exit(); // gRPC and SSH keep-alive timers must not hold a finished command open
