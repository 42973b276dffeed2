// Bundles the action entry points and the CLI into dist/ (committed: runners execute dist/, with no npm install).
// ESM output with code splitting, so the seven entry files share one copy of the engine.
import { build } from 'esbuild';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const entries = ['main', 'backup', 'restore', 'verify', 'list', 'prune', 'watchdog', 'check-cluster', 'restore-post', 'journal'];

// CommonJS dependencies (etcd3, ssh2, grpc) use require and __dirname, which ESM output lacks: every
// output file gets a `require` of its own, and __dirname/__filename become import.meta's (all files
// live directly in dist/, so both point there). `define` rather than a banner declaration, because
// ESM dependencies declare their own __filename constants.
const banner = [
  "import { createRequire as __etcdDrCreateRequire } from 'node:module';",
  'const require = __etcdDrCreateRequire(import.meta.url);',
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

// Without its native addon (never in the bundle), ssh2's AES-GCM path builds a cipher per 32 KiB SSH packet
// from the raw key bytes, and turning those bytes into a key object each time was half of that cost
// (measured: 0.8 s vs 0.35 s per GiB). Handing createCipheriv a KeyObject made once per connection is the
// same cipher, same key, same bytes on the wire.
const ssh2GcmKeyObject = {
  name: 'ssh2-gcm-key-object',
  setup(b) {
    b.onLoad({ filter: /ssh2[\\/]lib[\\/]protocol[\\/]crypto\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const replacements = [
        ['this._encKey = enc.cipherKey;', "this._encKey = require('crypto').createSecretKey(enc.cipherKey);"],
        ['this._decipherKey = dec.decipherKey;', "this._decipherKey = require('crypto').createSecretKey(dec.decipherKey);"],
      ];
      let patched = source;
      for (const [from, to] of replacements) {
        if (patched.split(from).length !== 2) throw new Error(`ssh2 GCM key line not found once (${from}): update scripts/bundle.mjs`);
        patched = patched.replace(from, to);
      }
      return { contents: patched, loader: 'js' };
    });
  },
};

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist/proto', { recursive: true });
// The bundles are ES modules, and Node reads a .js file's module type from the nearest package.json. Without one
// here, dist/ under a parent package.json that says "commonjs" (a copy of dist/ inside another project, for the
// break-glass CLI) fails to load with a syntax error, and without any package.json Node 24 parses every file twice
// to guess. check-dist.sh compares this file like every other one in dist/.
writeFileSync('dist/package.json', `${JSON.stringify({ type: 'module' })}\n`);
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
  define: { __dirname: 'import.meta.dirname', __filename: 'import.meta.filename' },
  // ssh2's optional native addons: it falls back to pure JS when they are absent.
  external: ['cpu-features', '*.node'],
  plugins: [etcd3ProtoPath, ssh2GcmKeyObject],
  legalComments: 'linked',
  logLevel: 'warning',
});
