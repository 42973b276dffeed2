/**
 * Every input and output name in one place (as actions/cache does): action.yml files, the action
 * entry, the CLI flags and the README all use these, so a rename is one edit and a typo a compile error.
 */
export enum Inputs {
  Command = 'command',
  ClusterName = 'cluster-name',
  Endpoints = 'endpoints',
  CaCert = 'cacert',
  Cert = 'cert',
  Key = 'key',
  Username = 'username',
  Password = 'password',
  Stores = 'stores',
  SshPrivateKey = 'ssh-private-key',
  SshKnownHosts = 'ssh-known-hosts',
  // A key with delete rights used only by retention (issue 14: the nodes' key may be append-only)
  PruneSshPrivateKey = 'prune-ssh-private-key',
  Compression = 'compression',
  EncryptTo = 'encrypt-to',
  TempDir = 'temp-dir',
  LockTtl = 'lock-ttl',
  // Retention (issue: retention, catalog, healing)
  KeepWithin = 'keep-within',
  KeepLast = 'keep-last',
  KeepHourly = 'keep-hourly',
  KeepDaily = 'keep-daily',
  KeepWeekly = 'keep-weekly',
  KeepMonthly = 'keep-monthly',
  PruneDryRun = 'prune-dry-run',
  Prune = 'prune',
  Heal = 'heal',
  // Restore and drills
  Backup = 'backup',
  DecryptIdentity = 'decrypt-identity',
  Confirm = 'confirm',
  DryRun = 'dry-run',
  DataDir = 'data-dir',
  MemberName = 'member-name',
  InitialCluster = 'initial-cluster',
  InitialAdvertisePeerUrls = 'initial-advertise-peer-urls',
  InitialClusterToken = 'initial-cluster-token',
  EtcdService = 'etcd-service',
  StopCommand = 'stop-command',
  StartCommand = 'start-command',
  BumpRevision = 'bump-revision',
  MarkCompacted = 'mark-compacted',
  EtcdBinDir = 'etcd-bin-dir',
  EtcdVersion = 'etcd-version',
  EtcdDownloadUrl = 'etcd-download-url',
  EtcdUser = 'etcd-user',
  // Point-in-time restore (issue 13): instead of `backup`, a moment or a revision the journal reaches
  ToTime = 'to-time',
  ToRevision = 'to-revision',
  // Cluster check after a restore
  ExpectKeys = 'expect-keys',
  ExpectRevisionAtLeast = 'expect-revision-at-least',
  // Alarms
  GithubToken = 'github-token',
  OpenIssueOnFailure = 'open-issue-on-failure',
  IssueLabels = 'issue-labels',
  MaxAge = 'max-age',
  StatusFile = 'status-file',
  // Journal of every change between snapshots (issue 12)
  JournalFlush = 'journal-flush',
  JournalMaxRuntime = 'journal-max-runtime',
  JournalSegmentBytes = 'journal-segment-bytes',
  JournalSpoolBytes = 'journal-spool-bytes',
  JournalLockTtl = 'journal-lock-ttl',
  JournalMaxAge = 'journal-max-age',
  // Import of existing `etcdctl snapshot save` files (CLI only; issue 14)
  SnapshotFiles = 'snapshot-files',
  CreatedAt = 'created-at',
}

export enum Outputs {
  BackupName = 'backup-name',
  Revision = 'revision',
  Size = 'size',
  Sha256 = 'sha256',
  Status = 'status',
  StoresOk = 'stores-ok',
  Backups = 'backups',
  Keys = 'keys',
  RestoreSeconds = 'restore-seconds',
  MovedAside = 'moved-aside',
  Pruned = 'pruned',
  Healed = 'healed',
}

export const COMMANDS = ['backup', 'restore', 'verify', 'list', 'prune', 'watchdog', 'check-cluster', 'journal'] as const;
export type Command = (typeof COMMANDS)[number];

/** Commands of the CLI only, with no action wrapper: they work on files of the machine they run on. */
export const CLI_COMMANDS = ['import'] as const;
export type CliCommand = (typeof CLI_COMMANDS)[number];
