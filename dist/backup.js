import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-K3ZEQMXM.js";
import "./chunk-SLUA5GR4.js";

// src/action/entries/backup.ts
await runAction("backup");
process.exit();
