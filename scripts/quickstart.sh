#!/usr/bin/env bash
# Installs everything, then runs the demo: a throwaway 3-member etcd cluster backed up to two local
# SFTP "sites" (real OpenSSH), listed, and restored in a drill. Nothing outside /tmp is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
node --import tsx scripts/demo.ts
