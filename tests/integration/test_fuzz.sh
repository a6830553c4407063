#!/usr/bin/env bash
# The libFuzzer targets (tests/fuzz: JSON-lines scanner, text path from UTF-8 repair to BPE,
# .tiktoken and tokenizer.json loaders, option and size parsing, the saved plan; and any other
# fuzz_*.c), built with clang + ASan + UBSan: every seed and regression input replays cleanly,
# then each target fuzzes for TOKFS_FUZZ_SECONDS (default 6) — a short but real run. The full
# form: bash tests/fuzz/run.sh --seconds 3600.
set -euo pipefail
exec bash "$TOKFS_SOURCE_DIR/tests/fuzz/run.sh" --seconds "${TOKFS_FUZZ_SECONDS:-6}" \
    --build "$TOKFS_BUILD_DIR/fuzz"
