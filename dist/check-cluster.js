import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-PUYVB6DD.js";
import "./chunk-XAR74Y74.js";
import "./chunk-FCK2T4BN.js";
import "./chunk-RQFW7O2J.js";
import "./chunk-TWSOFDXT.js";

// src/action/entries/check-cluster.ts
await runAction("check-cluster");
process.exit();
