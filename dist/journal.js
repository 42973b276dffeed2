import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  relaunchForHeap
} from "./chunk-CP575KSZ.js";
import "./chunk-WXYWB3WK.js";
import "./chunk-TWSOFDXT.js";

// src/action/entries/journal.ts
await relaunchForHeap("journal");
var { runAction } = await import("./chunk-UHCPH25O.js");
await runAction("journal");
process.exit();
