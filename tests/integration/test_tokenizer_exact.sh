#!/usr/bin/env bash
# Exactness of `tokfs encode` against the reference tokenizers, run in this test: npm tiktoken
# (encode_ordinary) for gpt2 (embedded default, and gpt2.tiktoken with pattern=gpt2),
# cl100k_base.tiktoken and o200k_base.tiktoken (pattern from the file name), and npm Hugging Face
# tokenizers (encode, no special tokens) for tokenizer.json files built from the same ranks: GPT-2
# ByteLevel with merges as "a b" strings and as ["a","b"] pairs, and a cl100k
# Split(Regex, Isolated)+ByteLevel one with ignore_merges. The corpus (tests/tokref/make_corpus.js,
# about 14 MB) covers prose, code, CJK, other scripts, emoji/ZWJ, combining marks, whitespace
# runs and odd spaces, CR/LF, digits, contractions in every case, letters of Unicode 14..17,
# literal special-token text, invalid UTF-8, and 1 MB single pieces.
#
# References, corpus and tokenizer files are made once and cached in the build dir
# (tests/lib/tokref.sh, keyed by a hash of the scripts); tokfs runs on every file each time. A
# mismatch prints the file, the first differing index, ids with their text on both sides and the
# text there (tests/tokref/diff_ids.js). TOKREF_MB changes the corpus size (default 10).
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
source "$TOKFS_SOURCE_DIR/tests/lib/tokref.sh"

mkdir -p "$TOKFS_BUILD_DIR"
tk_setup "$TOKFS_BUILD_DIR" tmp-tokenizer-exact

tokref_install "$TOKFS_BUILD_DIR/tokref"
tokref_data
corpus=$TOKREF_DATA/corpus
tok=$TOKREF_DATA/tok
ref=$TOKREF_DATA/ref
case "$tok" in *,*) tk_fail "the build dir path contains a comma, which -o tokenizer=PATH cannot carry: $tok" ;; esac

tk_log "tokfs encode works at all (stdin, default gpt2)"
got=$(printf 'Hello world' | "$TOKFS" encode 2>"$TK_TMP/sanity.err") ||
    tk_fail "'tokfs encode' failed (exit $?): $(head -c 500 "$TK_TMP/sanity.err")"
[ "$got" = "15496 995" ] || tk_fail "'Hello world' | tokfs encode printed '$got', expected '15496 995'"

# label | tokfs -o options ("" = none) | reference set | diff_ids.js vocabulary
combos=(
    "gpt2 (default)||tik-gpt2|--tiktoken gpt2"
    "gpt2.tiktoken pattern=gpt2|tokenizer=$tok/gpt2.tiktoken,pattern=gpt2|tik-gpt2|--tiktoken gpt2"
    "cl100k_base.tiktoken|tokenizer=$tok/cl100k_base.tiktoken|tik-cl100k_base|--tiktoken cl100k_base"
    "o200k_base.tiktoken|tokenizer=$tok/o200k_base.tiktoken|tik-o200k_base|--tiktoken o200k_base"
    "tokenizer.json gpt2, merges \"a b\"|tokenizer=$tok/hf-gpt2-strings/tokenizer.json|hf-gpt2-strings|--hf $tok/hf-gpt2-strings/tokenizer.json"
    "tokenizer.json gpt2, merges [a,b]|tokenizer=$tok/hf-gpt2-pairs/tokenizer.json|hf-gpt2-pairs|--hf $tok/hf-gpt2-pairs/tokenizer.json"
    "tokenizer.json cl100k Split+ByteLevel|tokenizer=$tok/hf-cl100k/tokenizer.json|hf-cl100k|--hf $tok/hf-cl100k/tokenizer.json"
)

files=("$corpus"/*)
corpus_bytes=$(cat "${files[@]}" | wc -c)
failed=()
for combo in "${combos[@]}"; do
    IFS='|' read -r label opts set vocab <<<"$combo"
    args=()
    [ -n "$opts" ] && args=(-o "$opts")
    out=$TK_TMP/got/$set
    mkdir -p "$out"
    bad=0 shown=0 start=$(date +%s%N)
    for f in "${files[@]}"; do
        base=$(basename "$f")
        if ! "$TOKFS" encode "${args[@]}" "$f" >"$out/$base.ids" 2>"$out/$base.err"; then
            echo "FAIL [$label] $base: tokfs encode exited with an error: $(head -c 300 "$out/$base.err")" >&2
            bad=$((bad + 1))
            continue
        fi
        if ! cmp -s "$ref/$set/$base.ids" "$out/$base.ids"; then
            bad=$((bad + 1))
            if [ "$shown" -lt 2 ]; then
                shown=$((shown + 1))
                echo "FAIL [$label] $base differs from the reference ($set):" >&2
                # shellcheck disable=SC2086  # $vocab is two words
                node "$TOKREF/diff_ids.js" $vocab "$ref/$set/$base.ids" "$out/$base.ids" "$f" >&2 ||
                    true
                if cmp -s <(tr -s ' \n' '\n' <"$ref/$set/$base.ids") <(tr -s ' \n' '\n' <"$out/$base.ids"); then
                    echo "  (same ids; the output format differs: decimal ids, single spaces, one newline)" >&2
                fi
            fi
        fi
    done
    ms=$((($(date +%s%N) - start) / 1000000))
    if [ "$bad" -eq 0 ]; then
        tk_log "ok   [$label] ${#files[@]} files identical to $set ($((corpus_bytes / 1000)) kB in $ms ms, one process per file)"
    else
        tk_log "FAIL [$label] $bad of ${#files[@]} files differ from $set"
        failed+=("$label ($bad files)")
    fi
done

[ "${#failed[@]}" -eq 0 ] || tk_fail "tokfs encode differs from the references: ${failed[*]}"
tk_log "all ${#combos[@]} tokenizer configurations give the reference ids on every corpus file"
