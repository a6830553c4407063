#!/usr/bin/env bash
# bench/shard_threads.sh — how much faster one shard is made with more tokenizer threads.
#
# Builds a JSONL corpus of prose and code (about --mb MB, from text files every Debian machine
# has: licenses, C headers, Python's standard library; documents from 1 KB to several MB), then
#  1. the tokenizing alone: build/tokpool_bench (bench/tokpool_bench.c) feeds the documents,
#     decoded in memory beforehand, through core/tokpool.c on 1 and N threads (runs
#     interleaved, best of --runs, ids checked equal);
#  2. the whole shard: mounts the corpus as ONE shard (shard_size larger than the corpus, a
#     local file source, so no network) and times the first read of that shard — read, JSON
#     decode, tokenize, write — with workers=1 and workers=N, --runs times each on a fresh cache,
#     the best time counting.
# N defaults to nproc. Prints markdown tables with MB/s and the speed-ups. Cleans up (unmounts
# in a trap, temp dir under the build dir). Run it on an otherwise idle machine.
#
#   bash bench/shard_threads.sh [--build DIR] [--tokenizer gpt2] [--mb 40] [--runs 5] [--workers N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build tokenizer=gpt2 mb=40 runs=5 workers=$(nproc)
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --tokenizer) tokenizer=$2; shift 2 ;;
    --mb) mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "shard_threads.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
tokfs=$build/tokfs
[ -x "$tokfs" ] || { echo "shard_threads.sh: no $tokfs: build first (cmake -S . -B build && cmake --build build)" >&2; exit 1; }
work=$(mktemp -d "$build/bench-threads.XXXXXX")
mnt=$work/mnt
cleanup() { mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt"; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$mnt"

/usr/bin/python3 - "$work/corpus.jsonl" "$mb" <<'PY'
import glob, json, sys
out, mb = sys.argv[1], int(sys.argv[2])
files = sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/include/**/*.h", recursive=True)) \
      + sorted(glob.glob("/usr/lib/python3*/**/*.py", recursive=True))
total, docs = 0, 0
with open(out, "w") as f:
    while total < mb * 1000000:
        for p in files:
            try:
                text = open(p, "rb").read().decode("utf-8", "replace")
            except OSError:
                continue
            if not text:
                continue
            line = json.dumps({"text": text}, ensure_ascii=False) + "\n"
            f.write(line)
            total += len(line.encode())
            docs += 1
            if total >= mb * 1000000:
                break
print("corpus: %.1f MB, %d documents" % (total / 1e6, docs), file=sys.stderr)
PY
size=$(stat -c %s "$work/corpus.jsonl")

echo
echo "Tokenizing alone (bench/tokpool_bench.c, core/tokpool.c):"
echo
"$build/tokpool_bench" --tokenizer "$tokenizer" --runs "$runs" --threads "1,$workers" "$work/corpus.jsonl"
echo
echo "The whole shard through the mount:"

time_one() { # workers -> seconds for the first read of the only shard
  local w=$1 best=""
  for _ in $(seq "$runs"); do
    rm -rf "$work/cache"
    "$tokfs" "$work/corpus.jsonl" "$mnt" -o "cache_size=4G,cache_dir=$work/cache,tokenizer=$tokenizer,shard_size=1000M,val_shards=0,prefetch=0,workers=$w"
    local s e t
    s=$(date +%s.%N)
    cat "$mnt/train/shard_00000.bin" > /dev/null
    e=$(date +%s.%N)
    fusermount3 -u "$mnt"
    t=$(echo "$e - $s" | bc)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
  done
  echo "$best"
}

t1=$(time_one 1)
tn=$(time_one "$workers")
mbs() { echo "scale=1; $size / 1000000 / $1" | bc; }
echo
echo "| tokenizer=$tokenizer, one shard of $(echo "scale=1; $size/1000000" | bc) MB JSONL | seconds (best of $runs) | MB/s |"
echo "| --- | --- | --- |"
echo "| workers=1 | $t1 | $(mbs "$t1") |"
echo "| workers=$workers | $tn | $(mbs "$tn") |"
echo
echo "speed-up workers=$workers vs 1: $(echo "scale=2; $t1 / $tn" | bc)x  ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
