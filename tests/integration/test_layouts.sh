#!/usr/bin/env bash
# Output layouts (docs/layouts.md): a real nginx serves a generated JSONL corpus; tokfs mounts it
# with each format=, dtype= and doc_sep=, and tests/lib/layouts_check.py reads the mount as each
# layout's consumer does — numpy memmap for raw in both dtypes, an llm.c-style loader (magic,
# version, file size == 1024 + count * size), a Megatron .idx reader written from the layout,
# np.load(mmap_mode='r') — and compares with the expected stream (tokenizer=bytes: each
# document's bytes, built independently by corpus.py), document boundaries included. Sizes are
# checked by stat before any read (stat makes the shard) and after a remount (from the catalog,
# before anything is made again). A cache dir used with one layout never serves it as another.
# The sharded loader of issue 12 (tests/lib/sharded_loader.py: a random shard per batch through
# np.memmap(uint32)) reads a dtype=uint32 mount of three .txt files, every window checked against
# the files' bytes. `tokfs decode --shard` reads each layout (gpt2 mounts, compared with the raw shard's text).
# Refusals: format=megatron and doc_sep=none with special_tokens=match; bad values.
source "$TOKFS_SOURCE_DIR/tests/lib/testlib.sh"
tk_setup
corpus=$TK_TMP/corpus
"$PY" "$CORPUS_PY" make "$corpus" --files 4 --docs-per-file 300
nginx_start "$corpus"
CHECK="$TOKFS_SOURCE_DIR/tests/lib/layouts_check.py"
mnt=$TK_TMP/mnt
cache=$TK_TMP/cache
base="cache_size=64M,cache_dir=$cache,shard_size=30000,tokenizer=bytes"

# check_layout FORMAT DTYPE SEP OPTS: mount with OPTS, check, unmount.
check_layout() {
    local fmt=$1 dtype=$2 sep=$3 opts=$4
    tk_log "format=$fmt dtype=$dtype doc_sep=$sep ($opts)"
    tk_mount "@$NGINX_URL/list.txt" "$mnt" "$base$opts" "$fmt-$dtype-$sep"
    "$PY" "$CHECK" "$mnt" "$corpus/expected.u16" "$fmt" "$dtype" "$sep"
    tk_umount "$mnt"
}

check_layout raw uint16 append ""
check_layout raw uint32 append ",dtype=uint32"
check_layout raw uint16 none ",doc_sep=none"
check_layout llmc uint16 prepend ",format=llmc"
check_layout llmc uint32 prepend ",format=llmc,dtype=uint32"
check_layout llmc uint16 append ",format=llmc,doc_sep=append"
check_layout megatron uint16 append ",format=megatron"
check_layout megatron uint32 none ",format=megatron,dtype=uint32,doc_sep=none"
check_layout megatron uint16 prepend ",format=megatron,doc_sep=prepend"
check_layout npy uint16 append ",format=npy"
check_layout npy uint32 prepend ",format=npy,dtype=uint32,doc_sep=prepend"

tk_log "the sharded loader of issue 12, unmodified: np.memmap(uint32) of a random shard per batch, three .txt files"
mkdir -p "$corpus/txt"
"$PY" - "$corpus/txt" <<'PY'
import os, random, sys
import numpy as np
d = sys.argv[1]
rng = random.Random(7)
words = ["tokfs", "memmap", "shard", "corpus", "the", "of", "and", "river", "history", "news",
         "chapter", "42", "1871", "a", "in", "model", "train"]
expected = []
with open(os.path.join(d, "list.txt"), "w") as lst:
    for name in ("wiki.txt", "books.txt", "news.txt"):
        lines = []
        while sum(len(l) + 1 for l in lines) < 600000:
            lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))))
        data = ("\n".join(lines) + "\n").encode()
        open(os.path.join(d, name), "wb").write(data)
        lst.write(name + "\n")
        expected.append(np.frombuffer(data, dtype=np.uint8).astype("<u4"))
        expected.append(np.array([256], dtype="<u4"))
np.concatenate(expected).tofile(os.path.join(d, "expected.u32"))
PY
tk_mount "@$NGINX_URL/txt/list.txt" "$mnt" "cache_size=64M,cache_dir=$TK_TMP/txtcache,shard_size=100000,tokenizer=bytes,dtype=uint32" loader
"$PY" "$TOKFS_SOURCE_DIR/tests/lib/sharded_loader.py" "$mnt" "$corpus/txt/expected.u32" 60
tk_umount "$mnt"

tk_log "each layout has its own cache identity (one plan dir per layout in one cache_dir)"
ndirs=$(ls -d "$cache"/plan-* | wc -l)
[ "$ndirs" -eq 11 ] || tk_fail "11 layouts made $ndirs plan dirs in $cache"

tk_log "remount (megatron, llmc): sizes come from the catalog before any build, content the same"
for opts in ",format=megatron" ",format=llmc"; do
    tk_mount "@$NGINX_URL/list.txt" "$mnt" "$base$opts" "remount$opts"
    before=$(tk_status "$mnt" materializations)
    gets_before=$(tk_gets)
    ls -l "$mnt/train" "$mnt/val" >/dev/null
    [ "$(tk_status "$mnt" materializations)" -eq "$before" ] || tk_fail "stat after remount ($opts) made shards"
    [ "$(tk_gets)" -eq "$gets_before" ] || tk_fail "stat after remount ($opts) fetched sources"
    case $opts in
    *megatron) "$PY" "$CHECK" "$mnt" "$corpus/expected.u16" megatron uint16 append ;;
    *llmc) "$PY" "$CHECK" "$mnt" "$corpus/expected.u16" llmc uint16 prepend ;;
    esac
    tk_umount "$mnt"
done

tk_log "tokfs decode --shard reads each layout (gpt2): llmc is the raw text rotated by one <|endoftext|>"
gbase="cache_size=64M,cache_dir=$TK_TMP/gcache,shard_size=30000"
declare -A decoded=()
for spec in "raw:" "llmc:,format=llmc,dtype=uint32" "npy:,format=npy" "megatron:,format=megatron"; do
    fmt=${spec%%:*} opts=${spec#*:}
    tk_mount "@$NGINX_URL/list.txt" "$mnt" "$gbase$opts" "gpt2-$fmt"
    ext=.bin; [ "$fmt" = npy ] && ext=.npy
    "$TOKFS" decode --shard -o "${opts#,}" "$mnt/train/shard_00001$ext" >"$TK_TMP/decoded.$fmt" ||
        tk_fail "tokfs decode --shard -o ${opts#,} failed"
    tk_umount "$mnt"
done
"$PY" - "$TK_TMP" <<'PY'
import sys
d = sys.argv[1]
raw, llmc, npy, meg = (open("%s/decoded.%s" % (d, f), "rb").read() for f in ("raw", "llmc", "npy", "megatron"))
eot = b"<|endoftext|>"
assert raw.endswith(eot) and len(raw) > 1000, "raw shard decoded to %d bytes" % len(raw)
assert npy == raw, "the .npy shard decodes to other text than the raw one"
assert meg == raw, "the megatron .bin decodes to other text than the raw one"
assert llmc == eot + raw[:-len(eot)], "the llm.c shard is not the raw text rotated by one end-of-text"
PY
if "$TOKFS" decode --shard -o format=llmc "$corpus/part-000.jsonl" >/dev/null 2>"$TK_TMP/decode.err"; then
    tk_fail "decode --shard -o format=llmc accepted a file without llm.c's header"
fi
grep -q "not an llm.c shard" "$TK_TMP/decode.err" || tk_fail "no clear message: $(cat "$TK_TMP/decode.err")"

tk_log "refused: combinations that cannot be exact, and bad values"
for opts in ",format=megatron,special_tokens=match" ",doc_sep=none,special_tokens=match" \
            ",format=parquet" ",dtype=int16" ",doc_sep=before"; do
    mkdir -p "$mnt"
    if timeout 20 "$TOKFS" "@$NGINX_URL/list.txt" "$mnt" -o "$base$opts" -f >"$TK_TMP/refused.log" 2>&1; then
        tk_fail "tokfs accepted $opts"
    fi
    mountpoint -q "$mnt" && tk_fail "tokfs mounted with $opts"
    case $opts in
    *special_tokens=match) grep -q "needs special_tokens=text" "$TK_TMP/refused.log" ;;
    *format=*) grep -q "bad format=parquet" "$TK_TMP/refused.log" ;;
    *dtype=*) grep -q "bad dtype=int16" "$TK_TMP/refused.log" ;;
    *) grep -q "bad doc_sep=before" "$TK_TMP/refused.log" ;;
    esac || tk_fail "no clear message for $opts: $(cat "$TK_TMP/refused.log")"
done
tk_done
