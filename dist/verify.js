import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-N4H7DT5L.js";
import "./chunk-XWSRULSE.js";

// src/action/entries/verify.ts
await runAction("verify");
process.exit();
