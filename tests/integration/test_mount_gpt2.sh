#!/usr/bin/env bash
# The default tokenizer (gpt2, embedded) end to end: nginx serves a JSONL corpus with Unicode,
# literal <|endoftext|> text, raw invalid UTF-8 and lone-surrogate escapes inside strings; the
# mount's shards, read with numpy memmap, must equal npm tiktoken's encode_ordinary of every
# document (as Python decodes it, errors='replace') followed by 50256. Documents are tokenized on
# workers=2 threads — three of them longer than a tokenizing batch (corpus.py --big), which
# tokfs cuts to encode their parts on both threads; the same corpus with workers=1 gives the
# same bytes. The tokenizer.json the mount root serves for gpt2 (generated from the ranks) gives
# the same ids in npm Hugging Face tokenizers. Also a cl100k .tiktoken file, whose ids need uint32.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
source "$TOKFS_SOURCE_DIR/tests/lib/tokref.sh"
tk_setup
tokref_install
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 5 --docs-per-file 600 --bad --big
node "$TOKREF/encode_docs.js" gpt2 "$corpus/expected_docs.json" "$corpus/expected_gpt2.u16"
nginx_start "$corpus"
mnt=$TK_TMP/mnt

tk_log "mount with the default tokenizer (gpt2), workers=2"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/cache,shard_size=20000,workers=2"
"$PY" - "$mnt" <<'PY'
import json, os, sys
m = json.load(open(os.path.join(sys.argv[1], "dataset_metadata.json")))
assert m["tokenizer"] == "gpt2" and m["vocab_size"] == 50257 and m["eot_id"] == 50256, m
assert m["dtype"] == "uint16" and m["tokenizer_kind"] == "tiktoken", m
PY
[ "$(ls "$mnt/train" | wc -l)" -ge 3 ] || tk_fail "expected several train shards"
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected_gpt2.u16"
[ "$(tk_status "$mnt" records_skipped)" -eq "$(cat "$corpus/expected_skipped")" ] || tk_fail "records_skipped differs"
cat "$mnt"/train/*.bin "$mnt"/val/*.bin | sha256sum > "$TK_TMP/two_workers.sum"
tk_log "the mount root's tokenizer.json (generated from the ranks) gives tiktoken's ids in HF tokenizers"
cp "$mnt/tokenizer.json" "$TK_TMP/served-gpt2.json" || tk_fail "no tokenizer.json at the mount root"
node "$TOKREF/encode_docs_hf.js" "$TK_TMP/served-gpt2.json" 50256 "$corpus/expected_docs.json" "$TK_TMP/served_gpt2.u16" ||
    tk_fail "npm tokenizers could not use the served tokenizer.json"
cmp "$TK_TMP/served_gpt2.u16" "$corpus/expected_gpt2.u16" ||
    tk_fail "the served tokenizer.json gives other ids than tiktoken"
tk_umount "$mnt"

tk_log "workers=1 gives the same bytes"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/cache1,shard_size=20000,workers=1" one
# makes every shard first: those inside a --big document hold no token and are then not listed
"$PY" "$CORPUS_PY" verify "$mnt" "$corpus/expected_gpt2.u16"
cat "$mnt"/train/*.bin "$mnt"/val/*.bin | sha256sum > "$TK_TMP/one_worker.sum"
cmp "$TK_TMP/one_worker.sum" "$TK_TMP/two_workers.sum" || tk_fail "workers=1 and workers=2 differ"
tk_umount "$mnt"

tk_log "cl100k_base from a .tiktoken file: uint32 ids"
node "$TOKREF/export_tiktoken.js" "$TK_TMP/ranks" >/dev/null
node "$TOKREF/encode_docs.js" cl100k_base "$corpus/expected_docs.json" "$corpus/expected_cl100k.u32"
tk_mount "@$NGINX_URL/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/cache2,shard_size=20000,tokenizer=$TK_TMP/ranks/cl100k_base.tiktoken" cl100k
"$PY" - "$mnt" "$corpus/expected_cl100k.u32" <<'PY'
import glob, json, os, sys
import numpy as np
mnt, expected = sys.argv[1], np.fromfile(sys.argv[2], dtype=np.uint32)
m = json.load(open(os.path.join(mnt, "dataset_metadata.json")))
assert m["dtype"] == "uint32" and m["eot_id"] == 100257 and m["vocab_size"] == 100277, m
# a shard inside one long record holds no token: hidden once made (stat says ENOENT), never
# shown with size 0 (docs/parquet-filter.md)
parts = []
for split in ("train", "val"):
    for p in sorted(glob.glob(os.path.join(mnt, split, "shard_*.bin"))):
        try:
            size = os.path.getsize(p)
        except FileNotFoundError:
            continue
        assert size > 0, p + ": a shard of size 0"
        parts.append(np.memmap(p, dtype=np.uint32, mode="r"))
got = np.concatenate(parts)
assert got.shape == expected.shape and np.array_equal(got, expected), \
    "cl100k mount differs from tiktoken (%d vs %d ids)" % (len(got), len(expected))
PY
tk_umount "$mnt"
tk_log "ok"
