import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  DEFAULT_GITHUB_API_URL,
  DEFAULT_RETRY_POLICY,
  createOctokit,
  githubApiUrl,
  parseRepository,
  withGitHubRetry
} from "./chunk-V4IEEDOH.js";
import "./chunk-42CUHY4V.js";
import "./chunk-TWSOFDXT.js";
export {
  DEFAULT_GITHUB_API_URL,
  DEFAULT_RETRY_POLICY,
  createOctokit,
  githubApiUrl,
  parseRepository,
  withGitHubRetry
};
