import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-ITSAGQN2.js";
import "./chunk-BNGJ3WOP.js";
import "./chunk-42CUHY4V.js";
import "./chunk-E3PZOCOU.js";
import "./chunk-XV425B5E.js";
import "./chunk-TWSOFDXT.js";

// src/action/entries/list.ts
await runAction("list");
process.exit();
