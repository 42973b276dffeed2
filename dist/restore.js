import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-G6OOAQRB.js";
import "./chunk-P7PD2O2N.js";

// src/action/entries/restore.ts
await runAction("restore");
process.exit();
