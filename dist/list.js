import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-UAIY63JK.js";
import "./chunk-UUBXB7YN.js";

// src/action/entries/list.ts
await runAction("list");
process.exit();
