import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  withGitHubRetry
} from "./chunk-V4IEEDOH.js";
import {
  messageOf
} from "./chunk-42CUHY4V.js";
import "./chunk-TWSOFDXT.js";

// src/notify/alarm.ts
var DEFAULT_ALARM_LABELS = ["etcd-backup"];
var MAX_SUMMARY_CHARS = 6e4;
function clusterMarker(cluster, operation) {
  return `<!-- etcd-dr:cluster=${cluster} operation=${operation} -->`;
}
var TITLES = {
  backup: "backups failing",
  prune: "retention failing",
  verify: "restore drill failing",
  restore: "restore failed",
  watchdog: "backups are stale",
  journal: "journal of changes has a gap or is failing"
};
function issueTitle(cluster, operation) {
  return `etcd-dr: ${cluster} ${TITLES[operation]}`;
}
function truncate(text) {
  return text.length <= MAX_SUMMARY_CHARS ? text : `${text.slice(0, MAX_SUMMARY_CHARS)}

\u2026 (truncated)`;
}
function details(event) {
  return [
    `- **Operation:** ${event.operation}`,
    `- **Outcome:** ${event.outcome}`,
    `- **Runner:** ${event.runner ?? "unknown"}`,
    `- **Run:** ${event.runUrl !== void 0 ? `[${event.runUrl}](${event.runUrl})` : "unknown"}`,
    `- **Newest good backup:** ${event.newestGoodBackup !== void 0 ? `\`${event.newestGoodBackup}\`` : "none known"}`
  ];
}
function issueBody(event) {
  return [
    clusterMarker(event.cluster, event.operation),
    `etcd-dr **${event.operation}** for cluster \`${event.cluster}\` ended **${event.outcome}**.`,
    ...whatFailed(event),
    "---",
    "Further failures are added as comments. This issue is closed automatically by the next successful run.",
    ""
  ].join("\n");
}
function failureComment(event) {
  return [
    `etcd-dr **${event.operation}** for cluster \`${event.cluster}\` ended **${event.outcome}** again.`,
    ...whatFailed(event)
  ].join("\n");
}
function whatFailed(event) {
  return ["", ...details(event), "", "### What failed", "", truncate(event.summary), ""];
}
function recoveredComment(event) {
  return [
    `Recovered: etcd-dr **${event.operation}** for cluster \`${event.cluster}\` succeeded.`,
    "",
    ...details(event),
    "",
    truncate(event.summary),
    "",
    "Closing this issue.",
    ""
  ].join("\n");
}
async function findOpenIssue(deps, cluster, operation, label) {
  const marker = clusterMarker(cluster, operation);
  const perPage = 100;
  const found = [];
  for (let page = 1; page <= 10; page++) {
    const response = await withGitHubRetry(
      `listing open issues labelled ${label} in ${deps.owner}/${deps.repo}`,
      () => deps.octokit.rest.issues.listForRepo({
        owner: deps.owner,
        repo: deps.repo,
        labels: label,
        state: "open",
        per_page: perPage,
        page
      }),
      retryDeps(deps)
    );
    const issues = response.data;
    for (const issue of issues) {
      if (issue.pull_request === void 0 && (issue.body ?? "").includes(marker)) found.push(issue.number);
    }
    if (issues.length < perPage) break;
  }
  return found.length === 0 ? void 0 : Math.min(...found);
}
function retryDeps(deps) {
  return deps.retryPolicy !== void 0 ? { sleep: deps.sleep, log: deps.log, policy: deps.retryPolicy } : { sleep: deps.sleep, log: deps.log };
}
async function reportOutcome(deps, event) {
  const labels = event.labels !== void 0 && event.labels.length > 0 ? [...event.labels] : [...DEFAULT_ALARM_LABELS];
  const where = `${deps.owner}/${deps.repo}`;
  const rd = retryDeps(deps);
  let action = "none";
  let issueNumber;
  try {
    issueNumber = await findOpenIssue(deps, event.cluster, event.operation, labels[0]);
    if (event.outcome === "success") {
      if (issueNumber === void 0) return { ok: true, action: "none" };
      const n2 = issueNumber;
      await withGitHubRetry(
        `commenting "recovered" on issue #${n2} in ${where}`,
        () => deps.octokit.rest.issues.createComment({ owner: deps.owner, repo: deps.repo, issue_number: n2, body: recoveredComment(event) }),
        rd
      );
      action = "commented";
      await withGitHubRetry(
        `closing issue #${n2} in ${where}`,
        () => deps.octokit.rest.issues.update({ owner: deps.owner, repo: deps.repo, issue_number: n2, state: "closed", state_reason: "completed" }),
        rd
      );
      deps.log.info(`GitHub: ${event.cluster} recovered; closed alarm issue #${n2} in ${where}`);
      return { ok: true, action: "closed", issueNumber: n2 };
    }
    if (issueNumber === void 0) {
      const created = await withGitHubRetry(
        `opening an alarm issue in ${where}`,
        () => deps.octokit.rest.issues.create({
          owner: deps.owner,
          repo: deps.repo,
          title: issueTitle(event.cluster, event.operation),
          body: issueBody(event),
          labels
        }),
        rd
      );
      issueNumber = created.data.number;
      deps.log.info(`GitHub: opened alarm issue #${issueNumber} for ${event.cluster} in ${where}`);
      return { ok: true, action: "opened", issueNumber };
    }
    const n = issueNumber;
    await withGitHubRetry(
      `commenting on alarm issue #${n} in ${where}`,
      () => deps.octokit.rest.issues.createComment({ owner: deps.owner, repo: deps.repo, issue_number: n, body: failureComment(event) }),
      rd
    );
    deps.log.info(`GitHub: added a comment to alarm issue #${n} for ${event.cluster} in ${where}`);
    return { ok: true, action: "commented", issueNumber: n };
  } catch (error) {
    const message = `could not report ${event.operation} ${event.outcome} of ${event.cluster} to GitHub: ${messageOf(error)}`;
    deps.log.warning(message);
    return issueNumber !== void 0 ? { ok: false, action, issueNumber, error: message } : { ok: false, action, error: message };
  }
}
export {
  DEFAULT_ALARM_LABELS,
  clusterMarker,
  failureComment,
  issueBody,
  issueTitle,
  recoveredComment,
  reportOutcome
};
