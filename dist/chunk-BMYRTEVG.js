import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  DEFAULT_GITHUB_API_URL,
  DEFAULT_RETRY_POLICY,
  classifyGitHubFailure,
  createOctokit,
  githubApiUrl,
  parseRepository,
  retryDelayMs,
  statusOf,
  withGitHubRetry
} from "./chunk-6C575L2Q.js";
import "./chunk-FCK2T4BN.js";
import "./chunk-TWSOFDXT.js";
export {
  DEFAULT_GITHUB_API_URL,
  DEFAULT_RETRY_POLICY,
  classifyGitHubFailure,
  createOctokit,
  githubApiUrl,
  parseRepository,
  retryDelayMs,
  statusOf,
  withGitHubRetry
};
