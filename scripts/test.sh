#!/usr/bin/env bash
# The whole test suite, from a fresh clone: install, type-check, check that the committed dist/ is the
# bundle of these sources, then every test against real etcd clusters and real OpenSSH sites.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The action runs on Node 24; so do the tests (the `node` package in devDependencies).
export PATH="$PWD/node_modules/.bin:$PATH"
echo "node $(node --version)"
npm run -s typecheck
# Layers: no import from a higher layer, no cycle (the order is in .dependency-cruiser.cjs).
npx depcruise src --config .dependency-cruiser.cjs
npm run -s bundle
bash scripts/check-dist.sh
node --import tsx --test --test-concurrency=2 --test-timeout=300000 'test/**/*.test.ts'
