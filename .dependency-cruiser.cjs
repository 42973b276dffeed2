/**
 * The layers of src/, lowest first. A module may import from its own folder and from any LOWER layer, never
 * from a higher one; since every folder is its own layer, that also rules out any cycle between folders.
 * Run by scripts/test.sh: `npx depcruise src --config .dependency-cruiser.cjs`.
 *
 *   base        shared plumbing: errors, version, log, outcome, durations, stream helpers, file sink; and
 *               config/names.ts, the vocabulary of input names (names only, imports nothing: any layer may
 *               name an input in a message; reading and parsing inputs is config's)
 *   stores      backends: bytes at names (SFTP, local), retries
 *   repository  what a backup is on a site: layout, manifests, status record, publish, listing
 *   etcd        talking to etcd: connection, members, lock, snapshot stream
 *   snapshot    the object pipeline: verify, compress, encrypt, spool, ship
 *   catalog     retention, prune and healing plans over a catalog; its table
 *   journal     the continuous journal of etcd's changes
 *   restore     getting a backup back into etcd
 *   notify      status record, alarms, watchdog, metrics
 *   backup      the backup orchestrator
 *   config      inputs: their names and their parsing into options
 *   engine      process-level settings (heap flags, relaunch)
 *   commands    one function per command, over everything above
 *   action, cli the two entry points
 */
const LAYERS = [
  ['base', '^src/(base/|errors\\.ts$|version\\.ts$|config/names\\.ts$)'],
  ['stores', '^src/stores/'],
  ['repository', '^src/repository/'],
  ['etcd', '^src/etcd/'],
  ['snapshot', '^src/snapshot/'],
  ['catalog', '^src/catalog/'],
  ['journal', '^src/journal/'],
  ['restore', '^src/restore/'],
  ['notify', '^src/notify/'],
  ['backup', '^src/backup/'],
  ['config', '^src/config/'],
  ['engine', '^src/engine/'],
  ['commands', '^src/commands/'],
  ['entry points', '^src/(action|cli)/'],
];

const union = (layers) => layers.map(([, path]) => `(${path})`).join('|');
const higherThan = (index) => union(LAYERS.slice(index + 1));
// A module matching a lower layer's path belongs there (config/names.ts is base, not config).
const thisOrLower = (index) => union(LAYERS.slice(0, index + 1));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle between modules: one of them belongs lower, or the shared part belongs in a lower layer.',
      from: {},
      to: { circular: true },
    },
    ...LAYERS.slice(0, -1).map(([name, path], index) => ({
      name: `no-upward-from-${name.replace(/\s+/g, '-')}`,
      severity: 'error',
      comment: `${name} may import only from itself and lower layers (see the order in .dependency-cruiser.cjs)`,
      from: { path },
      to: { path: higherThan(index), pathNot: thisOrLower(index) },
    })),
    {
      name: 'every-module-in-a-layer',
      severity: 'error',
      comment: 'A new folder under src/ needs its place in LAYERS.',
      from: { path: '^src/', pathNot: LAYERS.map(([, path]) => `(${path})`).join('|') },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(node_modules|dist)/' },
  },
};
