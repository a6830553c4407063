#!/usr/bin/env bash
# bench/shard_threads.sh — cold materialization through the mount next to the tokenizing alone.
#
# Builds a JSONL corpus of prose and code (about --mb MB, from text files every Debian machine
# has: licenses, C headers, Python's standard library; documents from 1 KB to several MB), then
# in --runs rounds, each timing back to back:
#   - the tokenizing alone on 1 thread: build/tokpool_bench (bench/tokpool_bench.c) feeds the
#     documents, decoded in memory beforehand, through core/tokenize/tokpool.c;
#   - the machine's 2-process ceiling: two such 1-thread runs side by side (CPU 0 and CPU 1);
#   - the mount, workers=1 then workers=N: the corpus mounted as ONE shard (shard_size larger
#     than the corpus), the first read of that shard on a fresh cache — fetch, JSON decode,
#     tokenize, write, fsync — from nginx on loopback (tests/lib/nginx.sh; --local: the file
#     itself as the source, no network).
# Cold MB/s is bytes of source (the JSONL file) per second; the tokenizing alone is quoted on the
# same bytes, so every ratio is of times on the same documents. Prints each round and the
# medians: workers=1 vs the tokenizing alone (issue 13's target: >= 0.8), workers=N vs the
# 2-process ceiling (>= 0.9 for N = 2), workers=N vs workers=1. N defaults to nproc. Cleans up
# (unmounts and stops nginx in a trap, temp dir under the build dir). Timings on a shared
# machine are noisy: compare the medians.
#
#   bash bench/shard_threads.sh [--build DIR] [--tokenizer gpt2] [--mb 40] [--runs 5] [--workers N] [--local]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build tokenizer=gpt2 mb=40 runs=5 workers=$(nproc) local=0
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --tokenizer) tokenizer=$2; shift 2 ;;
    --mb) mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --local) local=1; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "shard_threads.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
tokfs=$build/tokfs
[ -x "$tokfs" ] && [ -x "$build/tokpool_bench" ] || { echo "shard_threads.sh: no $tokfs or tokpool_bench: build first (cmake -S . -B build && cmake --build build --target tokfs tokpool_bench)" >&2; exit 1; }
work=$(mktemp -d "$build/bench-threads.XXXXXX")
mnt=$work/mnt
# shellcheck source=../tests/lib/nginx.sh
source "$here/tests/lib/nginx.sh"
cleanup() { mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt"; nginx_stop; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$mnt" "$work/www"

/usr/bin/python3 - "$work/www/corpus.jsonl" "$mb" <<'PY'
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
corpus=$work/www/corpus.jsonl
size=$(stat -c %s "$corpus")
if [ "$local" = 1 ]; then
  source_url=$corpus
else
  nginx_start "$work/www" >/dev/null
  source_url=$NGINX_URL/corpus.jsonl
fi

pool_secs() { # ARGS... -> seconds of one run of tokpool_bench ARGS
  "$@" | awk -F'|' '/threads=/{gsub(/ /, "", $3); print $3}'
}
read_once() { # workers -> seconds for the first read of the only shard, on a fresh cache
  local w=$1 s e
  rm -rf "$work/cache"
  "$tokfs" "$source_url" "$mnt" -o "cache_size=4G,cache_dir=$work/cache,tokenizer=$tokenizer,shard_size=1000M,val_shards=0,prefetch=0,workers=$w"
  s=$(date +%s.%N)
  cat "$mnt/train/shard_00000.bin" > /dev/null
  e=$(date +%s.%N)
  fusermount3 -u "$mnt"
  echo "$e - $s" | bc
}
mbs() { echo "scale=1; $size / 1000000 / $1" | bc; }
median() { sort -n "$1" | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }

pb=("$build/tokpool_bench" --tokenizer "$tokenizer" --runs 1)
pin=0
command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ] && pin=1
echo
echo "tokenizer=$tokenizer, one shard of $(echo "scale=1; $size/1000000" | bc) MB JSONL from $([ "$local" = 1 ] && echo "a local file" || echo "nginx on loopback"); seconds per run, MB/s of source"
echo
echo "| round | tokenizing alone, 1 thread | 2-process ceiling | mount workers=1 | mount workers=$workers | w=1 / alone | w=$workers / ceiling | w=$workers / w=1 |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for f in alone ceil m1 mn r1 rc rn; do : > "$work/$f"; done
for r in $(seq "$runs"); do
  one=$(pool_secs "${pb[@]}" --threads 1 "$corpus")
  if [ "$pin" = 1 ]; then
    pool_secs taskset -c 0 "${pb[@]}" --threads 1 "$corpus" > "$work/pair0" &
    pair=$!
    p1=$(pool_secs taskset -c 1 "${pb[@]}" --threads 1 "$corpus")
    wait "$pair" # that one only: nginx runs in the background too
    p0=$(cat "$work/pair0")
  else
    p0=$one p1=$one
  fi
  slow=$(echo "if ($p0 > $p1) $p0 else $p1" | bc)
  ceil=$(echo "scale=4; $slow / 2" | bc) # seconds per corpus at the ceiling's rate
  a=$(read_once 1)
  b=$(read_once "$workers")
  r1=$(echo "scale=2; $one / $a" | bc); rc=$(echo "scale=2; $ceil / $b" | bc); rn=$(echo "scale=2; $a / $b" | bc)
  echo "$one" >> "$work/alone"; echo "$ceil" >> "$work/ceil"; echo "$a" >> "$work/m1"; echo "$b" >> "$work/mn"
  echo "$r1" >> "$work/r1"; echo "$rc" >> "$work/rc"; echo "$rn" >> "$work/rn"
  echo "| $r | $one s, $(mbs "$one") | $(mbs "$ceil") | $a s, $(mbs "$a") | $b s, $(mbs "$b") | $r1 | $rc | $rn |"
done
echo "| median | $(mbs "$(median "$work/alone")") MB/s | $(mbs "$(median "$work/ceil")") MB/s | $(mbs "$(median "$work/m1")") MB/s | $(mbs "$(median "$work/mn")") MB/s | $(median "$work/r1") | $(median "$work/rc") | $(median "$work/rn") |"
echo
echo "($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); ratios are medians of the rounds' ratios)"
