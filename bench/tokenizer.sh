#!/usr/bin/env bash
# bench/tokenizer.sh — tokenizer throughput: tokfs vs tiktoken (npm) vs Hugging Face tokenizers (npm).
#
# Tokenizes the same text — prose and source code (C, Python, JS) from tests/tokref/make_corpus.js
# --bench, about --mb MB — with each tool, single-threaded and pinned to one CPU (taskset), side
# by side in one run, for gpt2, cl100k_base and o200k_base:
#   tokfs       `tokfs encode FILE >/dev/null`, whole process: load, read, tokenize, print ids
#               (embedded gpt2 / .tiktoken ranks; and the tokenizer.json built from the same ranks)
#   tiktoken    npm tiktoken encode_ordinary, the encode call only (load and UTF-8 decode untimed)
#   HF          npm tokenizers encode(addSpecialTokens false) of the tokenizer.json, encode call only
# Best of --runs for the references, of --tokfs-runs (default 7) for tokfs, whose runs last a
# fraction of a second and are the most exposed to a moment's slowdown of a shared VM. Prints MB/s (MB = 10^6 bytes of UTF-8 input), the ratios tokfs/tiktoken (tokfs
# on the .tiktoken file) and tokfs/HF (tokfs on the same tokenizer.json), and whether the ids are
# identical. Then times each 1 MB single-piece file (1e6 'x', a 1 MB base64 blob, 100k spaces,
# 1 MB of random letters, 1 MB of CJK) once per tool, with --piece-timeout seconds per run (tiktoken
# npm is quadratic on long pieces and aborts on about 1e6 letters). Output is markdown for
# docs/benchmarks.md (--out FILE also writes it there). Temp files under the build dir. Takes about
# 5 minutes with the defaults (HF is the slow one); run it on an otherwise idle machine.
# Then --rounds rounds (default 5) of tokfs (best of 3) and one tiktoken encode back to back per
# tokenizer, and the median of the rounds' ratios: the ratio least moved by a busy host.
# --no-pin: do not pin to CPU 0 (taskset); --no-pieces: skip the single-piece table.
#
#   bash bench/tokenizer.sh [--build DIR] [--mb 24] [--runs 3] [--tokfs-runs 7] [--rounds 5]
#                           [--piece-timeout 20] [--out FILE] [--no-pieces] [--no-pin]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build mb=24 runs=3 tokfs_runs=7 rounds=5 piece_timeout=20 out="" pieces=1 pinning=1
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --mb) mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --tokfs-runs) tokfs_runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --piece-timeout) piece_timeout=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-pieces) pieces=0; shift ;;
    --no-pin) pinning=0; shift ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tokenizer.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
tokfs=$build/tokfs
[ -x "$tokfs" ] || { echo "tokenizer.sh: no $tokfs: build first (cmake -S . -B build && cmake --build build)" >&2; exit 1; }
export TOKFS_SOURCE_DIR=$here TOKFS_BUILD_DIR=$build
# shellcheck disable=SC1091  # tests/lib/tokref.sh
source "$here/tests/lib/tokref.sh"
tokref_install "$TOKFS_BUILD_DIR/tokref"
work=$(mktemp -d "$build/bench-tokenizer.XXXXXX")
trap 'rm -rf "$work"' EXIT
# One thread, one CPU, for every tool.
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
pin=()
[ "$pinning" = 1 ] && command -v taskset >/dev/null && pin=(taskset -c 0)

log() { echo "[$(date +%T)] $*" >&2; }
log "making the text (--mb $mb) and tokenizer files in $work"
node "$TOKREF/make_corpus.js" "$work/text" --bench --mb "$mb" 2>/dev/null
node "$TOKREF/export_tiktoken.js" "$work/tok" 2>/dev/null
node "$TOKREF/make_tokenizer_json.js" "$work/tok" 2>/dev/null
text=$work/text/bench.txt
bytes=$(stat -c %s "$text")

# tokfs_time FILE IDS_OUT [OPTS]: best wall seconds of `tokfs encode` over $tokfs_runs runs.
tokfs_time() {
    local f=$1 ids=$2 opts=${3:-} best="" t0 s i
    local -a args=()
    [ -n "$opts" ] && args=(-o "$opts")
    for ((i = 0; i < tokfs_runs; i++)); do
        t0=$(date +%s%N)
        "${pin[@]}" "$tokfs" encode "${args[@]}" "$f" >"$ids"
        s=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
        if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; fi
    done
    echo "$best"
}
# ref_time KIND ARG FILE IDS_OUT RUNS [TIMEOUT]: seconds of the encode call, or "timeout"/"error".
ref_time() {
    local kind=$1 arg=$2 f=$3 ids=$4 n=$5 to=${6:-0} res rc=0
    if [ "$to" != 0 ]; then
        res=$(timeout "$to" "${pin[@]}" node "$TOKREF/bench_encode.js" "--$kind" "$arg" --runs "$n" --ids "$ids" "$f" 2>"$work/ref.err") || rc=$?
    else
        res=$("${pin[@]}" node "$TOKREF/bench_encode.js" "--$kind" "$arg" --runs "$n" --ids "$ids" "$f" 2>"$work/ref.err") || rc=$?
    fi
    if [ "$rc" = 124 ]; then echo "timeout"; return; fi
    if [ "$rc" != 0 ]; then echo "error"; grep -m1 -o 'RuntimeError[^"]*\|Error: [^"]*' "$work/ref.err" >&2 || true; return; fi
    node -e 'console.log(JSON.parse(process.argv[1]).seconds.toFixed(4))' "$res"
}
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s ~ /^[0-9.]+$/ && s > 0) printf "%.1f", b / 1e6 / s; else printf "—" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.1f×", a / b; else printf "—" }'; }
pkgver() { node -p 'JSON.parse(require("fs").readFileSync(process.argv[1] + "/package.json")).version' "$NODE_PATH/$1"; }
same() { if cmp -s "$1" "$2"; then echo yes; else echo "**NO**"; fi; }

declare -A tt_opts=([gpt2]="" [cl100k_base]="tokenizer=$work/tok/cl100k_base.tiktoken" [o200k_base]="tokenizer=$work/tok/o200k_base.tiktoken")
declare -A hf_json=([gpt2]=$work/tok/hf-gpt2-strings/tokenizer.json [cl100k_base]=$work/tok/hf-cl100k/tokenizer.json [o200k_base]=$work/tok/hf-o200k/tokenizer.json)
encodings=(gpt2 cl100k_base o200k_base)

report=$work/report.md
{
    echo "### Throughput, one thread (bench/tokenizer.sh --mb $mb --runs $runs)"
    echo
    echo "Text: \`make_corpus.js --bench\`, $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB of English prose and C/Python/JS code. MB/s = 10^6 input bytes per second; best of $runs (tokfs: of $tokfs_runs)."
    echo "tokfs: whole \`tokfs encode FILE\` process (load, read, tokenize, print); tiktoken and HF: the encode call alone. ${pin[*]:+All pinned to one CPU (${pin[*]}).}"
    echo
    echo "| tokenizer | tokfs (embedded / .tiktoken) | tokfs (tokenizer.json) | tiktoken npm | HF tokenizers npm | tokfs / tiktoken | tokfs / HF | ids identical | tokfs load: .tiktoken / .json |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"
} >"$report"
for e in "${encodings[@]}"; do
    log "throughput: $e"
    t_tt=$(tokfs_time "$text" "$work/tokfs-$e.ids" "${tt_opts[$e]}")
    t_tj=$(tokfs_time "$text" "$work/tokfsjson-$e.ids" "tokenizer=${hf_json[$e]}")
    t_tik=$(ref_time tiktoken "$e" "$text" "$work/tik-$e.ids" "$runs")
    t_hf=$(ref_time hf "${hf_json[$e]}" "$text" "$work/hf-$e.ids" "$runs")
    ok="tiktoken $(same "$work/tik-$e.ids" "$work/tokfs-$e.ids"), HF $(same "$work/hf-$e.ids" "$work/tokfsjson-$e.ids")"
    label=$e
    [ "$e" = gpt2 ] && label="gpt2 (embedded)"
    l_tt=$(tokfs_time /dev/null "$work/empty.ids" "${tt_opts[$e]}")
    l_tj=$(tokfs_time /dev/null "$work/empty.ids" "tokenizer=${hf_json[$e]}")
    echo "| $label | $(mbps "$bytes" "$t_tt") MB/s | $(mbps "$bytes" "$t_tj") MB/s | $(mbps "$bytes" "$t_tik") MB/s | $(mbps "$bytes" "$t_hf") MB/s | $(ratio "$t_tik" "$t_tt") | $(ratio "$t_hf" "$t_tj") | $ok | $l_tt s / $l_tj s |" >>"$report"
done
echo >>"$report"
echo "tokfs load = the whole \`tokfs encode -o ... /dev/null\` (start-up, tokenizer load, nothing to encode); it is inside the tokfs MB/s." >>"$report"

# The ratio again in --rounds rounds, tokfs (best of 3) and tiktoken (one encode) back to back per
# tokenizer: both sides of each ratio see the same minute of a shared machine; the median counts.
if [ "$rounds" -gt 0 ]; then
    {
        echo
        echo "### tokfs / tiktoken in $rounds rounds (each: tokfs best of 3, then one tiktoken encode, back to back)"
        echo
        echo "| round | $(printf '%s | ' "${encodings[@]}")"
        echo "| --- |$(printf ' ---: |%.0s' "${encodings[@]}")"
    } >>"$report"
    declare -A round_ratios=()
    saved_tokfs_runs=$tokfs_runs
    tokfs_runs=3
    for ((r = 1; r <= rounds; r++)); do
        log "rounds: $r of $rounds"
        row="| $r |"
        for e in "${encodings[@]}"; do
            t_tt=$(tokfs_time "$text" "$work/r-tokfs.ids" "${tt_opts[$e]}")
            t_tik=$(ref_time tiktoken "$e" "$text" "$work/r-tik.ids" 1)
            x=$(awk -v a="$t_tik" -v b="$t_tt" 'BEGIN { if (a ~ /^[0-9.]+$/ && b > 0) printf "%.1f", a / b; else printf "0" }')
            round_ratios[$e]="${round_ratios[$e]:-} $x"
            row="$row ${x}× |"
        done
        echo "$row" >>"$report"
    done
    tokfs_runs=$saved_tokfs_runs
    row="| **median** |"
    for e in "${encodings[@]}"; do
        row="$row **$(echo "${round_ratios[$e]}" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')×** |"
    done
    echo "$row" >>"$report"
fi

if [ "$pieces" = 1 ]; then
    {
        echo
        echo "### 1 MB single pieces (seconds per file, one run each; timeout $piece_timeout s)"
        echo
        echo "| file | tokenizer | tokfs | tiktoken npm | HF tokenizers npm | ids identical |"
        echo "| --- | --- | ---: | ---: | ---: | --- |"
    } >>"$report"
    saved_runs=$runs saved_tokfs_runs=$tokfs_runs
    runs=1 tokfs_runs=1
    for f in "$work"/text/big_*.txt; do
        base=$(basename "$f")
        for e in "${encodings[@]}"; do
            log "piece: $base $e"
            t_tt=$(tokfs_time "$f" "$work/p-tokfs.ids" "${tt_opts[$e]}")
            t_tik=$(ref_time tiktoken "$e" "$f" "$work/p-tik.ids" 1 "$piece_timeout")
            t_hf=$(ref_time hf "${hf_json[$e]}" "$f" "$work/p-hf.ids" 1 "$piece_timeout")
            ok=""
            [[ $t_tik =~ ^[0-9] ]] && ok="tiktoken $(same "$work/p-tik.ids" "$work/p-tokfs.ids")"
            [[ $t_hf =~ ^[0-9] ]] && ok="${ok:+$ok, }HF $(same "$work/p-hf.ids" "$work/p-tokfs.ids")"
            fmt() { case $1 in timeout) echo "> $piece_timeout s" ;; error) echo "aborts" ;; *) echo "$1 s" ;; esac; }
            echo "| $base ($(stat -c %s "$f") B) | $e | $(fmt "$t_tt") | $(fmt "$t_tik") | $(fmt "$t_hf") | ${ok:-—} |" >>"$report"
            rm -f "$work"/p-*.ids
        done
    done
    runs=$saved_runs tokfs_runs=$saved_tokfs_runs
fi
{
    echo
    echo "$(date +%F), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), node $(node --version), tiktoken $(pkgver tiktoken), tokenizers $(pkgver tokenizers), tokfs $(cd "$here" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$here" && git diff --quiet HEAD 2>/dev/null || echo ' (+ working tree)')."
} >>"$report"
cat "$report"
[ -n "$out" ] && cp "$report" "$out"
exit 0
