#!/usr/bin/env node
import { runCli } from './run.ts';

process.exitCode = await runCli(process.argv.slice(2));
process.exit(); // gRPC and SSH keep-alive timers must not hold a finished command open
