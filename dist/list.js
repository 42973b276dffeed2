import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-YK66CKYZ.js";
import "./chunk-ZDXDBLCB.js";
import "./chunk-FCK2T4BN.js";
import "./chunk-RQFW7O2J.js";
import "./chunk-TWSOFDXT.js";

// src/action/entries/list.ts
await runAction("list");
process.exit();
