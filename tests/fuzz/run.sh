#!/usr/bin/env bash
# tests/fuzz/run.sh — build the libFuzzer targets with clang (ASan + UBSan) and run each one.
#
#   bash tests/fuzz/run.sh [--seconds N] [--build DIR] [TARGET...]
#
# Each target (tests/fuzz/fuzz_NAME.c) first replays its checked-in seeds (corpus/NAME/) and
# regression inputs (regressions/NAME/: every crash found becomes one), then fuzzes for N seconds
# (default 60) with a working corpus kept in the build dir. A crash leaves its input in
# BUILD/fuzz-artifacts/ and fails the run: add it to regressions/NAME/ once fixed.
# The full form is a long run per target, e.g. --seconds 3600; CI runs a short but real one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
seconds=60
build=${TOKFS_BUILD_DIR:-$src/build}/fuzz
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown flag $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
command -v clang >/dev/null || { echo "run.sh: clang is missing: bash mount-scripts/install-deps.sh" >&2; exit 1; }
CC=clang cmake -S "$src" -B "$build" -DTOKFS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$here"/fuzz_*.c; do n=$(basename "$f" .c); targets+=("${n#fuzz_}"); done
fi
mkdir -p "$build/fuzz-artifacts"
status=0
for t in "${targets[@]}"; do
  bin=$build/fuzz_$t
  seeds=$here/corpus/$t
  work=$build/fuzz-corpus/$t
  mkdir -p "$work" "$seeds"
  inputs=("$seeds")
  [ -d "$here/regressions/$t" ] && inputs+=("$here/regressions/$t")
  echo "fuzz: $t: replaying $(find "${inputs[@]}" -type f | wc -l) seed and regression inputs"
  if ! "$bin" -runs=0 "${inputs[@]}" >"$build/fuzz-$t.log" 2>&1; then
    echo "fuzz: $t: a seed or regression input fails:" >&2; tail -30 "$build/fuzz-$t.log" >&2; status=1; continue
  fi
  echo "fuzz: $t: fuzzing for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
       -artifact_prefix="$build/fuzz-artifacts/$t-" -print_final_stats=1 "$work" "${inputs[@]}" \
       >"$build/fuzz-$t.log" 2>&1; then
    echo "fuzz: $t: FAILED; input saved under $build/fuzz-artifacts/:" >&2
    grep -E "ERROR|SUMMARY|Test unit written" "$build/fuzz-$t.log" | head -10 >&2
    status=1
    continue
  fi
  grep -E "stat::number_of_executed_units" "$build/fuzz-$t.log" | sed "s/^/fuzz: $t: /" || true
done
exit $status
