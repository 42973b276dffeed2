import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-Y55PNGKC.js";
import "./chunk-HHGAR6KB.js";
import "./chunk-42CUHY4V.js";
import "./chunk-E3PZOCOU.js";
import "./chunk-XUNV6VRI.js";
import "./chunk-TWSOFDXT.js";

// src/action/entries/watchdog.ts
await runAction("watchdog");
process.exit();
