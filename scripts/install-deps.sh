#!/usr/bin/env bash
# System dependencies for etcd-dr tests and CI, on Debian 12 as root.
# Idempotent: safe to run repeatedly; skips work that is already done.
#  - etcd 3.4 (bookworm packages: /usr/bin/etcd, /usr/bin/etcdctl)
#  - etcd 3.5 with etcdutl, extracted from Debian unstable into .tools/etcd-3.5
#    (unstable is never added to the system's apt sources)
#  - openssh-server (the SFTP test sites), openssl (test TLS), zstd
#  - jq (test/unit/workflows.test.ts runs the example workflows' plan scripts, which use it as GitHub's runners have it)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

need_pkgs=()
for p in etcd-server etcd-client openssh-server openssh-client openssl zstd time jq; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    need_pkgs+=("$p")
  fi
done

# The debian-archive-keyring is needed by the private unstable source below.
if [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
  need_pkgs+=(debian-archive-keyring)
fi

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "install-deps: installing ${need_pkgs[*]}"
  $SUDO apt-get update
  # policy-rc.d (exit 101) stops the packages from starting their services
  # during installation where invoke-rc.d honours it; tests use their own ports.
  policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_created=1
    # Never leave the policy behind, even if the install fails.
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y --no-install-recommends "${need_pkgs[@]}"
  if [ "$policy_created" = 1 ]; then
    $SUDO rm -f /usr/sbin/policy-rc.d
  fi
fi

# Make sure the distribution's own etcd service isn't left listening on 2379/2380
# (tests start their own members on free ports, and a stray default member
# would be confusing). The system sshd is left alone: tests run their own sshd
# on other ports. Errors are ignored: there may be no systemd/init at all.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
fi
$SUDO service etcd stop >/dev/null 2>&1 || true

# sshd refuses to start without its privilege separation directory.
$SUDO mkdir -p /run/sshd
$SUDO chmod 0755 /run/sshd

# etcd 3.5 (+ etcdutl) from Debian unstable via a private apt configuration.
ETCD35="$ROOT/.tools/etcd-3.5"
if [ -x "$ETCD35/usr/bin/etcd" ] && [ -x "$ETCD35/usr/bin/etcdctl" ] && [ -x "$ETCD35/usr/bin/etcdutl" ]; then
  echo "install-deps: etcd 3.5 already present in $ETCD35"
else
  APTDIR="$ROOT/.tools/apt"
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/debs"
  echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main' \
    > "$APTDIR/sources.list"
  apt_opts=(
    -o "Dir::Etc::SourceList=$APTDIR/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$APTDIR/lists"
    -o "Dir::Cache=$APTDIR/cache"
    -o "APT::Sandbox::User=root"
  )
  echo "install-deps: fetching etcd 3.5 from Debian unstable (private apt config)"
  apt-get "${apt_opts[@]}" update
  # `apt-get download` writes into the current directory.
  rm -f "$APTDIR/debs/"*.deb
  (cd "$APTDIR/debs" && apt-get "${apt_opts[@]}" download etcd-server etcd-client)
  rm -rf "$ETCD35.tmp"
  mkdir -p "$ETCD35.tmp"
  for deb in "$APTDIR/debs/"*.deb; do
    dpkg-deb -x "$deb" "$ETCD35.tmp"
  done
  # Replace atomically-ish so a half-extracted tree is never taken as "present".
  rm -rf "$ETCD35"
  mv "$ETCD35.tmp" "$ETCD35"
  for b in etcd etcdctl etcdutl; do
    if [ ! -x "$ETCD35/usr/bin/$b" ]; then
      echo "install-deps: $ETCD35/usr/bin/$b missing after extraction" >&2
      exit 1
    fi
  done
fi

echo "install-deps: etcd 3.4: $(/usr/bin/etcd --version 2>/dev/null | head -1)"
echo "install-deps: etcd 3.5: $("$ETCD35/usr/bin/etcd" --version 2>/dev/null | head -1)"
