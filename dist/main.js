import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  runAction
} from "./chunk-XAQKX7OI.js";
import "./chunk-33V4G6RZ.js";

// src/action/entries/main.ts
await runAction();
process.exit();
