import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  relaunchForHeap
} from "./chunk-CSWW4Z6V.js";
import "./chunk-XUNV6VRI.js";
import "./chunk-TWSOFDXT.js";

// src/action/entries/journal.ts
await relaunchForHeap("journal");
var { runAction } = await import("./chunk-CF6RINUK.js");
await runAction("journal");
process.exit();
