#!/usr/bin/env bash
# Fails when the committed dist/ differs from a fresh bundle. Run right after `npm run bundle`
# (CI: npm ci && npm run bundle && bash scripts/check-dist.sh). The actions run dist/*.js straight
# from the repository, so a stale or missing bundle would ship code that is not the reviewed source.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "check-dist: not a git work tree; cannot compare dist/" >&2
  exit 2
fi

# A bundle that git ignores would never be committed, and never compared either.
ignored="$(git ls-files --others --ignored --exclude-standard -- dist)"
if [ -n "$ignored" ]; then
  echo "check-dist: these bundles are ignored by git (.gitignore), so they cannot be committed:" >&2
  printf '%s\n' "$ignored" | sed 's/^/  /' >&2
  exit 1
fi

# New, deleted and modified files (untracked ones included), and content differences of tracked ones.
changed="$(git status --porcelain --untracked-files=all -- dist)"
if [ -n "$changed" ] || ! git diff --quiet -- dist; then
  {
    echo "check-dist: dist/ does not match a fresh bundle of the sources."
    echo "Run 'npm run bundle' and commit dist/. Files that differ:"
    if [ -n "$changed" ]; then
      printf '%s\n' "$changed" | sed 's/^/  /'
    else
      git diff --name-only -- dist | sed 's/^/  /'
    fi
    echo
    git diff --stat -- dist || true
  } >&2
  exit 1
fi

echo "check-dist: dist/ matches the fresh bundle."
