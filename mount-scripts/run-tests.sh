#!/usr/bin/env bash
# Install dependencies, build with warnings as errors, run every test (unit + integration with
# real nginx, real FUSE mounts, numpy memmap readers). Usage: bash mount-scripts/run-tests.sh
# Env: BUILD_DIR (default build-tests), CTEST_ARGS (extra ctest arguments, e.g. "-R mount").
set -euo pipefail
cd "$(dirname "$0")/.."
bash mount-scripts/install-deps.sh
build=${BUILD_DIR:-build-tests}
cmake -S . -B "$build" -DTOKFS_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
# Integration tests mount FUSE filesystems and start servers: run them one at a time.
ctest --test-dir "$build" --output-on-failure ${CTEST_ARGS:-}
