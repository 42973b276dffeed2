import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-SZC3EVND.js";
import "./chunk-7MMWHT6U.js";

// src/action/entries/restore.ts
await runAction("restore");
process.exit();
