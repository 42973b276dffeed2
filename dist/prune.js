import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-7BYG5ZB4.js";
import "./chunk-BNODWPGA.js";

// src/action/entries/prune.ts
await runAction("prune");
process.exit();
