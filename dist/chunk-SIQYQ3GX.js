import { createRequire as __etcdDrCreateRequire } from 'node:module';
const require = __etcdDrCreateRequire(import.meta.url);
import {
  CLI_COMMANDS,
  COMMANDS,
  Inputs,
  TOOL_VERSION,
  closeAll,
  clusterName,
  readNewestStatus,
  runCliCommand,
  runCommand,
  storesFromSettings,
  text,
  toPrometheus,
  writeTextfile
} from "./chunk-HHGAR6KB.js";
import {
  InputError,
  messageOf
} from "./chunk-42CUHY4V.js";
import {
  tuneHeapFor
} from "./chunk-XUNV6VRI.js";
import "./chunk-TWSOFDXT.js";

// src/cli/run.ts
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

// src/cli/help.ts
var HELP = `etcd-dr: disaster recovery for etcd (backups to two sites, restore, drills, alarms)

Usage: etcd-dr <command> [--flag value]...

Commands
  backup     snapshot the member with the newest data, verify, compress, encrypt, ship to every store,
             then heal sites that missed backups and apply retention
  restore    restore this member's data directory from a backup (stops etcd, moves the old data aside)
  verify     restore drill: restore a backup into a scratch directory, start a throwaway etcd, compare
  list       every backup across the stores, which sites hold it, whether the copies match
  prune      apply retention now (--prune-dry-run true to only show what would go)
  watchdog   alarm when the newest backup on a site is older than --max-age (needs only the stores)
  check-cluster  after a restore: every member answers, a leader has quorum, --expect-keys N matches
  journal    follow etcd and publish every change to every store in segments (RPO seconds); run one per
             node: one writes, the others stand by (see docs/journal.md). --journal-flush SECONDS (5)
             --journal-max-runtime 55m --journal-lock-ttl SECONDS (15) --journal-segment-bytes N
             --journal-spool-bytes N; stops cleanly on SIGTERM (systemd)
  import     bring existing \`etcdctl snapshot save\` files into the catalog (CLI only): --snapshot-files FILE|DIR
             (repeat for several), --etcd-version X.Y.Z of the cluster they come from, --created-at TIME (one
             file; default: its modification time). Each is checked with etcd's own tool and its sha256
             trailer, then published to every store like a backup, named <cluster>-<time>-imported-r<rev>
  status     the newest status record as Prometheus text (stdout, or --status-file for node-exporter's
             textfile collector, e.g. /var/lib/node_exporter/textfile_collector/etcd_dr.prom)

Connection to etcd (defaults: ETCDCTL_ENDPOINTS, ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY, ETCDCTL_USER,
then kubeadm's https://127.0.0.1:2379 and /etc/kubernetes/pki/etcd/{ca.crt,healthcheck-client.crt,.key})
  --endpoints URL[,URL]   --cacert FILE   --cert FILE   --key FILE   --username NAME   --password-file FILE

Stores
  --stores URL            sftp://user@host[:port]/path or file:///path; repeat for several sites
  --ssh-private-key-file FILE    --ssh-known-hosts-file FILE   (host keys are pinned: unknown hosts are refused)
  --prune-ssh-private-key-file FILE   a key that may delete, used only by retention (prune, and backup's own
                                      retention), so the nodes' --ssh-private-key can be an append-only account

Backup
  --cluster-name NAME (etcd)   --compression zstd|gzip|none (zstd)   --encrypt-to-file RECIPIENTS
  --keep-within 48h  --keep-last 3  --keep-hourly N  --keep-daily N  --keep-weekly N  --keep-monthly N

Restore and verify
  --backup NAME|latest  --decrypt-identity-file FILE  --confirm CLUSTER-NAME  --dry-run true|false
  --to-time 2026-12-01T03:04:05Z | --to-revision N   point in time: the journal replayed onto the newest
             full backup at or before it (refused, before anything is stopped, outside the windows list shows)
  --data-dir DIR  --member-name NAME  --initial-cluster N=URL,...  --initial-advertise-peer-urls URL
  --initial-cluster-token TOKEN  --etcd-service systemd:UNIT|static-pod:PATH|none
  --stop-command CMD  --start-command CMD  --bump-revision N (1000000000)  --mark-compacted true|false
  --etcd-bin-dir DIR  --etcd-version X.Y.Z  --etcd-download-url URL  --etcd-user USER[:GROUP]|UID:GID
  (restore checks this member at --endpoints once it is back; verify works in --temp-dir)

Cluster check (after a restore)
  --endpoints URL,...  --expect-keys N  --expect-revision-at-least N

Other
  --temp-dir DIR (spool, drills)  --lock-ttl SECONDS (60)  --max-age 30m (watchdog)  --status-file PATH
  --github-token-file FILE  --issue-labels LABELS  --open-issue-on-failure true|false

Any flag can be read from a file (--NAME-file PATH) or the environment (ETCD_DR_NAME, e.g.
ETCD_DR_SSH_PRIVATE_KEY). Exit codes: 0 success, 1 failed or degraded, 2 bad usage.

Example (break-glass restore, GitHub down):
  etcd-dr restore --cluster-name prod --confirm prod --backup latest \\
    --stores sftp://backup@dc1.example.com/srv/etcd --stores sftp://backup@dc2.example.com/srv/etcd \\
    --ssh-private-key-file ~/.ssh/etcd-dr --ssh-known-hosts-file ~/.ssh/etcd-dr.known_hosts \\
    --decrypt-identity-file ~/etcd-dr.agekey --data-dir /var/lib/etcd --member-name node-1 \\
    --initial-cluster node-1=https://10.0.0.1:2380 --initial-advertise-peer-urls https://10.0.0.1:2380 \\
    --etcd-service static-pod:/etc/kubernetes/manifests/etcd.yaml
`;

// src/cli/status.ts
async function statusCommand(source, now) {
  const cluster = clusterName(source);
  const file = text(source, "status-file" /* StatusFile */);
  const stores = storesFromSettings(source);
  try {
    const { record, errors } = await readNewestStatus(stores, cluster);
    if (!record) return { output: "", failure: `no status record of ${cluster} on any store${errors.length ? `: ${errors.join("; ")}` : ""}` };
    if (file) {
      await writeTextfile(file, record, now);
      return { output: `wrote ${file}
` };
    }
    return { output: toPrometheus(record, now) };
  } finally {
    await closeAll(stores);
  }
}

// src/cli/run.ts
var INPUT_NAMES = Object.values(Inputs).filter((name) => name !== "command" /* Command */);
function cliSettings(argv, env) {
  const options = {};
  for (const name of INPUT_NAMES) {
    options[name] = { type: "string", multiple: true };
    options[`${name}-file`] = { type: "string", multiple: true };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true });
  } catch (error) {
    throw new InputError(`${messageOf(error)} (see etcd-dr --help)`);
  }
  const values = parsed.values;
  const get = (name) => {
    const direct = values[name];
    const fromFile = values[`${name}-file`];
    if (direct && fromFile) throw new InputError(`give --${name} or --${name}-file, not both`);
    if (direct) return direct.join("\n");
    if (fromFile) return fromFile.map((path) => readSettingFile(name, path)).join("\n");
    return env[`ETCD_DR_${name.toUpperCase().replace(/-/g, "_")}`];
  };
  return { get, secret: () => void 0, env };
}
function readSettingFile(name, path) {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new InputError(`--${name}-file: cannot read ${path}: ${messageOf(error)}`);
  }
}
var stderrLog = {
  info: (message) => process.stderr.write(`${message}
`),
  warning: (message) => process.stderr.write(`warning: ${message}
`),
  error: (message) => process.stderr.write(`error: ${message}
`)
};
async function runCli(argv, env = process.env, log = stderrLog) {
  const [command, ...rest] = argv;
  if (command === void 0 || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(HELP);
    return command === void 0 ? 2 : 0;
  }
  if (command === "--version") {
    process.stdout.write(`${TOOL_VERSION}
`);
    return 0;
  }
  if (command === "status") {
    try {
      const result = await statusCommand(cliSettings(rest, env), /* @__PURE__ */ new Date());
      process.stdout.write(result.output);
      if (result.failure) log.error(result.failure);
      return result.failure ? 1 : 0;
    } catch (error) {
      log.error(messageOf(error));
      return error instanceof InputError ? 2 : 1;
    }
  }
  const cliOnly = CLI_COMMANDS.includes(command);
  if (!cliOnly && !COMMANDS.includes(command)) {
    log.error(`unknown command ${JSON.stringify(command)}; commands: ${[...COMMANDS, ...CLI_COMMANDS].join(", ")} (see etcd-dr --help)`);
    return 2;
  }
  try {
    const source = cliSettings(rest, env);
    const deps = {
      log,
      now: () => /* @__PURE__ */ new Date(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms))
    };
    if (!cliOnly) tuneHeapFor(command);
    const report = cliOnly ? await runCliCommand(command, source, deps) : await runCommand(command, source, deps);
    process.stdout.write(`${report.summary}

`);
    for (const [name, value] of Object.entries(report.outputs)) process.stdout.write(`${name}=${value}
`);
    if (report.failure) log.error(report.failure);
    return report.failure ? 1 : 0;
  } catch (error) {
    log.error(messageOf(error));
    return error instanceof InputError ? 2 : 1;
  }
}
export {
  cliSettings,
  runCli
};
