#!/usr/bin/env bash
# Everything etcd-dr needs on a fresh Debian 12 machine: system packages (etcd 3.4, OpenSSH), etcd 3.5
# from Debian unstable into .tools/, and the node modules (which bring Node 24 for the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm ci --no-audit --no-fund --loglevel=error
