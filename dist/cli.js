#!/usr/bin/env node
import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  relaunchForHeap
} from "./chunk-CSWW4Z6V.js";
import "./chunk-XUNV6VRI.js";
import "./chunk-TWSOFDXT.js";

// src/cli/main.ts
var argv = process.argv.slice(2);
if (argv[0] !== void 0) await relaunchForHeap(argv[0]);
var { runCli } = await import("./chunk-SIQYQ3GX.js");
process.exitCode = await runCli(argv);
process.exit();
