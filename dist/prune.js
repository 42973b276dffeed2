import { createRequire as __etcdDrCreateRequire } from 'node:module';
import { fileURLToPath as __etcdDrFileURLToPath } from 'node:url';
import { dirname as __etcdDrDirname } from 'node:path';
const require = __etcdDrCreateRequire(import.meta.url);
const __filename = __etcdDrFileURLToPath(import.meta.url);
const __dirname = __etcdDrDirname(__filename);
import {
  runAction
} from "./chunk-7G57N526.js";
import "./chunk-NWTTZE55.js";

// src/action/entries/prune.ts
await runAction("prune");
process.exit();
