import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-DXSIUSDX.js";
import "./chunk-YWWTHYL3.js";

// src/action/entries/main.ts
await runAction();
process.exit();
