#!/usr/bin/env bash
# npm_install.sh SRC_DIR DEST_DIR: install the npm packages pinned by SRC_DIR/package.json and
# SRC_DIR/package-lock.json into DEST_DIR/node_modules with `npm ci` (exact versions from the lock).
# An existing install made from the same package.json and lock is reused (no network).
# Prints DEST_DIR on success. Needs node and npm (mount-scripts/install-deps.sh installs them).
set -euo pipefail
src=${1:?usage: npm_install.sh SRC_DIR DEST_DIR}
dest=${2:?usage: npm_install.sh SRC_DIR DEST_DIR}
mkdir -p "$dest"
if [ -d "$dest/node_modules" ] && cmp -s "$src/package.json" "$dest/package.json" &&
   cmp -s "$src/package-lock.json" "$dest/package-lock.json" && [ -e "$dest/.npm-ci-done" ]; then
  echo "$dest"
  exit 0
fi
rm -f "$dest/.npm-ci-done"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
# A lock per destination: two tests installing into the same dir at once must not interleave.
(
  flock 9
  npm ci --prefix "$dest" --no-audit --no-fund --loglevel=error >&2
  touch "$dest/.npm-ci-done"
) 9>"$dest/.npm-install.lock"
echo "$dest"
