import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-4M5UZD4S.js";
import "./chunk-XLA6N535.js";

// src/action/entries/watchdog.ts
await runAction("watchdog");
process.exit();
