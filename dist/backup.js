import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  relaunchForHeap
} from "./chunk-2PVWLUQB.js";
import "./chunk-XV425B5E.js";
import "./chunk-TWSOFDXT.js";

// src/action/entries/backup.ts
await relaunchForHeap("backup");
var { runAction } = await import("./chunk-AKW3AHL5.js");
await runAction("backup");
process.exit();
