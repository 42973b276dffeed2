import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  relaunchForHeap
} from "./chunk-CP575KSZ.js";
import "./chunk-WXYWB3WK.js";
import "./chunk-TWSOFDXT.js";

// src/action/entries/main.ts
await relaunchForHeap(process.env["INPUT_COMMAND"]?.trim() || "backup");
var { runAction } = await import("./chunk-UHCPH25O.js");
await runAction();
process.exit();
