import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  actionSettings,
  runAction
} from "./chunk-PKG5VKW3.js";
import "./chunk-V2H3MCTJ.js";
import "./chunk-42CUHY4V.js";
import "./chunk-E3PZOCOU.js";
import "./chunk-WXYWB3WK.js";
import "./chunk-TWSOFDXT.js";
export {
  actionSettings,
  runAction
};
