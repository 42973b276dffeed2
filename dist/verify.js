import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-TN6HAIA6.js";
import "./chunk-XULQ5236.js";
import "./chunk-FCK2T4BN.js";
import "./chunk-RQFW7O2J.js";
import "./chunk-TWSOFDXT.js";

// src/action/entries/verify.ts
await runAction("verify");
process.exit();
