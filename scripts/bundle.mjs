// Bundles the action entry points and the CLI into dist/ (committed: runners execute dist/, with no npm install).
// ESM output with code splitting, so the seven entry files share one copy of the engine.
import { build } from 'esbuild';
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const entries = ['main', 'backup', 'restore', 'verify', 'list', 'prune', 'watchdog'];

// CommonJS dependencies (etcd3, ssh2, grpc) use require/__dirname; ESM output has neither, so every
// output file defines them relative to itself (all files live directly in dist/).
const banner = [
  "import { createRequire as __etcdDrCreateRequire } from 'node:module';",
  "import { fileURLToPath as __etcdDrFileURLToPath } from 'node:url';",
  "import { dirname as __etcdDrDirname } from 'node:path';",
  'const require = __etcdDrCreateRequire(import.meta.url);',
  'const __filename = __etcdDrFileURLToPath(import.meta.url);',
  'const __dirname = __etcdDrDirname(__filename);',
].join('\n');

// etcd3 loads its .proto files from `${__dirname}/../proto` at run time. In the bundle __dirname is
// dist/, so point it at dist/proto, where the files are copied below.
const etcd3ProtoPath = {
  name: 'etcd3-proto-path',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const patched = source.replace('`${__dirname}/../proto/rpc.proto`', '`${__dirname}/proto/rpc.proto`');
      if (patched === source) throw new Error('etcd3 proto path not found: update scripts/bundle.mjs');
      return { contents: patched, loader: 'js' };
    });
  },
};

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist/proto', { recursive: true });
for (const file of ['rpc.proto', 'kv.proto', 'auth.proto']) cpSync(`node_modules/etcd3/proto/${file}`, `dist/proto/${file}`);

await build({
  entryPoints: [
    ...entries.map((name) => ({ in: `src/action/entries/${name}.ts`, out: name })),
    { in: 'src/cli/main.ts', out: 'cli' },
  ],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  outdir: 'dist',
  chunkNames: 'chunk-[hash]',
  banner: { js: banner },
  // ssh2's optional native addons: it falls back to pure JS when they are absent.
  external: ['cpu-features', '*.node'],
  plugins: [etcd3ProtoPath],
  legalComments: 'linked',
  logLevel: 'warning',
});
