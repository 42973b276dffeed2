#!/usr/bin/env node
import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  relaunchForHeap
} from "./chunk-2PVWLUQB.js";
import "./chunk-XV425B5E.js";
import "./chunk-TWSOFDXT.js";

// src/cli/main.ts
var argv = process.argv.slice(2);
if (argv[0] !== void 0) await relaunchForHeap(argv[0]);
var { runCli } = await import("./chunk-BIJZI7KE.js");
process.exitCode = await runCli(argv);
process.exit();
