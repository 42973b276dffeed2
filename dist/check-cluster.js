import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-WYDVAPFG.js";
import "./chunk-VX2MQZCC.js";

// src/action/entries/check-cluster.ts
await runAction("check-cluster");
process.exit();
