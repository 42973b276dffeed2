import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-N4QMTKHO.js";
import "./chunk-OGOH4ATH.js";

// src/action/entries/watchdog.ts
await runAction("watchdog");
process.exit();
